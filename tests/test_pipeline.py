"""The send path end to end: rank -> render -> ledger -> transport, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import mailbox
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from conftest import FIXTURES, NOW
from smtp_sink import SmtpSink
from sqlalchemy import select

from digest import sources
from digest.context import Context
from digest.db import transaction
from digest.deliver import MaildirTransport, SmtpTransport, Transport
from digest.interests import parse_interests
from digest.models import Delivery, DeliveryStatus, SentPaper, Subscriber, SubscriberStatus
from digest.pipeline import SendReport, send_due
from digest.store import upsert_papers
from digest.store_ledger import claim, open_delivery
from digest.store_subscribers import add_subscriber

TODAY = date(2026, 11, 28)


def _load_papers(ctx: Context, at: datetime = NOW) -> None:
    parsed = sources.parse("hf_daily", (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes())
    with transaction(ctx.sessions) as session:
        upsert_papers(session, parsed.papers, at)


def _subscribe(ctx: Context, email_address: str, query: str, hour: int = 0, zone: str = "UTC") -> int:
    with transaction(ctx.sessions) as session:
        row = add_subscriber(
            session,
            email_address,
            parse_interests(query),
            send_hour=hour,
            timezone=zone,
            now=NOW,
            confirmed=True,
        )
        return row.id


def _send(ctx: Context, transport: Transport, now: datetime = NOW, day: date | None = TODAY) -> SendReport:
    async def go() -> SendReport:
        try:
            return await send_due(ctx, transport, now, digest_date=day)
        finally:
            await transport.close()

    return asyncio.run(go())


def _maildir(ctx: Context) -> list[Message]:
    return [email.message_from_bytes(bytes(m)) for m in mailbox.Maildir(ctx.settings.mail.maildir).values()]


def _ledger(ctx: Context) -> dict[tuple[int, date], str]:
    with transaction(ctx.sessions) as session:
        return {(d.subscriber_id, d.digest_date): d.status for d in session.scalars(select(Delivery))}


def test_sending_twice_for_one_date_sends_nothing_the_second_time(ctx: Context) -> None:
    _load_papers(ctx)
    _subscribe(ctx, "ada@example.org", "language models; reasoning")
    maildir = MaildirTransport(Path(ctx.settings.mail.maildir))
    first = _send(ctx, maildir)
    second = _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)))
    assert first.counts == {"sent": 1}
    assert second.outcomes == []
    assert len(_maildir(ctx)) == 1


def test_a_paper_is_never_sent_twice_to_the_same_subscriber(ctx: Context) -> None:
    _load_papers(ctx)
    subscriber = _subscribe(ctx, "ada@example.org", "language models; reasoning; agents; video")
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


def test_a_digest_goes_over_smtp_to_a_real_server_with_its_headers(ctx: Context) -> None:
    _load_papers(ctx)
    _subscribe(ctx, "ada@example.org", "language models")
    _subscribe(ctx, "grace@example.org", '"video generation"; diffusion')
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
    _load_papers(ctx)
    subscriber = _subscribe(ctx, "gone@example.org", "language models")
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
    _load_papers(ctx)
    subscriber = _subscribe(ctx, "busy@example.org", "language models")
    with SmtpSink() as sink:
        sink.fail("RCPT", 451)
        first = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
        second = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
        third = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
    assert (first.counts, second.counts, third.outcomes) == ({"retry": 1}, {"sent": 1}, [])
    assert len(sink.received) == 1
    assert _ledger(ctx) == {(subscriber, TODAY): DeliveryStatus.SENT}


def test_a_connection_lost_after_the_data_is_recorded_unknown_and_never_resent(ctx: Context) -> None:
    _load_papers(ctx)
    subscriber = _subscribe(ctx, "ada@example.org", "language models")
    with SmtpSink() as sink:
        sink.fail("DATA", "accept_then_drop")
        first = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
        second = _send(ctx, SmtpTransport(sink.host, sink.port, security="plain"))
    assert first.counts == {"unknown": 1}
    assert second.outcomes == []
    assert len(sink.received) == 1
    assert _ledger(ctx) == {(subscriber, TODAY): DeliveryStatus.UNKNOWN}


def test_a_digest_left_sending_by_a_dead_sender_becomes_unknown_not_a_duplicate(ctx: Context) -> None:
    _load_papers(ctx)
    subscriber = _subscribe(ctx, "ada@example.org", "language models")
    crashed_at = NOW - timedelta(hours=1)
    with transaction(ctx.sessions) as session:  # what a sender killed right after its claim leaves behind
        delivery = open_delivery(session, subscriber, TODAY, crashed_at)
        assert delivery is not None
        assert claim(session, delivery.id, "<x@papers.example.org>", [1], crashed_at)
    report = _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)))
    assert report.outcomes == []
    assert _maildir(ctx) == []
    assert _ledger(ctx) == {(subscriber, TODAY): DeliveryStatus.UNKNOWN}


def test_a_dry_run_records_and_sends_nothing(ctx: Context) -> None:
    _load_papers(ctx)
    _subscribe(ctx, "ada@example.org", "language models")

    async def go() -> SendReport:
        return await send_due(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), NOW, dry_run=True)

    report = asyncio.run(go())
    assert report.counts == {"dry-run": 1}
    assert report.outcomes[0].papers
    assert _ledger(ctx) == {}
    assert _maildir(ctx) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_subscriber_is_due_at_their_own_local_hour(ctx: Context) -> None:
    _load_papers(ctx)
    _subscribe(ctx, "early@example.org", "language models", hour=9)  # 09:30 UTC: due
    _subscribe(ctx, "late@example.org", "language models", hour=10)  # not yet
    _subscribe(ctx, "tokyo@example.org", "language models", hour=18, zone="Asia/Tokyo")  # 18:30 local: due
    _subscribe(
        ctx, "ny@example.org", "language models", hour=5, zone="America/New_York"
    )  # 04:30 local: not yet
    report = _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), day=None)
    assert sorted(o.email for o in report.outcomes) == ["early@example.org", "tokyo@example.org"]
    later = NOW.replace(hour=23, tzinfo=UTC)
    report = _send(ctx, MaildirTransport(Path(ctx.settings.mail.maildir)), later, day=None)
    assert sorted(o.email for o in report.outcomes) == ["late@example.org", "ny@example.org"]
