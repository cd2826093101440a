"""The scheduler's jobs on a controlled clock, driving the real send path into a real Maildir, on SQLite and
PostgreSQL; and the APScheduler wiring with a real AsyncIOScheduler ticking on the real clock."""

from __future__ import annotations

import asyncio
import email
import email.utils
import mailbox
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURES, make_settings
from loopback_http import LoopbackServer, Reply
from sqlalchemy import func, insert, select, update

from digest import sources
from digest.config import SchedulerSettings, Settings
from digest.context import Context
from digest.mail.transports import MaildirTransport
from digest.metrics import Metrics
from digest.rank import parse_interests
from digest.schedule.times import next_send_after, send_time
from digest.service.jobs import Jobs, build_scheduler
from digest.service.leader import leadership
from digest.store.db import transaction, upgrade
from digest.store.ledger import enqueue
from digest.store.models import Delivery, DeliveryStatus, Paper, Source, Subscriber, SubscriberStatus
from digest.store.papers import upsert_papers
from digest.store.schedule import due_digests, due_pairs, next_due, reschedule
from digest.store.subscribers import add_subscriber

HF = FIXTURES / "hf-daily-papers_2026-06_30papers.json"
START = datetime(2026, 10, 31, 20, tzinfo=UTC)  # New York falls back at 06:00 UTC on 2026-11-01
READERS = [  # (address, zone, hour): five zones, one of them changing its clocks that day
    ("utc@example.org", "UTC", 7),
    ("kolkata@example.org", "Asia/Kolkata", 9),  # a half-hour offset
    ("ny@example.org", "America/New_York", 1),  # 01:00 happens twice on 2026-11-01
    ("paris@example.org", "Europe/Paris", 6),
    ("sydney@example.org", "Australia/Sydney", 6),  # already the next day there
]
TICK = timedelta(minutes=10)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _papers(ctx: Context, at: datetime) -> None:
    parsed = sources.parse("hf_daily", HF.read_bytes())
    with transaction(ctx.sessions) as session:
        upsert_papers(session, parsed.papers, at)


def _readers(ctx: Context, at: datetime) -> None:
    """Established readers: their earlier digests went out, the next one is due at their next hour."""
    with transaction(ctx.sessions) as session:
        for address, zone, hour in READERS:
            row = add_subscriber(
                session, address, parse_interests("language models"), send_hour=hour, timezone=zone,
                now=at - timedelta(days=30), confirmed=True,
            )  # fmt: skip
            row.next_send_at = next_send_after(at, zone, hour)


def _jobs(ctx: Context, clock: Clock, **options: float) -> Jobs:
    transport = MaildirTransport(Path(ctx.settings.mail.maildir))
    return Jobs(
        ctx, transport, leadership(ctx.engine), Metrics(), SchedulerSettings.model_construct(**options), clock
    )  # type: ignore[arg-type]


def _run(jobs: Jobs, clock: Clock, until: datetime) -> None:
    async def go() -> None:
        try:
            while clock.now <= until:
                await jobs.send()
                clock.now += TICK
        finally:
            jobs.leader.release()
            await jobs.transport.close()

    asyncio.run(go())


def _inbox(ctx: Context) -> list[email.message.Message]:
    box = mailbox.Maildir(ctx.settings.mail.maildir, create=True)
    return [email.message_from_bytes(bytes(message)) for message in box.values()]


def _sent(ctx: Context) -> list[tuple[str, date, datetime | None]]:
    with transaction(ctx.sessions) as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.digest_date, Delivery.sent_at)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.status == DeliveryStatus.SENT)
        )
        return [(address, day, sent_at) for address, day, sent_at in rows]


def test_readers_in_five_zones_each_get_one_digest_at_their_local_hour(ctx: Context) -> None:
    _papers(ctx, START)
    _readers(ctx, START)
    clock = Clock(START)
    _run(_jobs(ctx, clock), clock, START + timedelta(hours=24))

    inbox = _inbox(ctx)
    assert Counter(str(m["To"]) for m in inbox) == {address: 1 for address, _, _ in READERS}
    sent = {address: (day, at) for address, day, at in _sent(ctx)}
    for address, zone, hour in READERS:
        day, at = sent[address]
        assert at is not None
        due = send_time(day, zone, hour)
        assert due <= at < due + TICK, address  # sent on the first tick at or after their hour
        assert at.astimezone(ZoneInfo(zone)).hour == hour, address
    assert sent["ny@example.org"] == (date(2026, 11, 1), datetime(2026, 11, 1, 5, tzinfo=UTC))  # 01:00 EDT
    assert sent["sydney@example.org"][0] == date(2026, 11, 2)
    dates = {str(m["To"]): email.utils.parsedate_to_datetime(str(m["Date"])) for m in inbox}
    assert dates == {address: at for address, (_, at) in sent.items()}  # the Date header is the send time


