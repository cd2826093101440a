"""Delivery policy: the pure decisions about a failed attempt, under the `[delivery]` settings.

What happens after an SMTP answer is decided here, from the error and the row's attempt count alone, so the
rules are testable without a server: accepted -> sent; refused for good (5xx) -> failed, counting toward the
subscriber's bounce limit; temporary (4xx, connection trouble before the data was handed over) -> retry after
an exponential backoff, `max_attempts` times at most, then failed; connection lost while the data was being
handed over -> unknown (may have arrived: recorded, never retried silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.config import DeliverySettings
from digest.errors import DeliveryError
from digest.store.models import DeliveryStatus


@dataclass(frozen=True, slots=True)
class Decision:
    status: DeliveryStatus
    next_attempt_at: datetime | None = None
    bounce: bool = False  # counts toward the subscriber's bounce limit


def decide(exc: DeliveryError, attempts: int, options: DeliverySettings, now: datetime) -> Decision:
    """What the ledger records after attempt number `attempts` (1 = the first) failed with `exc`."""
    if exc.unknown:
        return Decision(DeliveryStatus.UNKNOWN)
    if exc.permanent:
        return Decision(DeliveryStatus.FAILED, bounce=True)
    if attempts >= options.max_attempts:
        return Decision(DeliveryStatus.FAILED)
    wait = timedelta(minutes=options.retry_backoff_minutes * 2 ** max(0, attempts - 1))
    return Decision(DeliveryStatus.RETRY, next_attempt_at=now + wait)


class ErrorBrake:
    """Counts errors in a row; `tripped` says why the run must pause (listmonk's max_send_errors)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.last_error = ""

    def record(self, ok: bool, error: str = "") -> None:
        if ok:
            self.in_a_row = 0
        else:
            self.in_a_row += 1
            self.last_error = error

    @property
    def tripped(self) -> str | None:
        if self.limit <= 0 or self.in_a_row < self.limit:
            return None
        count = f"{self.in_a_row} delivery errors in a row (limit {self.limit})"
        return f"paused after {count}; the last: {self.last_error}"
