"""Sliding-window rate limits, in memory, per process: subscribe per IP and per address, preview per IP.

In memory on purpose: the durable, cross-process guard is the database's one-mail-a-day slot per address
(`claim_mail_slot`); these windows only blunt bursts before they reach the database. Several processes
behind one proxy each keep their own windows, which multiplies the limits by the process count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from digest.errors import DigestError

HOUR = 3600.0
MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class WebLimits:
    """Proposed as [web] settings of the same names."""

    subscribe_per_ip_per_hour: int = 10
    subscribe_per_address_per_hour: int = 3
    preview_per_ip_per_minute: int = 30
    max_body_bytes: int = 64 * 1024


class RateLimited(DigestError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("too many requests; please wait a little and try again")
        self.retry_after = max(1, math.ceil(retry_after))


class RateLimiter:
    """Remembers recent hits per key; the least recently used keys are forgotten beyond `max_keys`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # sync routes run in a thread pool

    def hit(self, key: str, limit: int, window: float) -> None:
        """Count one request for `key`; RateLimited when it would be over `limit` within `window`."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            self._hits.move_to_end(key)
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                raise RateLimited(hits[0] + window - now)
            hits.append(now)
            while len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)


def subscribe_limits(limiter: RateLimiter, limits: WebLimits, ip: str, address: str | None) -> None:
    """Per IP first (before any parsing work), then per address once the address is known."""
    if address is None:
        limiter.hit(f"subscribe-ip:{ip}", limits.subscribe_per_ip_per_hour, HOUR)
    else:
        limiter.hit(f"subscribe-address:{address}", limits.subscribe_per_address_per_hour, HOUR)


def preview_limit(limiter: RateLimiter, limits: WebLimits, ip: str) -> None:
    limiter.hit(f"preview-ip:{ip}", limits.preview_per_ip_per_minute, MINUTE)