def test_a_service_stopped_for_six_hours_sends_each_missed_digest_once_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    first = Context.open(settings)
    upgrade(first.engine)
    _papers(first, START)
    _readers(first, START)
    clock = Clock(START)
    _run(_jobs(first, clock), clock, START + timedelta(hours=8))  # until 04:00 UTC on 1 November
    assert [address for address, _, _ in _sent(first)] == ["kolkata@example.org"]  # 03:30 UTC
    first.close()

    restarted_at = START + timedelta(hours=14)  # down from 04:00 to 10:00 UTC: three readers' hours passed
    second = Context.open(settings)  # a new process: nothing carried over but the database
    clock = Clock(restarted_at)
    _run(_jobs(second, clock), clock, START + timedelta(hours=30))  # until 02:00 UTC on 2 November

    sent = _sent(second)
    assert Counter(address for address, _, _ in sent) == {address: 1 for address, _, _ in READERS}
    late = {address: (day, at) for address, day, at in sent if at == restarted_at}
    assert late == {
        "utc@example.org": (date(2026, 11, 1), restarted_at),
        "ny@example.org": (date(2026, 11, 1), restarted_at),
        "paris@example.org": (date(2026, 11, 1), restarted_at),
    }  # each missed digest carries its own date and went out once, on the first tick after the restart
    subjects = {str(m["To"]): str(m["Subject"]) for m in _inbox(second)}
    assert subjects["paris@example.org"].endswith("Nov 1")
    assert len(_inbox(second)) == len(READERS)
    second.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_after_a_long_outage_only_the_most_recent_missed_dates_go_out(ctx: Context) -> None:
    _papers(ctx, START)
    with transaction(ctx.sessions) as session:
        row = add_subscriber(
            session, "away@example.org", parse_interests("language models"), send_hour=7, timezone="UTC",
            now=START - timedelta(days=30), confirmed=True,
        )  # fmt: skip
        row.next_send_at = datetime(2026, 10, 20, 7, tzinfo=UTC)  # eleven days ago
    clock = Clock(START)
    _run(_jobs(ctx, clock, max_missed_digests=3), clock, START)  # one tick
    with transaction(ctx.sessions) as session:
        days = sorted(session.scalars(select(Delivery.digest_date)))
        assert days == [date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31)]  # sent (or skipped)
        assert due_digests(session, START) == []
        assert session.scalars(select(Subscriber.next_send_at)).one() == datetime(2026, 11, 1, 7, tzinfo=UTC)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reader_who_changes_hour_after_todays_digest_gets_no_second_one_today(ctx: Context) -> None:
    _papers(ctx, START)
    _readers(ctx, START)
    clock = Clock(START)
    _run(_jobs(ctx, clock), clock, START + timedelta(hours=12))  # utc@ got its digest at 07:00
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == "utc@example.org")).one()
        row.send_hour = 10
        reschedule(row, clock.now)
    _run(_jobs(ctx, clock), clock, START + timedelta(hours=24))
    assert [day for address, day, _ in _sent(ctx) if address == "utc@example.org"] == [date(2026, 11, 1)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_digests_wait_a_bounded_time_for_a_fetch_that_is_due(ctx: Context) -> None:
    _papers(ctx, START)
    _readers(ctx, START)
    clock = Clock(START + timedelta(hours=7, minutes=30))  # 03:30 UTC: Kolkata's hour
    with transaction(ctx.sessions) as session:
        fell_due = clock.now - timedelta(minutes=5)
        session.add(
            Source(name="huggingface", kind="hf_daily", url="http://127.0.0.1:9/", next_fetch_at=fell_due)
        )
    _run(_jobs(ctx, clock, wait_for_papers_minutes=30), clock, clock.now)
    assert _sent(ctx) == []  # the day's fetch is due: hold the digest back for it
    clock.now += timedelta(minutes=30)  # the fetch still has not happened 35 minutes on
    _run(_jobs(ctx, clock, wait_for_papers_minutes=30), clock, clock.now)
    assert [address for address, _, _ in _sent(ctx)] == ["kolkata@example.org"]


def test_the_fetch_job_fetches_due_sources_ahead_of_the_first_send(database_url: str, tmp_path: Path) -> None:
    with LoopbackServer() as server:
        server.routes["/hf"] = Reply(200, HF.read_bytes(), {"Content-Type": "application/json"})
        settings = make_settings(database_url, tmp_path)
        settings = settings.model_copy(
            update={"sources": [settings.sources[0].model_copy(update={"url": server.url("/hf")})]}
        )
        ctx = Context.open(settings)
        upgrade(ctx.engine)
        _readers(ctx, START)
        clock = Clock(START)

        async def twice() -> None:
            jobs = _jobs(ctx, clock, fetch_lead_hours=1)
            await jobs.fetch()
            await jobs.fetch()  # not due any more: no second request
            jobs.leader.release()

        asyncio.run(twice())
        assert len(server.requests_to("/hf")) == 1
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(Source)).one()
        papers = session.scalar(select(func.count()).select_from(Paper))
    assert row.last_outcome == "ok" and papers == 30
    # Sends at 03:30, 05:00 (two readers), 07:00 and 19:00 UTC: the longest quiet stretch (07:00 to 19:00)
    # ends at 19:00, so the day's fetch runs at 18:00, an hour ahead.
    assert row.next_fetch_at == datetime(2026, 11, 1, 18, tzinfo=UTC)
    ctx.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tidy_forgets_stale_confirmations_and_old_ledger_rows(ctx: Context) -> None:
    now = START
    with transaction(ctx.sessions) as session:
        for address, age in (("stale@example.org", 4), ("fresh@example.org", 1)):
            add_subscriber(
                session, address, parse_interests("x"), send_hour=7, timezone="UTC",
                now=now - timedelta(days=age), confirmed=False,
            )  # fmt: skip
        kept = add_subscriber(
            session, "kept@example.org", parse_interests("x"), send_hour=7, timezone="UTC",
            now=now - timedelta(days=400), confirmed=True,
        )  # fmt: skip
        for age, status in (
            (200, DeliveryStatus.SENT),
            (10, DeliveryStatus.SENT),
            (201, DeliveryStatus.PENDING),
        ):
            session.add(
                Delivery(
                    subscriber_id=kept.id, digest_date=now.date() - timedelta(days=age), status=status,
                    created_at=now, updated_at=now, paper_ids=[],
                )
            )  # fmt: skip
    clock = Clock(now)

    async def go() -> None:
        await _jobs(ctx, clock, retention_days=180).tidy()

    asyncio.run(go())
    with transaction(ctx.sessions) as session:
        assert set(session.scalars(select(Subscriber.email))) == {"fresh@example.org", "kept@example.org"}
        ages = sorted((now.date() - d.digest_date).days for d in session.scalars(select(Delivery)))
    assert ages == [10, 201]  # the old unfinished row stays: only finished rows are pruned


