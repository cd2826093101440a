"""The one module that knows the whole flow: rank -> render -> record -> deliver.

Every digest is written to the ledger before any mail traffic, claimed with a conditional update, and
marked sent together with its papers in one transaction; a date already done is never sent again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from digest.compose import Links, digest_view
from digest.config import Settings
from digest.context import Context
from digest.db import transaction
from digest.deliver import MaildirTransport, Sender, SmtpTransport, Transport, build_message, message_id
from digest.errors import DeliveryError, InterestError
from digest.interests import parse_interests
from digest.models import DeliveryStatus, Paper, Subscriber, SubscriberStatus
from digest.rank import Profile, rank, trending
from digest.records import Ranked, RenderedEmail
from digest.schedule import local_today
from digest.store import candidates_by_id, candidates_since, papers_by_id
from digest.store_ledger import (
    claim,
    expire_stale_sending,
    mark_outcome,
    mark_sent,
    open_delivery,
    sent_paper_ids,
)
from digest.store_schedule import due_digests
from digest.store_subscribers import feedback_for, get_subscriber, interests_text

log = logging.getLogger(__name__)
SENDING_LEASE = timedelta(minutes=15)  # a row still `sending` after this was left by a sender that died
TRENDING_FALLBACK = 5


@dataclass(frozen=True, slots=True)
class Picks:
    """What one subscriber gets on one date."""

    ranked: tuple[Ranked, ...]
    new_count: int
    trending_only: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    email: str
    digest_date: date
    status: str  # sent, retry, failed, unknown, skipped, done, dry-run
    papers: tuple[Ranked, ...] = ()
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "date": self.digest_date.isoformat(),
            "status": self.status,
            "error": self.error,
            "papers": [
                {"paper_id": p.paper_id, "score": round(p.score, 4), "why": p.explanation}
                for p in self.papers
            ],
        }


@dataclass
class SendReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(outcome.status for outcome in self.outcomes))


def pick_papers(
    ctx: Context, session: Session, subscribers: list[Subscriber], now: datetime
) -> dict[int, Picks]:
    """Rank the papers new in the catch-up window for every subscriber at once."""
    since = now - timedelta(days=ctx.settings.digest.catchup_days)
    candidates = candidates_since(session, since)
    ids = [subscriber.id for subscriber in subscribers]
    sent, votes = sent_paper_ids(session, ids), feedback_for(session, ids)
    profiles = []
    for subscriber in subscribers:
        try:
            interests = parse_interests(interests_text(subscriber))
        except InterestError as exc:
            log.error("subscriber %s has interests that no longer parse: %s", subscriber.id, exc)
            continue
        profiles.append(
            Profile(subscriber.id, interests, frozenset(sent[subscriber.id]), votes.get(subscriber.id, {}))
        )
    voted = {paper_id for profile in profiles for paper_id in profile.feedback}
    feedback_papers = {c.paper_id: c for c in candidates_by_id(session, voted)}
    ranked = rank(candidates, profiles, ctx.rank_settings, now, feedback_papers)
    picks: dict[int, Picks] = {}
    for profile in profiles:
        fresh = [c for c in candidates if c.paper_id not in profile.exclude]
        chosen = ranked.get(profile.subscriber_id, [])
        if chosen or ctx.settings.digest.on_no_match == "skip":
            picks[profile.subscriber_id] = Picks(tuple(chosen), len(fresh))
        else:
            fallback = trending(
                candidates, ctx.rank_settings, now, TRENDING_FALLBACK, exclude=profile.exclude
            )
            picks[profile.subscriber_id] = Picks(tuple(fallback), len(fresh), trending_only=True)
    return picks


def render_digest(
    ctx: Context, session: Session, subscriber: Subscriber, day: date, picks: Picks
) -> tuple[RenderedEmail, Links]:
    papers: dict[int, Paper] = papers_by_id(session, [pick.paper_id for pick in picks.ranked])
    links = Links(ctx.settings, ctx.tokens, subscriber)
    view = digest_view(
        ctx.settings, links, subscriber, day, picks.ranked, papers,
        new_count=picks.new_count, trending_only=picks.trending_only,
    )  # fmt: skip
    return ctx.renderer.digest(view), links


def make_transport(settings: Settings) -> Transport:
    if settings.mail.transport == "maildir":
        return MaildirTransport(Path(settings.mail.maildir))
    smtp = settings.smtp
    return SmtpTransport(
        smtp.host, smtp.port, security=smtp.security, username=smtp.username, password=smtp.password,
        timeout=smtp.timeout, validate_certs=smtp.validate_certs,
    )  # fmt: skip


def sender(ctx: Context) -> Sender:
    mail = ctx.settings.mail
    return Sender(
        address=mail.from_address,
        name=mail.from_name,
        reply_to=mail.reply_to,
        list_id=mail.list_id,
        unsubscribe_mailto=mail.unsubscribe_mailto,
    )


async def send_due(
    ctx: Context,
    transport: Transport,
    now: datetime,
    *,
    digest_date: date | None = None,
    dry_run: bool = False,
) -> SendReport:
    """Build and deliver every digest due at `now`; never twice for one subscriber and date."""
    report = SendReport()
    with transaction(ctx.sessions) as session:
        if not dry_run:
            expire_stale_sending(session, now, SENDING_LEASE)
        pairs = due_digests(session, now, digest_date)
        picks = pick_papers(ctx, session, [subscriber for subscriber, _ in pairs], now)
    for subscriber, day in pairs:
        if subscriber.id not in picks:
            report.outcomes.append(Outcome(subscriber.email, day, "failed", error="interests do not parse"))
            continue
        outcome = await deliver_one(
            ctx, transport, subscriber, day, picks[subscriber.id], now, dry_run=dry_run
        )
        report.outcomes.append(outcome)
    return report


async def deliver_one(
    ctx: Context, transport: Transport, subscriber: Subscriber, day: date, picks: Picks, now: datetime,
    *, dry_run: bool = False,
) -> Outcome:  # fmt: skip
    if dry_run:
        return Outcome(subscriber.email, day, "dry-run", picks.ranked)
    with transaction(ctx.sessions) as session:
        delivery = open_delivery(session, subscriber.id, day, now)
        if delivery is None:
            return Outcome(subscriber.email, day, "done")
        if not picks.ranked:
            mark_outcome(session, delivery.id, DeliveryStatus.SKIPPED, "nothing matched", now)
            return Outcome(subscriber.email, day, "skipped")
        rendered, links = render_digest(ctx, session, subscriber, day, picks)
    mail_sender = sender(ctx)
    msg_id = message_id(subscriber.id, day, mail_sender.address.rpartition("@")[2])
    message = build_message(
        rendered, sender=mail_sender, to=subscriber.email, message_id=msg_id,
        unsubscribe_url=links.unsubscribe, when=now,
    )  # fmt: skip
    paper_ids = [pick.paper_id for pick in picks.ranked]
    with transaction(ctx.sessions) as session:
        if not claim(session, delivery.id, msg_id, paper_ids, now):
            return Outcome(subscriber.email, day, "done")
    try:
        await transport.send(mail_sender.address, subscriber.email, message)
    except DeliveryError as exc:
        return _record_failure(ctx, subscriber, day, delivery.id, exc, now)
    with transaction(ctx.sessions) as session:
        mark_sent(session, delivery.id, subscriber.id, paper_ids, now)
    return Outcome(subscriber.email, day, "sent", picks.ranked)


def _record_failure(
    ctx: Context, subscriber: Subscriber, day: date, delivery_id: int, exc: DeliveryError, now: datetime
) -> Outcome:
    status = (
        DeliveryStatus.UNKNOWN
        if exc.unknown
        else DeliveryStatus.FAILED
        if exc.permanent
        else DeliveryStatus.RETRY
    )
    log.warning("delivery to subscriber %s for %s: %s (%s)", subscriber.id, day, status, exc)
    with transaction(ctx.sessions) as session:
        mark_outcome(session, delivery_id, status, str(exc), now)
        if exc.permanent:
            row = session.get(Subscriber, subscriber.id)
            if row is not None:
                row.bounce_count += 1
                row.status = (
                    SubscriberStatus.BOUNCING
                )  # a hard bounce stops mail at once (listmonk's default)
    return Outcome(subscriber.email, day, str(status), error=str(exc))


@dataclass(frozen=True, slots=True)
class Preview:
    email: str
    digest_date: date
    picks: Picks
    rendered: RenderedEmail


def preview(ctx: Context, email: str, now: datetime, digest_date: date | None = None) -> Preview:
    """Rank and render one subscriber's digest without sending or recording anything."""
    with transaction(ctx.sessions) as session:
        subscriber = get_subscriber(session, email)
        day = digest_date or local_today(now, subscriber.timezone)
        picks = pick_papers(ctx, session, [subscriber], now)
        if subscriber.id not in picks:
            raise InterestError(
                f"the interests of {email} do not parse; set them again with `digest interests`"
            )
        rendered, _ = render_digest(ctx, session, subscriber, day, picks[subscriber.id])
    return Preview(email, day, picks[subscriber.id], rendered)
