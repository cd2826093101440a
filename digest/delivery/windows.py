"""The cadence's part of picking papers: a weekly reader's candidates, and how many papers a digest holds.

A weekly digest is ranked over the papers of the last `[digest] weekly_max_days` days, minus, per reader,
those stored before their previous digest went out: what that digest already covered. The never-twice
ledger still excludes every paper they were sent.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from digest.context import Context
from digest.rank.index import StemCache
from digest.records import Candidate
from digest.schedule.cadence import covers_since
from digest.store.models import Subscriber
from digest.store.papers import candidates_since
from digest.store.windows import first_seen_since, last_sent_at


def digest_size(ctx: Context, subscriber: Subscriber) -> int:
    """The reader's own number of papers, or the `[digest] max_papers` setting."""
    return subscriber.papers or ctx.settings.digest.max_papers


@dataclass
class WeeklyWindow:
    """The papers any weekly digest of one run may hold, loaded once for every batch."""

    candidates: list[Candidate]
    seen: list[tuple[datetime, int]]  # (first stored, paper id), oldest first
    max_days: int
    stems: StemCache = field(default_factory=StemCache)  # its own: the daily candidates' index differs
    _older: dict[int, frozenset[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, ctx: Context, session: Session, now: datetime) -> WeeklyWindow:
        max_days = ctx.settings.digest.weekly_max_days
        since = now - timedelta(days=max_days)
        return cls(candidates_since(session, since), first_seen_since(session, since), max_days)

    def covered(
        self, session: Session, subscribers: Sequence[Subscriber], now: datetime
    ) -> dict[int, frozenset[int]]:
        """subscriber id -> the window's papers their previous digest already covered."""
        last = last_sent_at(session, [s.id for s in subscribers])
        return {s.id: self._before(covers_since(now, last.get(s.id), self.max_days)) for s in subscribers}

    def _before(self, cutoff: datetime) -> frozenset[int]:
        # Readers of one send hour share a few cutoffs' positions: one set per position, not per reader.
        position = bisect.bisect_left(self.seen, (cutoff, -1))
        if position not in self._older:
            self._older[position] = frozenset(paper_id for _, paper_id in self.seen[:position])
        return self._older[position]


def exclusions(
    sent: Mapping[int, Collection[int]], covered: Mapping[int, frozenset[int]], subscriber_id: int
) -> frozenset[int]:
    """What the reader's ranking must leave out: papers sent them, and those an earlier digest covered."""
    already = frozenset(sent[subscriber_id])
    older = covered.get(subscriber_id)
    return already | older if older else already
