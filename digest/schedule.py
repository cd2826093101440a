"""Time maths for the schedule: pure functions of `now`, a time zone and a send hour."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def local_digest_date(now: datetime, timezone: str, send_hour: int) -> date | None:
    """The date of the digest due at `now` for someone who reads at `send_hour` in `timezone`.

    None before their hour on their own calendar day: the digest for that day is not due yet.
    """
    local = now.astimezone(ZoneInfo(timezone))
    return local.date() if local.hour >= send_hour else None


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def next_fetch_at(last: datetime, interval_hours: float) -> datetime:
    return last + timedelta(hours=interval_hours)
