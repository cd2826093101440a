"""Each cadence over a simulated month in three zones, one of them changing its clocks (New York springs
forward on 2026-03-08), driving the real send path on a controlled clock; and catch-up after an outage."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from digest.config import SchedulerSettings
from digest.context import Context
from digest.mail.transports import MaildirTransport
from digest.metrics import Metrics
from digest.rank import parse_interests
from digest.records import PaperIn
from digest.schedule.times import next_send_after
from digest.service.jobs import Jobs
from digest.service.leader import leadership
from digest.store.db import transaction
from digest.store.models import Delivery, DeliveryStatus, Subscriber
from digest.store.papers import upsert_papers
from digest.store.schedule import reschedule
from digest.store.subscribers import add_subscriber

START = datetime(2026, 2, 20, tzinfo=UTC)  # a Friday; New York springs forward on Sunday 2026-03-08
DAYS = 30
ZONES = {"utc": "UTC", "tokyo": "Asia/Tokyo", "ny": "America/New_York"}
CADENCES = {"daily": "daily", "weekdays": "weekdays", "weekly": "weekly:mon"}
HOUR = 8
TICK = timedelta(hours=1)  # every send hour of these zones is a whole UTC hour
# The send job runs at each reader's hour in UTC (New York's before and after the change) and an hour either
# side, so that a digest early or late would show; the other hours only cost the test time.
SEND_HOURS = {7, 8, 9, 11, 12, 13, 14, 22, 23, 0}
PAPER_HOURS = {0, 12}  # new papers twice a day: every digest has some it has not sent


def _day_papers(ctx: Context, at: datetime) -> None:
    """Three new papers a day, each matching every reader: a digest is never empty for lack of papers."""
    stamp = at.strftime("%Y%m%d%H")
    papers = [
        PaperIn(f"url:https://example.org/{stamp}/{n}", f"Language models study {stamp} {n}",
                "We study language models.", f"https://example.org/{stamp}/{n}", "feed")
        for n in range(3)
    ]  # fmt: skip
    with transaction(ctx.sessions) as session:
        upsert_papers(session, papers, at)


def _subscribe(ctx: Context, at: datetime) -> None:
    with transaction(ctx.sessions) as session:
        for zone_name, zone in ZONES.items():
            for cadence_name, cadence in CADENCES.items():
                row = add_subscriber(
                    session, f"{cadence_name}-{zone_name}@example.org", parse_interests("language models"),
                    send_hour=HOUR, timezone=zone, now=at, confirmed=True, cadence=cadence,
                )  # fmt: skip
                reschedule(row, at)
                # Established readers: the next due digest is after `at`, not one owed at once.
                row.next_send_at = next_send_after(at, zone, HOUR, cadence)


def _jobs(ctx: Context, now: list[datetime]) -> Jobs:
    transport = MaildirTransport(Path(ctx.settings.mail.maildir))
    options = SchedulerSettings.model_construct()
    return Jobs(ctx, transport, leadership(ctx.engine), Metrics(), options, lambda: now[0])


def _run(ctx: Context, start: datetime, end: datetime, *, papers: bool = True) -> None:
    now = [start]
    jobs = _jobs(ctx, now)

    async def go() -> None:
        try:
            while now[0] < end:
                if papers and now[0].hour in PAPER_HOURS:
                    _day_papers(ctx, now[0])
                if now[0].hour in SEND_HOURS:
                    await jobs.send()
                now[0] += TICK
        finally:
            jobs.leader.release()
            await jobs.transport.close()

    asyncio.run(go())


def _deliveries(ctx: Context) -> dict[str, list[tuple[date, datetime | None, str, list[int]]]]:
    """address -> (digest date, local send time, status, paper ids) of each ledger row, oldest first."""
    found: dict[str, list[tuple[date, datetime | None, str, list[int]]]] = defaultdict(list)
    with transaction(ctx.sessions) as session:
        rows = session.execute(
            select(Subscriber.email, Subscriber.timezone, Delivery.digest_date, Delivery.sent_at)
            .add_columns(Delivery.status, Delivery.paper_ids)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .order_by(Delivery.digest_date)
        )
        for address, zone, day, sent_at, status, paper_ids in rows:
            local = sent_at.astimezone(ZoneInfo(zone)) if sent_at is not None else None
            found[address].append((day, local, status, paper_ids))
    return found


def _expected_dates(zone: str, cadence: str, start: datetime, end: datetime) -> list[date]:
    first, last = start.astimezone(ZoneInfo(zone)).date(), end.astimezone(ZoneInfo(zone)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    keep = {
        "daily": lambda d: True,
        "weekdays": lambda d: d.weekday() < 5,
        "weekly": lambda d: d.weekday() == 0,
    }
    zoned = [d for d in days if keep[cadence](d)]
    return [d for d in zoned if start <= datetime(d.year, d.month, d.day, HOUR, tzinfo=ZoneInfo(zone)) < end]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_month_of_each_cadence_in_three_zones_lands_on_its_days_at_the_local_hour(ctx: Context) -> None:
    _subscribe(ctx, START)
    end = START + timedelta(days=DAYS)
    _run(ctx, START, end)
    deliveries = _deliveries(ctx)
    for zone_name, zone in ZONES.items():
        for cadence_name in CADENCES:
            address = f"{cadence_name}-{zone_name}@example.org"
            rows = deliveries[address]
            assert [day for day, *_ in rows] == _expected_dates(zone, cadence_name, START, end), address
            for day, local, status, paper_ids in rows:
                assert status == DeliveryStatus.SENT, (address, day)
                assert local is not None
                assert (local.date(), local.hour, local.minute) == (day, HOUR, 0), (address, day)
                assert paper_ids, (address, day)
            sent = [paper for *_, paper_ids in rows for paper in paper_ids]
            assert len(sent) == len(set(sent)), address  # never a paper twice
    # Weekdays skip the reader's own weekend: Tokyo's Monday 08:00 is Sunday 23:00 in UTC.
    assert date(2026, 2, 23) in [day for day, *_ in deliveries["weekdays-tokyo@example.org"]]
    # The clocks change in New York: 08:00 EST (13:00 UTC) before, 08:00 EDT (12:00 UTC) after.
    ny = {day: local for day, local, *_ in deliveries["daily-ny@example.org"] if local is not None}
    assert ny[date(2026, 3, 7)].utcoffset() == timedelta(hours=-5)
    assert ny[date(2026, 3, 8)].utcoffset() == timedelta(hours=-4)
    assert ny[date(2026, 3, 9)].astimezone(UTC).hour == 12
    weekly = deliveries["weekly-ny@example.org"]
    assert [day for day, *_ in weekly] == [
        date(2026, 2, 23),
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
    ]
    assert all(len(paper_ids) == 10 for *_, paper_ids in weekly)  # a week's 42 papers: the digest is full


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_after_an_outage_a_weekly_reader_gets_one_digest_not_one_per_missed_week(ctx: Context) -> None:
    _subscribe(ctx, START)
    first_end = START + timedelta(days=4)  # through Monday 2026-02-23 in every zone
    _run(ctx, START, first_end)
    before = _deliveries(ctx)["weekly-utc@example.org"]
    assert [day for day, *_ in before] == [date(2026, 2, 23)]
    restart = first_end + timedelta(days=17)  # down for two Mondays (March 2 and 9); papers kept coming
    for day in range(17):
        _day_papers(ctx, first_end + timedelta(days=day))  # three a day while it was down
    _run(ctx, restart, restart + timedelta(days=2), papers=False)
    after = _deliveries(ctx)
    weekly = after["weekly-utc@example.org"]
    assert [day for day, *_ in weekly] == [date(2026, 2, 23), date(2026, 3, 9)]  # only the latest missed week
    _, local, status, paper_ids = weekly[1]
    assert status == DeliveryStatus.SENT
    assert local is not None and local.date() == restart.date()  # at once, on the restart
    sent = [paper for *_, paper_ids in weekly for paper in paper_ids]
    assert len(sent) == len(set(sent))
    assert len(paper_ids) == 10  # the weeks missed are in it: there were 51 new papers to pick from