def test_the_scheduler_states_its_job_options_and_really_ticks(settings: Settings) -> None:
    ctx = Context.open(settings.model_copy(update={"sources": []}))  # no source: nothing to fetch
    upgrade(ctx.engine)
    _papers(ctx, datetime.now(UTC))
    with transaction(ctx.sessions) as session:
        add_subscriber(
            session, "now@example.org", parse_interests("language models"), send_hour=0, timezone="UTC",
            now=datetime.now(UTC), confirmed=True,
        )  # fmt: skip
    metrics = Metrics()
    options = SchedulerSettings.model_construct(tick_seconds=0.2)

    async def go() -> list[tuple[str, bool, int, int]]:
        transport = MaildirTransport(Path(ctx.settings.mail.maildir))
        jobs = Jobs(ctx, transport, leadership(ctx.engine), metrics, options)
        scheduler = build_scheduler(jobs, options)
        scheduler.start()
        try:
            for _ in range(200):  # the real clock: wait (at most 20 s) until a send tick has delivered
                if _inbox(ctx):
                    break
                await asyncio.sleep(0.1)
            return [(j.id, j.coalesce, j.max_instances, j.misfire_grace_time) for j in scheduler.get_jobs()]
        finally:
            scheduler.pause()
            await jobs.drain()
            scheduler.shutdown(wait=False)
            jobs.leader.release()

    described = asyncio.run(go())
    assert sorted(described) == [(name, True, 1, 6 * 3600) for name in ("fetch", "send", "tidy")]
    assert [str(m["To"]) for m in _inbox(ctx)] == ["now@example.org"]
    assert metrics.registry.get_sample_value("digest_digests_total", {"outcome": "sent"}) == 1.0
    with transaction(ctx.sessions) as session:
        assert session.scalars(select(Subscriber.status)).one() == SubscriberStatus.ACTIVE
    ctx.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_next_due_lists_the_soonest_digests_with_their_dates(ctx: Context) -> None:
    _readers(ctx, START)
    with transaction(ctx.sessions) as session:
        soonest = next_due(session, limit=3)
    assert [(n.email, n.digest_date, n.due_at) for n in soonest] == [
        ("kolkata@example.org", date(2026, 11, 1), datetime(2026, 11, 1, 3, 30, tzinfo=UTC)),
        ("ny@example.org", date(2026, 11, 1), datetime(2026, 11, 1, 5, tzinfo=UTC)),
        ("paris@example.org", date(2026, 11, 1), datetime(2026, 11, 1, 5, tzinfo=UTC)),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_stored_time_that_is_no_send_time_moves_to_the_next_real_one(ctx: Context) -> None:
    with transaction(ctx.sessions) as session:
        row = add_subscriber(
            session, "moved@example.org", parse_interests("x"), send_hour=7, timezone="UTC",
            now=START - timedelta(days=3), confirmed=True,
        )  # fmt: skip
        row.next_send_at = START - timedelta(hours=1)  # 19:00: the hour was changed without reschedule()
    with transaction(ctx.sessions) as session:
        assert due_digests(session, START) == []
        assert session.scalars(select(Subscriber.next_send_at)).one() == datetime(2026, 11, 1, 7, tzinfo=UTC)


def test_a_reader_activated_without_a_schedule_gets_the_day_after_their_last_ledger_date(
    ctx: Context,
) -> None:
    """Code that activates a subscriber without reschedule() leaves next_send_at empty: due_pairs gives
    them a schedule, never a date at or before one their ledger already holds."""
    with transaction(ctx.sessions) as session:
        fresh = add_subscriber(
            session, "fresh@example.org", parse_interests("x"), send_hour=7, timezone="UTC",
            now=START - timedelta(days=3), confirmed=True,
        )  # fmt: skip
        known = add_subscriber(
            session, "known@example.org", parse_interests("x"), send_hour=7, timezone="UTC",
            now=START - timedelta(days=3), confirmed=True,
        )  # fmt: skip
        fresh.next_send_at = known.next_send_at = None
        enqueue(session, [(known.id, date(2026, 10, 31))], START)  # today's row exists already
        ids = fresh.id, known.id
    with transaction(ctx.sessions) as session:
        assert due_pairs(session, START) == [(ids[0], date(2026, 10, 31))]
        stored = dict(session.execute(select(Subscriber.id, Subscriber.next_send_at)).all())
    assert stored == {
        ids[0]: datetime(2026, 10, 31, 7, tzinfo=UTC),
        ids[1]: datetime(2026, 11, 1, 7, tzinfo=UTC),
    }


def test_enqueued_rows_are_numbered_a_date_at_a_time_by_subscriber_on_either_database(ctx: Context) -> None:
    # Claims take the lowest row ids first: both databases must number the rows alike, also past the
    # 2,000 subscribers of one SQLite statement.
    day, before, count = date(2026, 10, 31), date(2026, 10, 30), 2005
    people = [{"id": i, "email": f"r{i}@example.org", "status": SubscriberStatus.ACTIVE, "send_hour": 7,
               "timezone": "UTC", "token_version": 1, "bounce_count": 0, "created_at": START}
              for i in range(1, count + 1)]  # fmt: skip
    with transaction(ctx.sessions) as session:
        session.execute(insert(Subscriber), people)
        enqueue(session, [(i, day) for i in range(count, 0, -1)] + [(3, before), (1, before)], START)
    with transaction(ctx.sessions) as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.digest_date).order_by(Delivery.id)
        ).all()
    assert rows == [(i, day) for i in range(1, count + 1)] + [(1, before), (3, before)]


