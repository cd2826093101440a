"""The in-memory sliding windows behind the subscribe and preview limits (pure: the clock is given)."""

from __future__ import annotations

import pytest

from digest.web.ratelimit import RateLimited, RateLimiter


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_over_its_limit_is_refused_until_the_window_slides() -> None:
    ticks = Ticks()
    limiter = RateLimiter(clock=ticks)
    for _ in range(3):
        limiter.hit("ip:1", 3, 60)
    with pytest.raises(RateLimited) as refused:
        limiter.hit("ip:1", 3, 60)
    assert refused.value.retry_after == 60
    limiter.hit("ip:2", 3, 60)  # other keys are counted apart
    ticks.now += 30
    with pytest.raises(RateLimited) as refused:
        limiter.hit("ip:1", 3, 60)
    assert refused.value.retry_after == 30
    ticks.now += 30
    limiter.hit("ip:1", 3, 60)


def test_refused_hits_do_not_count_and_old_keys_are_forgotten() -> None:
    ticks = Ticks()
    limiter = RateLimiter(clock=ticks, max_keys=2)
    limiter.hit("a", 1, 60)
    with pytest.raises(RateLimited):
        limiter.hit("a", 1, 60)
    ticks.now += 60
    limiter.hit("a", 1, 60)  # the refused hit did not extend the wait
    limiter.hit("b", 1, 60)
    limiter.hit("c", 1, 60)  # "a" is now the least recently used and is dropped
    limiter.hit("a", 1, 60)
