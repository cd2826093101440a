"""What a subscriber can do from a page or the API: subscribe, confirm, manage, leave, vote.

The web routes call these and nothing below them. Every function opens its own transaction, takes `now`,
and answers with plain data. Two rules shape them:
- nothing here tells a caller whether an address is subscribed: `subscribe` and `request_manage_link`
  return the mail to send (or None) and the routes answer the same either way;
- a link is honoured only if its signature, its age and the subscriber's token version agree, except
  unsubscribe links, which keep working for good (leaving is always safe to honour).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.config import check_timezone
from digest.context import Context
from digest.embedding.vectors import embed_if_enabled
from digest.errors import DigestError, InterestError
from digest.mail.compose import Links
from digest.rank import Interests, parse_interests
from digest.store.db import transaction
from digest.store.ledger import latest_sent
from digest.store.models import Subscriber, SubscriberStatus
from digest.store.papers import papers_by_id
from digest.store.schedule import reschedule
from digest.store.subscribers import (
    add_subscriber,
    claim_mail_slot,
    find_subscriber,
    interests_text,
    record_feedback,
    set_interests,
    subscriber_by_id,
    unsubscribe,
)
from digest.subscribers.addresses import AddressError, normalise_address
from digest.subscribers.mails import MAIL_COOLDOWN, Mail, confirmation_mail, manage_link_mail
from digest.tokens import Purpose, TokenError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_ZONE_CHARS = 64
VOTES = {"more": 1, "less": -1}


class FieldError(DigestError):
    """One form field is wrong; the message is the one line to show next to it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Preferences:
    interests: Interests
    send_hour: int
    timezone: str


@dataclass(frozen=True, slots=True)
class Account:
    """What the manage page and the API show a subscriber about themselves."""

    email: str
    status: str
    interests: str
    send_hour: int
    timezone: str
    last_digest: date | None
    manage_url: str
    unsubscribe_url: str
    digest_url: str
    feed_url: str  # a private Atom feed of the subscriber's picks


def embed_topics(ctx: Context, session: Session, subscriber: Subscriber) -> None:
    """Compute the vectors of a subscriber's changed topics now (hybrid ranker only), not while ranking."""
    embed_if_enabled(session, ctx.settings.ranking.method, paper_ids=[], subscriber_ids=[subscriber.id])


def check_address(text: str) -> str:
    try:
        return normalise_address(text)
    except AddressError as exc:
        raise FieldError("email", str(exc)) from None


def check_interests(text: str) -> Interests:
    """The one parser, so the page says exactly what `digest interests` would."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # browsers send a textarea's lines as CRLF
    if _CONTROL.search(text):
        raise FieldError("interests", "interests cannot contain control characters")
    try:
        return parse_interests(text)
    except InterestError as exc:
        raise FieldError("interests", str(exc)) from None


def check_send_hour(value: str | int) -> int:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= 23:
        raise FieldError("send_hour", "the send hour must be a whole hour from 0 to 23")
    return int(text)


def check_zone(value: str) -> str:
    name = value.strip()
    if not name or len(name) > MAX_ZONE_CHARS or _CONTROL.search(name):
        raise FieldError("timezone", "give an IANA time zone such as Europe/Paris")
    try:
        return check_timezone(name)
    except ValueError as exc:
        raise FieldError("timezone", str(exc)) from None


def check_preferences(interests: str, send_hour: str | int, timezone: str) -> Preferences:
    """All three fields checked; the first bad one (in form order) raises FieldError."""
    return Preferences(check_interests(interests), check_send_hour(send_hour), check_zone(timezone))


def subscribe(ctx: Context, address: str, wish: Preferences, now: datetime) -> Mail | None:
    """Start a double opt-in, or do nothing; the caller answers the same either way.

    A new or departed address becomes pending and gets a confirmation; a pending one gets it again at
    most once per cooldown; a confirmed one is left exactly as it is and is sent its manage link instead
    (so its owner is not locked out), again at most once per cooldown.
    """
    try:
        with transaction(ctx.sessions) as session:
            return _subscribe(ctx, session, address, wish, now)
    except IntegrityError:
        return None  # a simultaneous request for the same new address won the insert; it sends the mail


def _subscribe(ctx: Context, session: Session, address: str, wish: Preferences, now: datetime) -> Mail | None:
    subscriber = find_subscriber(session, address, missing_ok=True)
    if subscriber is None:
        subscriber = add_subscriber(
            session, address, wish.interests, send_hour=wish.send_hour, timezone=wish.timezone,
            now=now, confirmed=False,
        )  # fmt: skip
    if subscriber.status == SubscriberStatus.BOUNCING:
        return None
    if not claim_mail_slot(session, subscriber.id, now, MAIL_COOLDOWN):
        return None
    if subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED):
        return manage_link_mail(ctx, subscriber, now)
    subscriber.status = SubscriberStatus.PENDING
    subscriber.send_hour, subscriber.timezone = wish.send_hour, wish.timezone
    set_interests(subscriber, wish.interests)
    session.flush()
    embed_topics(ctx, session, subscriber)
    return confirmation_mail(ctx, subscriber, now)


def request_manage_link(ctx: Context, address: str, now: datetime) -> Mail | None:
    """A fresh manage link for a subscribed address (a confirmation for a pending one), else nothing."""
    with transaction(ctx.sessions) as session:
        subscriber = find_subscriber(session, address, missing_ok=True)
        if subscriber is None or subscriber.status in (
            SubscriberStatus.UNSUBSCRIBED,
            SubscriberStatus.BOUNCING,
        ):
            return None
        if not claim_mail_slot(session, subscriber.id, now, MAIL_COOLDOWN):
            return None
        if subscriber.status == SubscriberStatus.PENDING:
            return confirmation_mail(ctx, subscriber, now)
        return manage_link_mail(ctx, subscriber, now)


def subscriber_for_link(ctx: Context, session: Session, purpose: Purpose, token: str) -> Subscriber:
    """The subscriber a link names; TokenError when it is forged, expired or revoked."""
    claims = ctx.tokens.read(purpose, token)
    subscriber = subscriber_by_id(session, claims.subscriber_id)
    if subscriber is None:
        raise TokenError(f"this {purpose} link is not valid")
    current = claims.version == subscriber.token_version
    if not current and not (purpose is Purpose.UNSUBSCRIBE and claims.version < subscriber.token_version):
        raise TokenError(f"this {purpose} link is no longer valid")
    return subscriber


def _account(ctx: Context, session: Session, subscriber: Subscriber) -> Account:
    links = Links(ctx.settings, ctx.tokens, subscriber)
    last = latest_sent(session, subscriber.id)
    return Account(
        email=subscriber.email,
        status=subscriber.status,
        interests=interests_text(subscriber),
        send_hour=subscriber.send_hour,
        timezone=subscriber.timezone,
        last_digest=last.digest_date if last else None,
        manage_url=links.url(Purpose.MANAGE),
        unsubscribe_url=links.unsubscribe,
        digest_url=links.url(Purpose.DIGEST),
        feed_url=links.url(Purpose.FEED),
    )


def account(ctx: Context, purpose: Purpose, token: str) -> Account:
    """Read-only: what a link's page shows. Never changes anything (mail scanners follow links)."""
    with transaction(ctx.sessions) as session:
        return _account(ctx, session, subscriber_for_link(ctx, session, purpose, token))


