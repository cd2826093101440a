"""The public page of a day's papers, most trending first, as the Hugging Face papers page shows them: the
page a visitor sees before subscribing, and what `/api/papers` returns.

A day is a UTC date, and its papers are those first stored that day. Building a day ranks its papers
once (`rank.trending`); visitors then filter that list by category and search it, in memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from digest.context import Context
from digest.mail.compose import paper_card
from digest.rank import trending
from digest.rank.terms import stems
from digest.records import DigestItem
from digest.store.db import transaction
from digest.store.models import Paper
from digest.store.papers import (
    first_seen_around,
    newest_first_seen,
    papers_first_seen,
    papers_stamp,
    to_candidate,
)

PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class TrendingPaper:
    card: DigestItem
    arxiv_id: str | None
    score: float  # the trending boost, 0..1
    words: frozenset[str]  # the stems of title and abstract, for the search box


@dataclass(frozen=True, slots=True)
class TrendingDay:
    day: date | None  # None: no paper stored yet
    papers: tuple[TrendingPaper, ...]
    previous: date | None
    next: date | None
    categories: tuple[str, ...]  # of the day's papers, most frequent first

    def matching(self, category: str = "", query: str = "") -> list[TrendingPaper]:
        """The papers in `category` (an archive such as "cs" takes every cs.*) whose title or abstract
        has every word of `query` (stemmed: "robots" finds "robotic")."""
        wanted = set(stems(query))
        folded = category.strip().casefold()
        return [
            paper
            for paper in self.papers
            if wanted <= paper.words
            and (not folded or any(_in_category(c.casefold(), folded) for c in paper.card.categories))
        ]


def _in_category(category: str, wanted: str) -> bool:
    return category == wanted or category.startswith(wanted + ".")


def trending_day(ctx: Context, day: date | None, now: datetime) -> TrendingDay:
    """The papers of `day` (default: the newest day with papers), most trending first."""
    with transaction(ctx.sessions) as session:
        if day is None:
            newest = newest_first_seen(session)
            if newest is None:
                return TrendingDay(None, (), None, None, ())
            day = newest.astimezone(UTC).date()
        start = datetime.combine(day, time(), UTC)
        rows = {row.id: row for row in papers_first_seen(session, start, start + timedelta(days=1))}
        before, after = first_seen_around(session, start, start + timedelta(days=1))
        ranked = trending([to_candidate(row) for row in rows.values()], ctx.rank_settings, now, len(rows))
        papers = tuple(_paper(rows[pick.paper_id], pick.score) for pick in ranked)
    counts = Counter(category for paper in papers for category in paper.card.categories)
    return TrendingDay(
        day, papers, _day(before), _day(after), tuple(sorted(counts, key=lambda c: (-counts[c], c)))
    )


def _paper(row: Paper, score: float) -> TrendingPaper:
    return TrendingPaper(
        paper_card(row), row.arxiv_id, score, frozenset(stems(f"{row.title} {row.abstract}"))
    )


def _day(moment: datetime | None) -> date | None:
    return moment.astimezone(UTC).date() if moment else None


def stamp(ctx: Context) -> tuple[datetime | None, int]:
    """What a built day depends on: rebuild it when this changes."""
    with transaction(ctx.sessions) as session:
        return papers_stamp(session)
