"""Delivery policy: the [delivery] settings and the pure decisions about a failed attempt.

What happens after an SMTP answer is decided here, from the error and the row's attempt count alone, so the
rules are testable without a server: accepted -> sent; refused for good (5xx) -> failed, counting toward the
subscriber's bounce limit; temporary (4xx, connection trouble before the data was handed over) -> retry after
an exponential backoff, `max_attempts` times at most, then failed; connection lost while the data was being
handed over -> unknown (may have arrived: recorded, never retried silently).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from digest.errors import DeliveryError
from digest.store.models import DeliveryStatus


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """The proposed [delivery] section; read from `settings.delivery` when the settings have one."""

    concurrency: int = 4  # SMTP connections used at once (PooledTransport)
    rate_per_second: float = 0.0  # messages per second across the connections; 0 = as fast as possible
    max_attempts: int = 5  # temporary failures retried until this many attempts, then `failed`
    retry_backoff_minutes: float = 10.0  # wait before attempt n+1: this x 2^(n-1)
    bounce_limit: int = 1  # permanent refusals before the subscriber is marked bouncing (listmonk: 1)
    max_consecutive_errors: int = 50  # the error brake: the run pauses after this many errors in a row
    lease_seconds: float = 300.0  # a worker silent this long is presumed dead and its batch taken over
    batch_size: int = 1000  # ledger rows claimed (and ranked) at once (listmonk: 1000)

    @classmethod
    def from_settings(cls, settings: Any) -> DeliveryOptions:
        section = getattr(settings, "delivery", None)
        if section is None:
            return cls()
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls) if hasattr(section, f.name)})

    @property
    def window(self) -> int:
        """Messages marked `sending` per ledger transaction. Two windows overlap (worker.send_jobs), so a
        crash can leave at most `in_flight` rows `unknown`."""
        return max(8, 4 * self.concurrency)

    @property
    def in_flight(self) -> int:
        return 2 * self.window

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


@dataclass(frozen=True, slots=True)
class Decision:
    status: DeliveryStatus
    next_attempt_at: datetime | None = None
    bounce: bool = False  # counts toward the subscriber's bounce limit


def decide(exc: DeliveryError, attempts: int, options: DeliveryOptions, now: datetime) -> Decision:
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
