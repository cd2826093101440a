"""The send path end to end: rank -> render -> ledger -> transport, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import mailbox
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from seed import TODAY, ledger_states, load_papers, subscribe
from smtp_sink import SmtpSink
from sqlalchemy import delete, inspect, select

from digest.config import DeliverySettings
from digest.context import Context
from digest.delivery.report import SendReport
from digest.delivery.send import send_due
from digest.delivery.worker import run_worker
from digest.mail.transports import MaildirTransport, SmtpTransport, Transport
from digest.store.db import transaction
from digest.store.ledger import claim_batch, enqueue
from digest.store.ledger_bulk import start_sending
from digest.store.models import Delivery, DeliveryStatus, SentPaper, Subscriber, SubscriberStatus
from digest.store.schedule import prune_ledger


def _send(ctx: Context, transport: Transport, now: datetime = NOW, day: date | None = TODAY) -> SendReport:
    async def go() -> SendReport:
        try:
            return await send_due(ctx, transport, now, digest_date=day)
        finally:
            await transport.close()

    return asyncio.run(go())


def _maildir(ctx: Context) -> list[Message]:
    return [email.message_from_bytes(bytes(m)) for m in mailbox.Maildir(ctx.settings.mail.maildir).values()]


def test_sending_twice_for_one_date_sends_nothing_the_second_time(ctx: Context) -> None:
    load_papers(ctx)
    subscribe(ctx, "ada@example.org", "language models; reasoning")
    maildir = MaildirTransport(Path(ctx.settings.mail.maildir))
    first = _send(ctx, maildir)
    second = _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)))
    assert first.counts == {"sent": 1}
    assert second.outcomes == []
    assert len(_maildir(ctx)) == 1


def test_a_paper_is_never_sent_twice_to_the_same_subscriber(ctx: Context) -> None:
    load_papers(ctx)
    subscriber = subscribe(ctx, "ada@example.org", "language models; reasoning; agents; video")
    _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), day=TODAY)
    _send(
        ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), NOW + timedelta(days=1), TODAY + timedelta(1)
    )
    with transaction(ctx.sessions) as session:
        days = {d.digest_date: d.paper_ids for d in session.scalars(select(Delivery))}
        sent = session.scalars(select(SentPaper.paper_id).where(SentPaper.subscriber_id == subscriber)).all()
    assert days[TODAY] and days[TODAY + timedelta(1)]
    assert not set(days[TODAY]) & set(days[TODAY + timedelta(1)])
    assert sorted(sent) == sorted(days[TODAY] + days[TODAY + timedelta(1)])


def test_sent_papers_go_with_their_delivery_and_their_subscriber(ctx: Context) -> None:
    load_papers(ctx)
    ada = subscribe(ctx, "ada@example.org", "language models; reasoning; agents; video")
    bob = subscribe(ctx, "bob@example.org", "language models; reasoning; agents; video")
    for day in (TODAY, TODAY + timedelta(1)):
        _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), NOW + (day - TODAY), day)

    def sent() -> dict[int, set[int]]:
        with transaction(ctx.sessions) as session:
            rows = session.execute(select(SentPaper.subscriber_id, SentPaper.paper_id)).all()
        return {who: {p for s, p in rows if s == who} for who in (ada, bob)}

    with transaction(ctx.sessions) as session:
        second = {d.subscriber_id: set(d.paper_ids) for d in session.scalars(select(Delivery))
                  if d.digest_date == TODAY + timedelta(1)}  # fmt: skip
        assert prune_ledger(session, TODAY + timedelta(181), 180) == 2  # the first day's two digests
    assert second[ada] and sent() == second
    with transaction(ctx.sessions) as session:
        session.execute(delete(Subscriber).where(Subscriber.id == bob))
    assert sent() == {ada: second[ada], bob: set()}
    # Pruning finds a delivery's rows by this index; without it, each pruned delivery scanned the table.
    indexes = inspect(ctx.engine).get_indexes("sent_papers")
    assert any(index["column_names"] == ["delivery_id"] for index in indexes)


def test_a_digest_goes_over_smtp_to_a_real_server_with_its_headers(ctx: Context) -> None:
    load_papers(ctx)
    subscribe(ctx, "ada@example.org", "language models")
    subscribe(ctx, "grace@example.org", '"video generation"; diffusion')
    with SmtpSink() as sink:
        transport = SmtpTransport(sink.host, sink.port, security="plain")
        report = _send(ctx, transport)
    assert report.counts == {"sent": 2}
    assert sorted(r.recipients[0] for r in sink.received) == ["ada@example.org", "grace@example.org"]
    assert sink.connections == 1  # one connection reused for both messages
    message = email.message_from_bytes(sink.received[0].data)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.get_payload()] == ["text/plain", "text/html"]  # type: ignore[union-attr]
    for header in (
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        assert message[header], header
    assert message["Message-ID"].endswith("@papers.example.org>")
    assert b"https://papers.example.org/unsubscribe/" in sink.received[0].data


def test_a_permanent_refusal_fails_the_digest_and_stops_mail_to_the_address(ctx: Context) -> None:
    load_papers(ctx)
    subscriber = subscribe(ctx, "gone@example.org", "language models")
    with SmtpSink() as sink:
        sink.fail("RCPT", 550)
        report = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
        again = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"), day=TODAY + timedelta(1))
    assert report.counts == {"failed": 1}
    assert again.outcomes == []
    assert sink.received == []
    with transaction(ctx.sessions) as session:
        assert session.get_one(Subscriber, subscriber).status == SubscriberStatus.BOUNCING


def test_a_temporary_refusal_is_retried_by_the_next_run_and_sent_once(ctx: Context) -> None:
    load_papers(ctx)
    subscriber = subscribe(ctx, "busy@example.org", "language models")
    with SmtpSink() as sink:
        sink.fail("RCPT", 451)
        first = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
        too_soon = _send(
            ctx, SmtpTransport(sink.host, sink.port, security="plain"), NOW + timedelta(minutes=9)
        )
        second = _send(
            ctx, SmtpTransport(sink.host, sink.port, security="plain"), NOW + timedelta(minutes=10)
        )
        third = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"), NOW + timedelta(hours=2))
    assert (first.counts, too_soon.outcomes) == ({"retry": 1}, [])  # the backoff: 10 minutes
    assert (second.counts, third.outcomes) == ({"sent": 1}, [])
    assert len(sink.received) == 1
    assert ledger_states(ctx) == {(subscriber, TODAY): DeliveryStatus.SENT}


def test_a_connection_lost_after_the_data_is_recorded_unknown_and_never_resent(ctx: Context) -> None:
    load_papers(ctx)
    subscriber = subscribe(ctx, "ada@example.org", "language models")
    with SmtpSink() as sink:
        sink.fail("DATA", "accept_then_drop")
        first = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
        second = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
    assert first.counts == {"unknown": 1}
    assert second.outcomes == []
    assert len(sink.received) == 1
    assert ledger_states(ctx) == {(subscriber, TODAY): DeliveryStatus.UNKNOWN}


def test_a_digest_left_sending_by_a_dead_sender_becomes_unknown_not_a_duplicate(ctx: Context) -> None:
    load_papers(ctx)
    subscriber = subscribe(ctx, "ada@example.org", "language models")
    crashed_at = datetime.now(UTC) - timedelta(hours=1)  # leases run on the real clock
    with transaction(ctx.sessions) as session:  # what a sender killed while sending leaves behind
        enqueue(session, [(subscriber, TODAY)], NOW)
        (row,) = claim_batch(session, "dead", NOW, crashed_at, crashed_at + timedelta(minutes=5), 10)
        assert start_sending(
            session, "dead", [(row.delivery_id, "<x@papers.example.org>", [1])], NOW, crashed_at
        )
    report = _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)))
    assert report.outcomes == []
    assert _maildir(ctx) == []
    assert ledger_states(ctx) == {(subscriber, TODAY): DeliveryStatus.UNKNOWN}


def test_a_dry_run_records_and_sends_nothing(ctx: Context) -> None:
    load_papers(ctx)
    subscribe(ctx, "ada@example.org", "language models")

    async def go() -> SendReport:
        return await send_due(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), NOW, dry_run=True)

    report = asyncio.run(go())
    assert report.counts == {"dry-run": 1}
    assert report.outcomes[0].papers
    assert ledger_states(ctx) == {}
    assert _maildir(ctx) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_subscriber_is_due_at_their_own_local_hour(ctx: Context) -> None:
    load_papers(ctx)
    subscribe(ctx, "early@example.org", "language models", hour=9)  # 09:30 UTC: due
    subscribe(ctx, "late@example.org", "language models", hour=10)  # not yet
    subscribe(ctx, "tokyo@example.org", "language models", hour=18, zone="Asia/Tokyo")  # 18:30 local: due
    subscribe(
        ctx, "ny@example.org", "language models", hour=5, zone="America/New_York"
    )  # 04:30 local: not yet
    report = _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), day=None)
    assert sorted(o.email for o in report.outcomes) == ["early@example.org", "tokyo@example.org"]
    later = NOW.replace(hour=23, tzinfo=UTC)
    report = _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), later, day=None)
    assert sorted(o.email for o in report.outcomes) == ["late@example.org", "ny@example.org"]


# --- fault injection: each SMTP failure ends in the right ledger state ---------------------------------


def _drain(ctx: Context, transport: Transport, options: DeliverySettings, now: datetime = NOW) -> SendReport:
    async def go() -> SendReport:
        try:
            return await run_worker(
                ctx, transport, asyncio.Event(), worker_id="w1", now=lambda: now, options=options,
                digest_date=TODAY, keep_outcomes=True,
            )  # fmt: skip
        finally:
            await transport.close()

    return asyncio.run(go())


def _row(ctx: Context, subscriber_id: int) -> Delivery:
    with transaction(ctx.sessions) as session:
        return session.scalars(select(Delivery).where(Delivery.subscriber_id == subscriber_id)).one()


FAULTS = [
    ("MAIL", 421, DeliveryStatus.RETRY),
    ("MAIL", 451, DeliveryStatus.RETRY),
    ("RCPT", 452, DeliveryStatus.RETRY),
    ("DATA", 451, DeliveryStatus.RETRY),
    ("RCPT", 550, DeliveryStatus.FAILED),
    ("DATA", 554, DeliveryStatus.FAILED),
    ("MAIL", "drop", DeliveryStatus.RETRY),  # nothing was handed over yet
    ("DATA", "drop", DeliveryStatus.UNKNOWN),  # cut mid-DATA: the server may hold it
    ("DATA", "accept_then_drop", DeliveryStatus.UNKNOWN),
    ("DATA", "stall", DeliveryStatus.UNKNOWN),  # no answer to the final dot within the timeout
    ("MAIL", "stall", DeliveryStatus.RETRY),  # no answer before the data: safe to retry
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("step", "fault", "expected"), FAULTS, ids=[f"{s}-{f}" for s, f, _ in FAULTS])
def test_each_smtp_fault_ends_in_its_ledger_state(
    ctx: Context, step: Any, fault: Any, expected: DeliveryStatus
) -> None:
    load_papers(ctx)
    victim = subscribe(ctx, "ada@example.org", "language models")
    other = subscribe(ctx, "grace@example.org", "language models")
    with SmtpSink(stall_seconds=1.5) as sink:
        sink.fail(step, fault)
        report = _drain(ctx, SmtpTransport(sink.host, sink.port, security="plain", timeout=0.5), OPTIONS)
    first = _row(ctx, victim)
    assert (first.status, _row(ctx, other).status) == (expected, DeliveryStatus.SENT)
    assert report.counts == {str(expected): 1, "sent": 1}
    assert [r.recipients for r in sink.received].count(("grace@example.org",)) == 1
    assert first.attempts == 1 and first.last_error and first.claimed_by is None
    if expected == DeliveryStatus.RETRY:
        assert first.next_attempt_at == NOW + timedelta(minutes=OPTIONS.retry_backoff_minutes)
    with transaction(ctx.sessions) as session:
        bouncing = session.get_one(Subscriber, victim).status == SubscriberStatus.BOUNCING
    assert bouncing == (expected == DeliveryStatus.FAILED)


OPTIONS = DeliverySettings(concurrency=1, max_attempts=3, retry_backoff_minutes=10, bounce_limit=1)


def test_temporary_failures_back_off_and_give_up_after_the_attempt_limit(ctx: Context) -> None:
    load_papers(ctx)
    subscriber = subscribe(ctx, "busy@example.org", "language models")
    waits = []
    with SmtpSink() as sink:
        sink.fail("RCPT", 451, times=3)
        at = NOW
        for _ in range(3):
            _drain(ctx, SmtpTransport(sink.host, sink.port, security="plain"), OPTIONS, at)
            row = _row(ctx, subscriber)
            if row.next_attempt_at is not None:
                waits.append(row.next_attempt_at - at)
                at = row.next_attempt_at
        later = _drain(
            ctx, SmtpTransport(sink.host, sink.port, security="plain"), OPTIONS, at + timedelta(days=1)
        )
    assert waits == [timedelta(minutes=10), timedelta(minutes=20)]  # doubling backoff
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 3)
    assert later.outcomes == [] and sink.received == []


def test_permanent_failures_mark_the_subscriber_bouncing_only_at_the_bounce_limit(ctx: Context) -> None:
    load_papers(ctx)
    subscriber = subscribe(ctx, "flaky@example.org", "language models")
    options = DeliverySettings(concurrency=1, bounce_limit=2)
    statuses = []
    with SmtpSink() as sink:
        sink.fail("RCPT", 550, times=2)
        for day in (TODAY, TODAY + timedelta(1)):

            async def go(day: date = day) -> None:
                transport = SmtpTransport(sink.host, sink.port, security="plain")
                later = NOW + timedelta(1)
                await run_worker(ctx, transport, asyncio.Event(), worker_id="w", now=lambda: later,
                                 options=options, digest_date=day)  # fmt: skip
                await transport.close()

            asyncio.run(go())
            with transaction(ctx.sessions) as session:
                row = session.get_one(Subscriber, subscriber)
                statuses.append((row.status, row.bounce_count))
    assert statuses == [(SubscriberStatus.ACTIVE, 1), (SubscriberStatus.BOUNCING, 2)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_error_brake_pauses_the_run_and_says_why_leaving_the_rest_for_later(ctx: Context) -> None:
    load_papers(ctx)
    ids = [subscribe(ctx, f"r{i}@example.org", "language models") for i in range(30)]
    options = DeliverySettings(concurrency=1, max_consecutive_errors=5)
    with SmtpSink() as sink:
        sink.fail("MAIL", 451, times=100)
        report = _drain(ctx, SmtpTransport(sink.host, sink.port, security="plain"), options)
    assert report.paused and "errors in a row (limit 5)" in report.paused and "451" in report.paused
    states = [_row(ctx, i) for i in ids]
    assert sum(r.status == DeliveryStatus.RETRY for r in states) < 30
    untouched = [r for r in states if r.status == DeliveryStatus.PENDING]
    assert untouched and all(r.claimed_by is None and r.attempts == 0 for r in untouched)
    with SmtpSink() as healthy:  # the relay is back: the rest goes out
        _drain(ctx, SmtpTransport(healthy.host, healthy.port, security="plain"), options)
        assert len(healthy.received) == len(untouched)


def test_two_workers_draining_at_once_send_each_digest_once(ctx: Context) -> None:
    load_papers(ctx)
    for i in range(40):
        subscribe(ctx, f"s{i}@example.org", "language models; agents")
    options = DeliverySettings(concurrency=2, batch_size=7)

    async def both(sink: SmtpSink) -> list[SendReport]:
        transports = [SmtpTransport(sink.host, sink.port, security="plain") for _ in range(2)]
        runs = [
            run_worker(ctx, t, asyncio.Event(), worker_id=f"w{i}", now=lambda: NOW, options=options,
                       digest_date=TODAY, keep_outcomes=True)
            for i, t in enumerate(transports)
        ]  # fmt: skip
        reports = await asyncio.gather(*runs)
        for t in transports:
            await t.close()
        return list(reports)

    with SmtpSink() as sink:
        reports = asyncio.run(both(sink))
    recipients = sorted(r.recipients[0] for r in sink.received)
    assert recipients == sorted(f"s{i}@example.org" for i in range(40))
    assert sum(r.counts.get("sent", 0) for r in reports) == 40
    assert set(ledger_states(ctx).values()) == {DeliveryStatus.SENT}


def test_rows_of_readers_who_left_after_the_enqueue_are_skipped_when_claimed_and_never_sent(
    ctx: Context,
) -> None:
    load_papers(ctx)
    ids = {subscribe(ctx, f"{name}@example.org", "language models"): name for name in ("ada", "bob", "cy")}
    with transaction(ctx.sessions) as session:
        enqueue(session, [(i, TODAY) for i in ids], NOW)
        for subscriber in session.scalars(select(Subscriber).where(Subscriber.email != "ada@example.org")):
            subscriber.status = (
                SubscriberStatus.UNSUBSCRIBED
                if subscriber.email == "bob@example.org"
                else SubscriberStatus.BOUNCING
            )

    async def drain() -> SendReport:
        transport = MaildirTransport(Path(ctx.settings.mail.maildir))
        try:
            return await run_worker(
                ctx, transport, asyncio.Event(), worker_id="w", now=lambda: NOW, enqueue_due=False
            )
        finally:
            await transport.close()

    assert asyncio.run(drain()).counts == {"sent": 1}
    assert [m["To"] for m in _maildir(ctx)] == ["ada@example.org"]
    with transaction(ctx.sessions) as session:
        rows = {
            ids[d.subscriber_id]: (d.status, d.last_error, d.claimed_by)
            for d in session.scalars(select(Delivery))
        }
    gone = (DeliveryStatus.SKIPPED, "the subscriber is no longer active", None)
    assert rows == {"ada": (DeliveryStatus.SENT, None, None), "bob": gone, "cy": gone}
