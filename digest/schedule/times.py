"""Time maths for the schedule: pure functions of `now`, a time zone, a send hour and a cadence.

A digest belongs to a calendar date in the reader's zone and falls due at their send hour on that date;
the cadence (`digest.schedule.cadence`) says which dates have one (every day, weekdays, one day a week).
Daylight saving: when the hour is skipped (clocks jump forward) the digest goes out at the moment the
clocks jump to; when it is repeated (clocks fall back) it goes out at its first occurrence, and the date
key means the second occurrence finds it done. A date that does not exist in a zone at all (Samoa,
2011-12-30) has no digest.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.schedule.cadence import DAILY, longest_gap_days, missed_limit, sends_on

MINUTES_A_DAY = 24 * 60


@functools.cache
def zone(name: str) -> ZoneInfo:
    """ZoneInfo keeps only 8 zones strongly; a run over subscribers in more zones read the tz file again
    for nearly every one of them. Zone names are a bounded set, so keep them all."""
    return ZoneInfo(name)


def local_digest_date(now: datetime, timezone: str, send_hour: int) -> date | None:
    """The date of the digest due at `now` for someone who reads at `send_hour` in `timezone`.

    None before their hour on their own calendar day: the digest for that day is not due yet.
    """
    today = local_today(now, timezone)
    return today if send_time(today, timezone, send_hour) <= now else None


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(zone(timezone)).date()


def send_time(day: date, timezone: str, send_hour: int) -> datetime:
    """The UTC moment `day`'s digest falls due.

    fold=0 is what we want on both transitions (PEP 495): in a gap it reads the wall time with the offset
    from before the jump, which lands on the moment the clocks jump to (02:00 skipped -> 03:00 new time);
    in a repeated hour it picks the first occurrence.
    """
    local = datetime.combine(day, time(send_hour), tzinfo=zone(timezone))
    return local.astimezone(UTC)


def digest_date_of(due: datetime, timezone: str) -> date:
    """The date a due moment belongs to: the reader's calendar day at that moment."""
    return local_today(due, timezone)


def send_time_from(day: date, timezone: str, send_hour: int, cadence: str = DAILY) -> datetime:
    """The due moment of the first date on or after `day` that exists in the zone and is one of the
    cadence's days (a week, plus a day a zone may skip, is as far as that can be)."""
    for offset in range(9):
        candidate = day + timedelta(days=offset)
        if not sends_on(cadence, candidate):
            continue
        moment = send_time(candidate, timezone, send_hour)
        if digest_date_of(moment, timezone) == candidate:
            return moment
    raise ValueError(f"no send time found in {timezone} after {day}")  # pragma: no cover - no such zone


def next_send_after(after: datetime, timezone: str, send_hour: int, cadence: str = DAILY) -> datetime:
    """The first due moment strictly after `after`."""
    day = local_today(after, timezone) - timedelta(days=1)
    moment = send_time_from(day, timezone, send_hour, cadence)
    while moment <= after:
        following = digest_date_of(moment, timezone) + timedelta(days=1)
        moment = send_time_from(following, timezone, send_hour, cadence)
    return moment


def first_send_at(
    now: datetime, timezone: str, send_hour: int, not_before: date | None = None, cadence: str = DAILY
) -> datetime:
    """When a subscriber who becomes active (or changes hour, zone or cadence) at `now` is next due.

    Their own today's digest, at once if the hour has passed, so a new reader does not wait a day; but
    never a date at or before one they already have (`not_before`), so moving west cannot repeat a day.
    Today only counts when the cadence has a digest today; otherwise their next day that has one.
    """
    day = local_today(now, timezone)
    if not_before is not None and day < not_before:
        day = not_before
    return send_time_from(day, timezone, send_hour, cadence)


def due_dates(
    next_at: datetime, now: datetime, timezone: str, send_hour: int, limit: int, cadence: str = DAILY
) -> list[date]:
    """The dates due between `next_at` (the stored schedule) and `now`, oldest first, at most the last
    `limit` of them: after a long outage the oldest are dropped instead of flooding the reader. A weekly
    reader is owed only the latest (`cadence.missed_limit`): that digest covers the weeks missed."""
    if next_at > now:
        return []
    limit = missed_limit(cadence, limit)
    lookback = timedelta(days=limit * longest_gap_days(cadence) + 1)
    start = max(next_at, now - lookback)  # skip the iteration over a long outage
    moment = send_time_from(digest_date_of(start, timezone), timezone, send_hour, cadence)
    if moment < next_at:
        moment = next_send_after(moment, timezone, send_hour, cadence)
    days: list[date] = []
    while moment <= now:
        days.append(digest_date_of(moment, timezone))
        moment = next_send_after(moment, timezone, send_hour, cadence)
    return days[-limit:]


def fetch_anchor(send_times: Iterable[datetime], lead: timedelta) -> int | None:
    """Minute of the UTC day at which the daily fetch should run: `lead` before the first send of the day.

    The "first send of the day" is the one that follows the longest quiet stretch on the 24-hour clock,
    which works whatever the spread of the readers' zones. None when nobody is due.
    """
    minutes = sorted({(t.astimezone(UTC).hour * 60 + t.astimezone(UTC).minute) for t in send_times})
    if not minutes:
        return None
    gaps = [
        ((minutes[i] - minutes[i - 1]) % MINUTES_A_DAY or MINUTES_A_DAY, minutes[i])
        for i in range(len(minutes))
    ]
    first = max(gaps)[1]
    return int(first - lead.total_seconds() // 60) % MINUTES_A_DAY


def next_fetch_at(last: datetime, interval_hours: float, anchor_minute: int | None = None) -> datetime:
    """A source's next fetch: `interval_hours` after the last, pulled forward to the daily anchor so
    that the day's papers are in before the first reader's hour. The anchor only counts once half an
    interval has passed, so a manual fetch just before it is not repeated minutes later."""
    nominal = last + timedelta(hours=interval_hours)
    if anchor_minute is None:
        return nominal
    earliest = last + timedelta(hours=interval_hours / 2)
    midnight = datetime.combine(earliest.astimezone(UTC).date(), time(0), tzinfo=UTC)
    anchor = midnight + timedelta(minutes=anchor_minute)
    if anchor < earliest:
        anchor += timedelta(days=1)
    return min(nominal, anchor)


def hold_for_papers(now: datetime, overdue_fetches: Iterable[datetime], wait: timedelta) -> bool:
    """Whether to hold digests back a little: a source's fetch is due and has been for less than `wait`.

    Past `wait` the digests go out with the papers already stored; a failing source never holds mail.
    """
    return any(now - due < wait for due in overdue_fetches if due <= now)
