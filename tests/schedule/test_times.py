"""The schedule's time maths: pure functions, checked against known daylight-saving transitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from digest.schedule.times import (
    digest_date_of,
    due_dates,
    fetch_anchor,
    first_send_at,
    hold_for_papers,
    local_digest_date,
    next_fetch_at,
    next_send_after,
    send_time,
)

NY, PARIS = "America/New_York", "Europe/Paris"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "zone", "hour", "expected"),
    [
        (date(2026, 11, 28), "UTC", 7, utc(2026, 11, 28, 7)),
        (date(2026, 11, 28), "Asia/Kolkata", 7, utc(2026, 11, 28, 1, 30)),
        (date(2026, 10, 31), NY, 1, utc(2026, 10, 31, 5)),  # EDT, the day before the change
        (date(2026, 11, 1), NY, 1, utc(2026, 11, 1, 5)),  # 01:00 happens twice: the first (EDT) one
        (date(2026, 11, 2), NY, 1, utc(2026, 11, 2, 6)),  # EST from now on
        (date(2026, 3, 8), NY, 2, utc(2026, 3, 8, 7)),  # 02:00 is skipped: 03:00 EDT, when clocks jump
        (date(2026, 3, 29), PARIS, 2, utc(2026, 3, 29, 1)),  # skipped in Paris: 03:00 CEST
        (date(2026, 10, 25), PARIS, 2, utc(2026, 10, 25, 0)),  # repeated in Paris: the CEST one
    ],
)
def test_the_send_time_is_the_readers_hour_across_daylight_saving(
    day: date, zone: str, hour: int, expected: datetime
) -> None:
    assert send_time(day, zone, hour) == expected
    assert digest_date_of(expected, zone) == day


def test_the_repeated_hour_is_due_once() -> None:
    first = send_time(date(2026, 11, 1), NY, 1)
    second_occurrence = first + timedelta(hours=1)  # 01:00 EST, the same wall time again
    assert next_send_after(first, NY, 1) == utc(2026, 11, 2, 6)
    assert due_dates(first, second_occurrence, NY, 1, limit=3) == [date(2026, 11, 1)]


def test_consecutive_send_times_step_one_local_day_through_a_change() -> None:
    moment, seen = utc(2026, 10, 23, 12), []
    for _ in range(4):
        moment = next_send_after(moment, PARIS, 2)
        seen.append((digest_date_of(moment, PARIS), moment))
    assert seen == [
        (date(2026, 10, 24), utc(2026, 10, 24, 0)),  # CEST
        (date(2026, 10, 25), utc(2026, 10, 25, 0)),  # the change: 02:00 CEST, the first of the two
        (date(2026, 10, 26), utc(2026, 10, 26, 1)),  # CET
        (date(2026, 10, 27), utc(2026, 10, 27, 1)),
    ]


def test_a_day_that_does_not_exist_in_the_zone_has_no_digest() -> None:
    # Samoa skipped 2011-12-30 entirely when it moved across the date line.
    moment = next_send_after(utc(2011, 12, 29, 0), "Pacific/Apia", 7)
    assert digest_date_of(moment, "Pacific/Apia") == date(2011, 12, 29)
    after = next_send_after(moment, "Pacific/Apia", 7)
    assert digest_date_of(after, "Pacific/Apia") == date(2011, 12, 31)


def test_a_new_subscriber_gets_todays_digest_once_the_hour_has_passed() -> None:
    now = utc(2026, 11, 28, 9, 30)
    assert first_send_at(now, "UTC", 7) == utc(2026, 11, 28, 7)  # due at once
    assert first_send_at(now, "UTC", 10) == utc(2026, 11, 28, 10)  # later today
    assert first_send_at(now, "Asia/Tokyo", 7) == utc(2026, 11, 27, 22)  # 18:30 in Tokyo: today's is due
    assert local_digest_date(now, "UTC", 7) == date(2026, 11, 28)
    assert local_digest_date(now, "UTC", 10) is None


def test_moving_west_never_repeats_a_date_already_sent() -> None:
    now = utc(2026, 11, 28, 23, 30)  # 18:30 in New York, where it is still the 28th
    assert first_send_at(now, NY, 7, not_before=date(2026, 11, 29)) == utc(2026, 11, 29, 12)


def test_after_an_outage_the_missed_dates_are_due_oldest_first_and_bounded() -> None:
    stored = utc(2026, 11, 20, 7)
    now = utc(2026, 11, 28, 9)
    assert due_dates(stored, now, "UTC", 7, limit=3) == [
        date(2026, 11, 26),
        date(2026, 11, 27),
        date(2026, 11, 28),
    ]
    assert due_dates(utc(2026, 11, 28, 7), utc(2026, 11, 28, 6, 59), "UTC", 7, limit=3) == []
    assert due_dates(utc(2026, 11, 27, 7), now, "UTC", 7, limit=3) == [date(2026, 11, 27), date(2026, 11, 28)]


def test_the_fetch_anchor_precedes_the_first_send_after_the_longest_quiet_stretch() -> None:
    sends = [utc(2026, 11, 28, 7), utc(2026, 11, 28, 9), utc(2026, 11, 28, 18), utc(2026, 11, 29, 7)]
    assert fetch_anchor(sends, timedelta(hours=1)) == 6 * 60
    assert fetch_anchor([utc(2026, 11, 28, 0, 30)], timedelta(hours=1)) == 23 * 60 + 30  # wraps midnight
    assert fetch_anchor([], timedelta(hours=1)) is None


def test_the_next_fetch_is_pulled_forward_to_the_anchor_but_never_right_after_a_fetch() -> None:
    assert next_fetch_at(utc(2026, 11, 28, 10), 24) == utc(2026, 11, 29, 10)
    assert next_fetch_at(utc(2026, 11, 28, 10), 24, anchor_minute=6 * 60) == utc(2026, 11, 29, 6)
    assert next_fetch_at(utc(2026, 11, 28, 5, 50), 24, anchor_minute=6 * 60) == utc(2026, 11, 29, 5, 50)
    assert next_fetch_at(utc(2026, 11, 28, 4), 6, anchor_minute=6 * 60) == utc(2026, 11, 28, 10)


def test_digests_wait_a_bounded_time_for_a_due_fetch() -> None:
    now = utc(2026, 11, 28, 7)
    wait = timedelta(minutes=30)
    assert hold_for_papers(now, [now - timedelta(minutes=10)], wait)
    assert not hold_for_papers(now, [now - timedelta(minutes=31)], wait)
    assert not hold_for_papers(now, [], wait)
