"""What the overview shows, computed from the dashboard's store queries (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from digest.store import dashboard
from digest.store.models import DeliveryStatus, SubscriberStatus
from digest.web.admin.charts import Chart, stacked_bars
from digest.web.admin.days import DayCounts

DAYS = 30
SENT_SERIES = (
    DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value, DeliveryStatus.RETRY.value,
    DeliveryStatus.UNKNOWN.value,
)  # fmt: skip
STATES = tuple(status.value for status in SubscriberStatus)


@dataclass(frozen=True, slots=True)
class Rate:
    failed: int
    handed_over: int  # sent + failed: the digests an SMTP server answered for

    @property
    def percent(self) -> float | None:
        return None if self.handed_over == 0 else 100.0 * self.failed / self.handed_over


def daily_chart(days: dict[date, dict[str, int]], today: date) -> Chart:
    dates = [today - timedelta(days=back) for back in range(DAYS - 1, -1, -1)]
    columns = [(day.strftime("%m-%d"), days.get(day, {})) for day in dates]
    return stacked_bars(columns, SENT_SERIES, label_every=5)


def bounce_rate(days: dict[date, dict[str, int]]) -> Rate:
    """Permanent refusals (bounces) among the digests the servers answered for, over the window."""
    failed = sum(counts.get(DeliveryStatus.FAILED, 0) for counts in days.values())
    sent = sum(counts.get(DeliveryStatus.SENT, 0) for counts in days.values())
    return Rate(failed, failed + sent)


def hourly_chart(moments: dict[datetime, int], now: datetime) -> Chart:
    """The next 24 hours, one bar per UTC hour, starting with the current one."""
    start = now.replace(minute=0, second=0, microsecond=0)
    counts = [0] * 24
    for moment, count in moments.items():
        slot = int((moment - start).total_seconds() // 3600)
        if 0 <= slot < 24:
            counts[slot] += count
    columns = [
        ((start + timedelta(hours=slot)).strftime("%H:00"), {"due": counts[slot]}) for slot in range(24)
    ]
    return stacked_bars(columns, ("due",), label_every=3)


def _to_slots_end(now: datetime) -> timedelta:
    """From now to the end of the chart's 24th hour (the current hour is its first, partly gone)."""
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=24) - now


def overview(session: Session, now: datetime, day_counts: DayCounts) -> dict[str, Any]:
    today = now.date()
    days = day_counts.counts(session, today - timedelta(days=DAYS - 1), today)
    states = dashboard.subscribers_by_state(session)
    return {
        "states": [(state, states.get(state, 0)) for state in STATES],
        "subscriber_total": sum(states.values()),
        "daily": daily_chart(days, today),
        "rate": bounce_rate(days),
        "hourly": hourly_chart(dashboard.sends_by_moment(session, now, _to_slots_end(now)), now),
        "overdue": dashboard.overdue_count(session, now),
        "days": DAYS,
        "older_ttl_minutes": round(day_counts.ttl / 60),
    }
