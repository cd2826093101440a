"""How often a subscriber is sent a digest: every day, every weekday, or once a week on a chosen day.

A cadence is stored and passed around as its text ("daily", "weekdays", "weekly:mon" ... "weekly:sun"):
one short string keys the schedule's memo and needs no join. Days are the reader's own calendar days,
so "weekdays" skips Saturday and Sunday in their time zone, not in UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

DAILY, WEEKDAYS, WEEKLY = "daily", "weekdays", "weekly"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
CADENCES = (DAILY, WEEKDAYS, *(f"{WEEKLY}:{name}" for name in DAY_NAMES))


def check_cadence(text: str) -> str:
    """The cadence `text` names, in its stored spelling; ValueError saying what is accepted otherwise."""
    cadence = text.strip().lower()
    if cadence not in CADENCES:
        raise ValueError(f"unknown cadence {text!r}: use daily, weekdays or weekly:mon .. weekly:sun")
    return cadence


def sends_on(cadence: str, day: date) -> bool:
    """Whether a reader on `cadence` has a digest dated `day` (their calendar day)."""
    if cadence == DAILY:
        return True
    if cadence == WEEKDAYS:
        return day.weekday() < 5
    return DAY_NAMES[day.weekday()] == cadence.removeprefix(f"{WEEKLY}:")


def is_weekly(cadence: str) -> bool:
    return cadence.startswith(f"{WEEKLY}:")


def longest_gap_days(cadence: str) -> int:
    """The most calendar days between two of the cadence's dates: how far back to look for a due date."""
    return 7 if is_weekly(cadence) else 3 if cadence == WEEKDAYS else 1


def missed_limit(cadence: str, max_missed: int) -> int:
    """How many missed dates catch-up may send. A weekly digest covers everything since the previous
    one, so after an outage only the latest missed week goes out: an older one would leave it empty."""
    return 1 if is_weekly(cadence) else max_missed


def describe(cadence: str) -> str:
    """For messages: "daily", "on weekdays", "weekly on Mondays"."""
    if cadence == WEEKDAYS:
        return "on weekdays"
    if is_weekly(cadence):
        full = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
        return f"weekly on {full[DAY_NAMES.index(cadence.removeprefix(f'{WEEKLY}:'))]}"
    return DAILY


def covers_since(now: datetime, last_sent: datetime | None, max_days: int) -> datetime:
    """Where a weekly digest's papers start: just after the reader's previous digest, so that nothing
    stored in between is missed, but at most `max_days` back (after an outage, or a first digest: a week)."""
    bound = now - timedelta(days=max_days)
    if last_sent is None:
        return max(now - timedelta(days=7), bound)
    return max(last_sent, bound)
