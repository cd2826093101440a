"""Time maths of the schedule, pure functions of `now`, a time zone and a send hour: local dates and
send times (`times`), and which dates a subscriber is owed (`due`). The stored schedule, the database
rows that say what is due, is `digest.store.schedule`.
"""

from digest.schedule.due import DueClock
from digest.schedule.times import local_today, next_send_after, send_time

__all__ = ["DueClock", "local_today", "next_send_after", "send_time"]