def link_status(ctx: Context, purpose: Purpose, token: str) -> str:
    """The subscriber's status, for pages that must show nothing more (an old unsubscribe link)."""
    with transaction(ctx.sessions) as session:
        return subscriber_for_link(ctx, session, purpose, token).status


def confirm(ctx: Context, token: str, now: datetime) -> Account:
    """Pending becomes active; confirming twice is harmless."""
    with transaction(ctx.sessions) as session:
        subscriber = subscriber_for_link(ctx, session, Purpose.CONFIRM, token)
        if subscriber.status == SubscriberStatus.PENDING:
            subscriber.status = SubscriberStatus.ACTIVE
            subscriber.confirmed_at = now
            reschedule(subscriber, now)
        return _account(ctx, session, subscriber)


def update_preferences(ctx: Context, token: str, wish: Preferences, now: datetime) -> Account:
    with transaction(ctx.sessions) as session:
        subscriber = subscriber_for_link(ctx, session, Purpose.MANAGE, token)
        moved = (subscriber.send_hour, subscriber.timezone) != (wish.send_hour, wish.timezone)
        subscriber.send_hour, subscriber.timezone = wish.send_hour, wish.timezone
        set_interests(subscriber, wish.interests)
        if moved:
            reschedule(subscriber, now)
        session.flush()
        embed_topics(ctx, session, subscriber)
        return _account(ctx, session, subscriber)


def set_paused(ctx: Context, token: str, paused: bool, now: datetime) -> Account:
    """Pause or resume an active subscription; any other state is left as it is."""
    with transaction(ctx.sessions) as session:
        subscriber = subscriber_for_link(ctx, session, Purpose.MANAGE, token)
        if paused and subscriber.status == SubscriberStatus.ACTIVE:
            subscriber.status = SubscriberStatus.PAUSED
        elif not paused and subscriber.status == SubscriberStatus.PAUSED:
            subscriber.status = SubscriberStatus.ACTIVE
        else:
            return _account(ctx, session, subscriber)
        reschedule(subscriber, now)  # resumed: due from today on, never a day already sent
        return _account(ctx, session, subscriber)


def leave(ctx: Context, token: str) -> None:
    """Unsubscribe at once; idempotent, and an old unsubscribe link still works."""
    with transaction(ctx.sessions) as session:
        subscriber = subscriber_for_link(ctx, session, Purpose.UNSUBSCRIBE, token)
        if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
            unsubscribe(subscriber)


def check_vote(paper: str | int | None, vote: str | None) -> tuple[int, int]:
    """(paper id, +1 or -1) from the feedback link's query, or FieldError."""
    text = str(paper or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:  # ids are 32-bit on PostgreSQL
        raise FieldError("paper", "this feedback link names no paper")
    if vote not in VOTES:
        raise FieldError("vote", 'the vote must be "more" or "less"')
    return int(text), VOTES[vote]


def feedback_title(ctx: Context, token: str, paper_id: int) -> str:
    """The title of the paper a feedback link is about (read-only, for the GET page)."""
    with transaction(ctx.sessions) as session:
        subscriber_for_link(ctx, session, Purpose.FEEDBACK, token)
        return _paper_title(session, paper_id)


def vote(ctx: Context, token: str, paper_id: int, value: int, now: datetime) -> str:
    """Record "more/less like this"; the ranking reads it at the next digest. Returns the title."""
    with transaction(ctx.sessions) as session:
        subscriber = subscriber_for_link(ctx, session, Purpose.FEEDBACK, token)
        title = _paper_title(session, paper_id)
        record_feedback(session, subscriber.id, paper_id, value, now)
        return title


def _paper_title(session: Session, paper_id: int) -> str:
    papers = papers_by_id(session, [paper_id])
    if paper_id not in papers:
        raise FieldError("paper", "this feedback link names no paper we know")
    return papers[paper_id].title
