"""The cadences' time maths: which dates are due, in the reader's zone, across a clock change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from digest.schedule.cadence import CADENCES, check_cadence, covers_since, describe, sends_on
from digest.schedule.due import DueClock
from digest.schedule.times import due_dates, first_send_at, next_send_after, send_time_from

NY = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def test_cadences_are_checked_and_spelled_one_way() -> None:
    assert check_cadence(" Weekly:MON ") == "weekly:mon"
    assert CADENCES[:3] == ("daily", "weekdays", "weekly:mon") and len(CADENCES) == 9
    for bad in ("weekly", "weekly:monday", "hourly", ""):
        with pytest.raises(ValueError, match="unknown cadence"):
            check_cadence(bad)
    assert describe("weekly:sun") == "weekly on Sundays" and describe("weekdays") == "on weekdays"


def test_weekdays_skip_the_readers_own_weekend_not_utcs() -> None:
    # 08:00 on Monday 2026-03-02 in Tokyo is 23:00 on Sunday in UTC: still a weekday digest.
    friday_evening = utc(2026, 2, 27, 0)  # 09:00 Friday in Tokyo: Friday's digest has gone
    assert next_send_after(friday_evening, "Asia/Tokyo", 8, "weekdays") == utc(2026, 3, 1, 23)
    assert next_send_after(friday_evening, "Asia/Tokyo", 8, "daily") == utc(2026, 2, 27, 23)
    assert [sends_on("weekdays", date(2026, 2, 27) + timedelta(days=n)) for n in range(4)] == [
        True, False, False, True,
    ]  # fmt: skip


def test_weekly_falls_on_its_day_at_the_local_hour_across_the_spring_change() -> None:
    moment, seen = utc(2026, 2, 25), []
    for _ in range(4):
        moment = next_send_after(moment, NY, 8, "weekly:sun")
        seen.append(moment)
    assert seen == [
        utc(2026, 3, 1, 13),  # 08:00 EST
        utc(2026, 3, 8, 12),  # the day the clocks jump: 08:00 EDT
        utc(2026, 3, 15, 12),
        utc(2026, 3, 22, 12),
    ]
    # A weekly day at an hour the change skips: Sunday 02:00 does not exist, the clocks jump to 03:00.
    assert send_time_from(date(2026, 3, 2), NY, 2, "weekly:sun") == utc(2026, 3, 8, 7)


def test_first_send_is_today_only_when_the_cadence_has_a_digest_today() -> None:
    saturday = utc(2026, 2, 28, 10)
    assert first_send_at(saturday, "UTC", 7) == utc(2026, 2, 28, 7)  # daily: at once
    assert first_send_at(saturday, "UTC", 7, cadence="weekdays") == utc(2026, 3, 2, 7)
    assert first_send_at(saturday, "UTC", 7, cadence="weekly:sat") == utc(2026, 2, 28, 7)
    assert first_send_at(saturday, "UTC", 7, date(2026, 3, 1), "weekly:sat") == utc(2026, 3, 7, 7)


def test_catch_up_owes_a_weekly_reader_only_the_latest_missed_week() -> None:
    stored, now = utc(2026, 2, 2, 7), utc(2026, 3, 4, 12)  # down since Monday 2 February
    assert due_dates(stored, now, "UTC", 7, 3, "weekly:mon") == [date(2026, 3, 2)]
    assert due_dates(stored, now, "UTC", 7, 3, "weekdays") == [
        date(2026, 3, 2),
        date(2026, 3, 3),
        date(2026, 3, 4),
    ]
    assert due_dates(stored, now, "UTC", 7, 3) == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    monday = utc(2026, 3, 2, 7)
    assert due_dates(monday, utc(2026, 3, 6, 12), "UTC", 7, 3, "weekdays") == [
        date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6),
    ]  # fmt: skip
    weekend = utc(2026, 2, 28, 12)  # a weekdays reader is owed nothing on Saturday
    assert due_dates(utc(2026, 2, 28, 7), weekend, "UTC", 7, 3, "weekdays") == []


def test_the_due_clock_keeps_one_answer_per_cadence_of_a_zone_and_hour() -> None:
    clock = DueClock(utc(2026, 3, 3, 12), 3)  # a Tuesday
    stored = utc(2026, 3, 2, 7)
    assert clock.due(stored, "UTC", 7, "daily") == [date(2026, 3, 2), date(2026, 3, 3)]
    assert clock.due(stored, "UTC", 7, "weekly:mon") == [date(2026, 3, 2)]
    assert clock.due(stored, "UTC", 7, "daily") is clock.due(stored, "UTC", 7, "daily")  # kept
    assert clock.moment(date(2026, 3, 2), "UTC", 7, "weekly:mon", after=True) == utc(2026, 3, 9, 7)
    assert clock.moment(date(2026, 3, 2), "UTC", 7, "daily", after=True) == utc(2026, 3, 3, 7)


def test_a_weekly_digest_covers_the_time_since_the_previous_one_within_a_bound() -> None:
    now = utc(2026, 3, 9, 8)
    assert covers_since(now, utc(2026, 3, 2, 8), 10) == utc(2026, 3, 2, 8)
    assert covers_since(now, utc(2026, 2, 2, 8), 10) == utc(2026, 2, 27, 8)  # after an outage: the bound
    assert covers_since(now, None, 10) == utc(2026, 3, 2, 8)  # a first digest: a week
