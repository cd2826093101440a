"""Which dates a subscriber is owed at a moment, and when the next falls due: the schedule maths of one
look at what is due, each answer kept for the many subscribers who share a zone, an hour and a cadence."""

from __future__ import annotations

from datetime import date, datetime

from digest.schedule.times import due_dates, next_send_after, send_time_from


class DueClock:
    """The answers of one `digest.store.schedule.due_pairs` call, each kept: subscribers share a handful
    of (moment, zone, hour, cadence) keys, and each answer costs tens of microseconds of time-zone
    arithmetic. The cadence is part of the key: two readers of one zone and hour may be owed different
    dates (a weekly reader nothing today)."""

    def __init__(self, now: datetime, max_missed: int) -> None:
        self.now, self.max_missed = now, max_missed
        self._due: dict[tuple[datetime, str, int, str], list[date]] = {}
        self._next: dict[tuple[date, str, int, str, bool], datetime] = {}

    def due(self, at: datetime, zone: str, hour: int, cadence: str) -> list[date]:
        key = (at, zone, hour, cadence)
        if key not in self._due:
            self._due[key] = due_dates(at, self.now, zone, hour, self.max_missed, cadence)
        return self._due[key]

    def moment(self, day: date, zone: str, hour: int, cadence: str, *, after: bool = False) -> datetime:
        """`day`'s due moment in the zone (or the first one after it, with `after`)."""
        key = (day, zone, hour, cadence, after)
        if key not in self._next:
            moment = send_time_from(day, zone, hour, cadence)
            self._next[key] = next_send_after(moment, zone, hour, cadence) if after else moment
        return self._next[key]
