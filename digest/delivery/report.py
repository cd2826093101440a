"""What a send run reports: one outcome per digest it dealt with, and why it stopped early if it did."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from digest.records import Ranked, pickled_by_fields


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class DigestPicks:
    """What one subscriber gets on one date."""

    ranked: tuple[Ranked, ...]
    new_count: int
    trending_only: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    email: str
    digest_date: date
    status: str  # sent, retry, failed, unknown, skipped, done, dry-run
    papers: tuple[Ranked, ...] = ()
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "date": self.digest_date.isoformat(),
            "status": self.status,
            "error": self.error,
            "papers": [
                {"paper_id": p.paper_id, "score": round(p.score, 4), "why": p.explanation}
                for p in self.papers
            ],
        }


@dataclass
class SendReport:
    """`keep=False` keeps only the counts: a worker draining 100,000 digests need not hold every outcome."""

    outcomes: list[Outcome] = field(default_factory=list)
    keep: bool = True
    paused: str | None = None  # why the run stopped before the queue was empty (the error brake)
    stages: dict[str, float] = field(default_factory=dict)  # seconds spent per stage, for benchmarks
    _counts: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[stage] = self.stages.get(stage, 0.0) + time.perf_counter() - start

    def add(self, outcome: Outcome) -> None:
        self._counts[outcome.status] += 1
        if self.keep:
            self.outcomes.append(outcome)

    def merge(self, other: SendReport) -> None:
        self._counts.update(other._counts)
        if self.keep:
            self.outcomes.extend(other.outcomes)
        self.paused = self.paused or other.paused
        self.add_stages(other.stages)

    def add_stages(self, stages: dict[str, float]) -> None:
        for stage, seconds in stages.items():
            self.stages[stage] = self.stages.get(stage, 0.0) + seconds

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)