def test_enqueue_writes_one_pending_row_per_new_pair_and_leaves_existing_rows_alone(ctx: Context) -> None:
    day, before = date(2026, 10, 31), date(2026, 10, 30)
    with transaction(ctx.sessions) as session:
        ids = [
            add_subscriber(
                session,
                f"r{i}@example.org",
                parse_interests("x"),
                send_hour=7,
                timezone="UTC",
                now=START,
                confirmed=True,
            ).id
            for i in range(3)
        ]
        enqueue(session, [(ids[0], day)], START)
        session.execute(update(Delivery).values(status=DeliveryStatus.SENT))
    with transaction(ctx.sessions) as session:
        # a repeated pair, a pair already written, two dates of one reader, and a reader who is gone
        enqueue(session, [(ids[1], day), (ids[1], day), (ids[0], day), (ids[2], before), (ids[2], day),
                          (ids[2] + 99, day)], START + TICK)  # fmt: skip
    with transaction(ctx.sessions) as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.digest_date, Delivery.status, Delivery.attempts,
                   Delivery.paper_ids, Delivery.created_at)
        ).all()  # fmt: skip
        assert sorted(rows) == [
            (ids[0], day, DeliveryStatus.SENT, 0, [], START),
            (ids[1], day, DeliveryStatus.PENDING, 0, [], START + TICK),
            (ids[2], before, DeliveryStatus.PENDING, 0, [], START + TICK),
            (ids[2], day, DeliveryStatus.PENDING, 0, [], START + TICK),
        ]
