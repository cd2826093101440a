"""The overview's ledger counts per day, with the older days remembered for a few minutes.

Counting 30 days of a 100,000-subscriber ledger (3 M rows) takes about half a second even on the
(digest_date, status) index, on every overview. Days before yesterday change little (a late retry, a
resend), so they are recounted at most every `ttl` seconds; today and yesterday are counted on every
request. Per process, in memory, like the rate limits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy.orm import Session

from digest.store import dashboard

Counts = dict[date, dict[str, int]]


class DayCounts:
    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()  # sync routes run in a thread pool
        self._older: Counts = {}
        self._span: tuple[date, date] | None = None
        self._counted_at = 0.0

    def counts(self, session: Session, first: date, last: date) -> Counts:
        """Per day in [first, last], status -> count."""
        recent_from = max(first, last - timedelta(days=1))
        span = (first, recent_from)
        with self._lock:
            stale = self._span != span or self._clock() - self._counted_at > self.ttl
        if stale and first < recent_from:
            older = dashboard.deliveries_by_day(session, first, recent_from - timedelta(days=1))
            with self._lock:
                self._older, self._span, self._counted_at = older, span, self._clock()
        with self._lock:
            older = dict(self._older) if self._span == span else {}
        return {**older, **dashboard.deliveries_by_day(session, recent_from, last)}
