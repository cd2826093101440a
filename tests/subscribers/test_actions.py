"""The subscription service the web front calls, on SQLite and PostgreSQL: double opt-in, one mail a day,
links that are signed, expiring and revocable, and the same interest messages as the command line."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import NOW
from smtp_sink import SmtpSink
from sqlalchemy import func, select
from web_helpers import expired_token, link_in, load_papers, mail_text, parse_mail, path_of

from digest.context import Context
from digest.delivery.send import send_due
from digest.errors import InterestError
from digest.mail.transports import MaildirTransport, SmtpTransport
from digest.rank import parse_interests
from digest.store.db import transaction
from digest.store.models import Feedback, Paper, Subscriber, SubscriberStatus
from digest.store.subscribers import claim_mail_slot, find_subscriber
from digest.subscribers.actions import (
    FieldError,
    Preferences,
    account,
    check_interests,
    check_preferences,
    check_send_hour,
    check_zone,
    confirm,
    leave,
    request_manage_link,
    set_paused,
    subscribe,
    update_preferences,
    vote,
)
from digest.subscribers.mails import deliver_mail
from digest.subscribers.pages import latest_digest_html, preview_matches
from digest.tokens import Purpose, TokenError, Tokens

ADDRESS = "reader@example.org"


def _wish(query: str = '"speculative decoding"', hour: int = 7, zone: str = "Europe/Paris") -> Preferences:
    return check_preferences(query, hour, zone)


def _token_of(ctx: Context, purpose: Purpose, address: str = ADDRESS) -> str:
    with transaction(ctx.sessions) as session:
        row = find_subscriber(session, address)
        assert row is not None
        return ctx.tokens.make(purpose, row.id, row.token_version)


def _row(ctx: Context, address: str = ADDRESS) -> Subscriber:
    with transaction(ctx.sessions) as session:
        row = find_subscriber(session, address)
        assert row is not None
        return row


def _subscribed(ctx: Context) -> str:
    """Subscribe and confirm ADDRESS; return a manage token."""
    mail = subscribe(ctx, ADDRESS, _wish(), NOW)
    assert mail is not None
    confirm(ctx, path_of(link_in(mail.message, "confirm")).rsplit("/", 1)[1], NOW)
    return _token_of(ctx, Purpose.MANAGE)


def test_a_new_address_becomes_pending_and_is_sent_one_confirmation(ctx: Context) -> None:
    mail = subscribe(ctx, ADDRESS, _wish(), NOW)
    assert mail is not None and mail.recipient == ADDRESS
    message = parse_mail(mail.message)
    assert message["Subject"] == "Confirm your daily research paper digest"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/confirm/" in link_in(mail.message, "confirm")
    assert '"speculative decoding"' in mail_text(mail.message)
    row = _row(ctx)
    assert row.status == SubscriberStatus.PENDING and row.send_hour == 7 and row.timezone == "Europe/Paris"
    assert row.confirm_sent_at == NOW


def test_a_second_subscribe_within_a_day_sends_no_second_mail(ctx: Context) -> None:
    assert subscribe(ctx, ADDRESS, _wish(), NOW) is not None
    assert subscribe(ctx, ADDRESS, _wish(), NOW + timedelta(hours=23)) is None
    assert subscribe(ctx, ADDRESS, _wish("robots"), NOW + timedelta(hours=24, minutes=1)) is not None
    assert [i.query for i in _row(ctx).interests] == ["robots"]  # a pending wish is the latest one


def test_subscribing_a_confirmed_address_again_changes_nothing(ctx: Context) -> None:
    _subscribed(ctx)
    before = _row(ctx)
    later = NOW + timedelta(days=2)
    mail = subscribe(ctx, ADDRESS, _wish("cats -dogs", hour=3, zone="Asia/Tokyo"), later)
    after = _row(ctx)
    assert (after.status, after.send_hour, after.timezone, after.token_version) == (
        SubscriberStatus.ACTIVE, 7, "Europe/Paris", before.token_version,
    )  # fmt: skip
    assert [i.query for i in after.interests] == ['"speculative decoding"']
    # Its owner is sent their manage link instead (so a lost link is not a dead end), once a day at most.
    assert mail is not None and "/manage/" in link_in(mail.message, "manage")
    assert subscribe(ctx, ADDRESS, _wish(), later + timedelta(hours=1)) is None


def test_confirming_activates_schedules_and_is_harmless_twice(ctx: Context) -> None:
    mail = subscribe(ctx, ADDRESS, _wish(), NOW)
    assert mail is not None
    token = path_of(link_in(mail.message, "confirm")).rsplit("/", 1)[1]
    assert account(ctx, Purpose.CONFIRM, token).status == SubscriberStatus.PENDING  # reading changes nothing
    assert _row(ctx).status == SubscriberStatus.PENDING
    shown = confirm(ctx, token, NOW)
    assert shown.status == SubscriberStatus.ACTIVE and "/manage/" in shown.manage_url
    row = _row(ctx)
    assert row.confirmed_at == NOW and row.next_send_at is not None
    assert confirm(ctx, token, NOW + timedelta(hours=1)).status == SubscriberStatus.ACTIVE
    assert _row(ctx).confirmed_at == NOW


def test_forged_tampered_and_misdirected_tokens_are_refused(ctx: Context) -> None:
    manage = _subscribed(ctx)
    head, _, signature = manage.rpartition(".")
    tampered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    row = _row(ctx)
    other_key = Tokens("another-secret").make(Purpose.MANAGE, row.id, row.token_version)
    refused = [
        (tampered, Purpose.MANAGE),
        (other_key, Purpose.MANAGE),
        (manage, Purpose.UNSUBSCRIBE),
        ("not-a-token", Purpose.MANAGE),
        (manage + "x", Purpose.MANAGE),
    ]
    for token, purpose in refused:
        with pytest.raises(TokenError, match="not valid"):
            account(ctx, purpose, token)
    with pytest.raises(TokenError, match="not valid"):
        leave(ctx, manage)  # a manage token is no unsubscribe token
    assert _row(ctx).status == SubscriberStatus.ACTIVE


def test_an_expired_manage_link_is_refused_as_expired(ctx: Context) -> None:
    _subscribed(ctx)
    row = _row(ctx)
    old = expired_token(ctx.secret_key, "manage", row.id, row.token_version)
    with pytest.raises(TokenError, match="expired") as caught:
        account(ctx, Purpose.MANAGE, old)
    assert caught.value.expired
    old_unsubscribe = expired_token(ctx.secret_key, "unsubscribe", row.id, row.token_version)
    leave(ctx, old_unsubscribe)  # unsubscribe links never expire
    assert _row(ctx).status == SubscriberStatus.UNSUBSCRIBED


def test_leaving_revokes_other_links_but_unsubscribe_links_keep_working(ctx: Context) -> None:
    manage = _subscribed(ctx)
    unsubscribe = _token_of(ctx, Purpose.UNSUBSCRIBE)
    leave(ctx, unsubscribe)
    leave(ctx, unsubscribe)  # idempotent
    assert _row(ctx).status == SubscriberStatus.UNSUBSCRIBED
    with pytest.raises(TokenError, match="no longer valid"):
        account(ctx, Purpose.MANAGE, manage)


def test_a_departed_address_can_subscribe_again_and_must_confirm_again(ctx: Context) -> None:
    _subscribed(ctx)
    leave(ctx, _token_of(ctx, Purpose.UNSUBSCRIBE))
    mail = subscribe(ctx, ADDRESS, _wish("robots"), NOW + timedelta(days=2))
    assert mail is not None and "/confirm/" in link_in(mail.message, "confirm")
    assert _row(ctx).status == SubscriberStatus.PENDING


@pytest.mark.parametrize(
    "query", ["-medical", "cat:cs.XX", "cat:", "author:", "the of and", "x" * 2001, "", "&& --"]
)
def test_interest_errors_are_the_command_lines_messages(query: str) -> None:
    with pytest.raises(InterestError) as expected:
        parse_interests(query)
    with pytest.raises(FieldError) as shown:
        check_interests(query)
    assert (shown.value.field, str(shown.value)) == ("interests", str(expected.value))


def test_a_textareas_crlf_line_breaks_separate_topics() -> None:
    assert [t.text for t in check_interests("robots\r\ncats\rdogs").topics] == ["robots", "cats", "dogs"]


def test_control_characters_in_interests_are_refused() -> None:
    with pytest.raises(FieldError, match="control characters"):
        check_interests("robots\x00")


@pytest.mark.parametrize("hour", ["24", "-1", "7.5", "", "seven", "٣"])
def test_a_send_hour_outside_0_to_23_is_refused(hour: str) -> None:
    with pytest.raises(FieldError, match="whole hour from 0 to 23") as caught:
        check_send_hour(hour)
    assert caught.value.field == "send_hour"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "", "x" * 100, "Europe/\x00Paris"])
def test_an_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_zone(zone)
    assert caught.value.field == "timezone"
    assert check_zone(" Asia/Kolkata ") == "Asia/Kolkata"


def test_the_mail_slot_goes_to_one_of_two_simultaneous_requests(ctx: Context) -> None:
    assert subscribe(ctx, ADDRESS, _wish(), NOW) is not None
    row = _row(ctx)
    later = NOW + timedelta(days=2)
    with transaction(ctx.sessions) as session:
        first = claim_mail_slot(session, row.id, later, timedelta(hours=24))
    with transaction(ctx.sessions) as session:
        second = claim_mail_slot(session, row.id, later, timedelta(hours=24))
    assert (first, second) == (True, False)


def test_a_mail_the_server_refused_gives_the_address_its_slot_back(ctx: Context) -> None:
    mail = subscribe(ctx, ADDRESS, _wish(), NOW)
    assert mail is not None
    with SmtpSink() as sink:
        sink.fail("RCPT", 550)

        def transport() -> SmtpTransport:
            return SmtpTransport(sink.host, sink.port, security="plain", timeout=5)

        assert asyncio.run(deliver_mail(ctx, transport, mail)) is False
        assert sink.received == []
        retry = subscribe(ctx, ADDRESS, _wish(), NOW + timedelta(minutes=5))
        assert retry is not None
        assert asyncio.run(deliver_mail(ctx, transport, retry)) is True
        assert [r.recipients for r in sink.received] == [(ADDRESS,)]


def test_a_manage_link_is_mailed_only_to_a_subscribed_address(ctx: Context) -> None:
    assert request_manage_link(ctx, "nobody@example.org", NOW) is None
    _subscribed(ctx)
    later = NOW + timedelta(days=2)
    mail = request_manage_link(ctx, ADDRESS, later)
    assert mail is not None
    assert parse_mail(mail.message)["Subject"] == "Your link to manage your research paper digest"
    assert (
        account(ctx, Purpose.MANAGE, path_of(link_in(mail.message, "manage")).rsplit("/", 1)[1]).email
        == ADDRESS
    )
    assert request_manage_link(ctx, ADDRESS, later + timedelta(hours=1)) is None


def test_preferences_pause_and_resume(ctx: Context) -> None:
    manage = _subscribed(ctx)
    saved = update_preferences(
        ctx, manage, _wish("robot learning\ncat:cs.RO", hour=22, zone="Asia/Tokyo"), NOW
    )
    assert (saved.interests, saved.send_hour, saved.timezone) == (
        "robot learning\ncat:cs.RO",
        22,
        "Asia/Tokyo",
    )
    assert set_paused(ctx, manage, True, NOW).status == SubscriberStatus.PAUSED
    assert _row(ctx).next_send_at is None
    assert set_paused(ctx, manage, False, NOW).status == SubscriberStatus.ACTIVE
    assert _row(ctx).next_send_at is not None


def test_a_vote_is_recorded_and_a_new_vote_replaces_it(ctx: Context) -> None:
    load_papers(ctx)
    _subscribed(ctx)
    feedback = _token_of(ctx, Purpose.FEEDBACK)
    with transaction(ctx.sessions) as session:
        paper_id = session.scalar(select(func.min(Paper.id)))
        assert paper_id is not None
    vote(ctx, feedback, paper_id, 1, NOW)
    vote(ctx, feedback, paper_id, -1, NOW)
    with transaction(ctx.sessions) as session:
        assert [(f.paper_id, f.vote) for f in session.query(Feedback)] == [(paper_id, -1)]
    with pytest.raises(FieldError, match="no paper"):
        vote(ctx, feedback, 999_999, 1, NOW)


def test_the_preview_lists_what_the_interests_would_match(ctx: Context) -> None:
    load_papers(ctx)
    items = preview_matches(ctx, parse_interests('"speculative decoding"'), NOW)
    assert items and "Speculative Decoding" in items[0].title
    assert "speculative decoding" in items[0].explanation
    assert preview_matches(ctx, parse_interests("zebrafish embryology"), NOW) == []


def test_the_digest_page_shows_the_last_digest_sent(ctx: Context, tmp_path: Path) -> None:
    load_papers(ctx)
    _subscribed(ctx)
    digest = _token_of(ctx, Purpose.DIGEST)
    assert latest_digest_html(ctx, digest, NOW) is None

    async def send() -> None:
        transport = MaildirTransport(tmp_path / "digests")
        await send_due(ctx, transport, NOW, digest_date=date(2026, 11, 28))
        await transport.close()

    asyncio.run(send())
    html = latest_digest_html(ctx, digest, NOW)
    assert html is not None and "VIA-SD" in html and "speculative decoding" in html.lower()
    assert latest_digest_html(ctx, digest, NOW, date(2026, 11, 27)) is None
