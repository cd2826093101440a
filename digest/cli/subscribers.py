"""Commands about subscribers: subscribe, interests, unsubscribe, subscribers."""

from __future__ import annotations

import asyncio

import click

from digest.cli.common import config_option, handles_errors, now_utc, open_context
from digest.cli.report import print_subscribers
from digest.config import Settings, check_timezone
from digest.errors import DigestError
from digest.mail.transports import make_transport
from digest.rank import parse_interests
from digest.schedule.cadence import DAILY, check_cadence, describe
from digest.store.db import transaction
from digest.store.models import Subscriber
from digest.store.schedule import reschedule
from digest.store.subscribers import (
    add_subscriber,
    claim_mail_slot,
    get_subscriber,
    interests_text,
    list_subscribers,
    set_interests,
    unsubscribe,
)
from digest.subscribers.actions import embed_topics
from digest.subscribers.addresses import normalise_address
from digest.subscribers.mails import MAIL_COOLDOWN, confirmation_mail, deliver_mail

CADENCE_HELP = "daily, weekdays (Monday to Friday in their zone) or weekly:mon .. weekly:sun."
PAPERS_HELP = "Papers in a digest, 1 to 50 (default: the [digest] max_papers setting)."


def _cadence(_: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        return None if value is None else check_cadence(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None


PAPERS = click.IntRange(1, 50)


@click.command()
@config_option
@click.argument("email")
@click.option(
    "--interests", "query", default=None, help='Interest topics, e.g. "diffusion models; cat:cs.CV".'
)
@click.option("--send-hour", type=click.IntRange(0, 23), default=None)
@click.option("--timezone", default=None, help="IANA time zone, e.g. Europe/Paris.")
@click.option("--cadence", default=DAILY, callback=_cadence, help=CADENCE_HELP)
@click.option("--papers", type=PAPERS, default=None, help=PAPERS_HELP)
@click.option(
    "--confirmed", is_flag=True, help="Skip the double opt-in (the operator vouches for the address)."
)
@handles_errors
def subscribe(
    email: str,
    query: str | None,
    send_hour: int | None,
    timezone: str | None,
    cadence: str,
    papers: int | None,
    confirmed: bool,
) -> None:
    """Add a subscriber."""
    ctx = open_context()
    defaults = ctx.settings.digest
    address = normalise_address(email)
    interests = parse_interests(query or "")
    zone = _timezone(timezone or defaults.default_timezone)
    hour = defaults.default_send_hour if send_hour is None else send_hour
    now = now_utc()
    with transaction(ctx.sessions) as session:
        subscriber = add_subscriber(
            session, address, interests, send_hour=hour, timezone=zone, now=now, confirmed=confirmed,
            cadence=cadence, papers=papers,
        )  # fmt: skip
        reschedule(subscriber, now)
        embed_topics(ctx, session, subscriber)
        if not confirmed:
            claim_mail_slot(session, subscriber.id, now, MAIL_COOLDOWN)
            mail = confirmation_mail(ctx, subscriber, now)
    if confirmed:
        click.echo(f"subscribed {address}: active; digest at {hour:02d}:00 {zone}{_extra(cadence, papers)}")
        return
    if not asyncio.run(deliver_mail(ctx, lambda: make_transport(ctx.settings), mail)):
        raise DigestError(f"subscribed {address}, but the confirmation email could not be sent (see the log)")
    click.echo(
        f"subscribed {address}: pending until they follow the link in the confirmation email just sent"
    )


def _extra(cadence: str, papers: int | None) -> str:
    """What the confirmation line adds to "digest at HH:00 zone" beyond the daily default."""
    parts = [describe(cadence)] if cadence != DAILY else []
    if papers is not None:
        parts.append(f"{papers} paper{'s' if papers != 1 else ''}")
    return "".join(f", {part}" for part in parts)


def _timezone(name: str) -> str:
    try:
        return check_timezone(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timezone") from None


@click.command()
@config_option
@click.argument("email")
@click.argument("query", required=False)
@click.option("--cadence", default=None, callback=_cadence, help=CADENCE_HELP)
@click.option("--papers", type=click.IntRange(0, 50), default=None, help=f"{PAPERS_HELP} 0: the setting.")
@handles_errors
def interests(email: str, query: str | None, cadence: str | None, papers: int | None) -> None:
    """Show, or replace, a subscriber's interests (and change their cadence or digest size)."""
    ctx = open_context()
    parsed = parse_interests(query) if query is not None else None
    with transaction(ctx.sessions) as session:
        subscriber = get_subscriber(session, normalise_address(email))
        if parsed is not None:
            set_interests(subscriber, parsed)
            session.flush()
            embed_topics(ctx, session, subscriber)
        if cadence is not None or papers is not None:
            _set_cadence(subscriber, cadence, papers)
            click.echo(f"digest: {describe(subscriber.cadence)}, {_size(ctx.settings, subscriber)}")
        click.echo(interests_text(subscriber))


def _set_cadence(subscriber: Subscriber, cadence: str | None, papers: int | None) -> None:
    if papers is not None:
        subscriber.papers = papers or None
    if cadence is not None and cadence != subscriber.cadence:
        subscriber.cadence = cadence
        reschedule(subscriber, now_utc())  # the stored next send may not be one of the new cadence's days


def _size(settings: Settings, subscriber: Subscriber) -> str:
    if subscriber.papers is None:
        return f"{settings.digest.max_papers} papers (the setting)"
    return f"{subscriber.papers} paper{'s' if subscriber.papers != 1 else ''}"


@click.command("unsubscribe")
@config_option
@click.argument("email")
@handles_errors
def unsubscribe_command(email: str) -> None:
    """Stop all mail to that address."""
    ctx = open_context()
    with transaction(ctx.sessions) as session:
        unsubscribe(get_subscriber(session, normalise_address(email)))
    click.echo(f"{email} will receive no more mail")


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def subscribers(as_json: bool) -> None:
    """List subscribers and their state."""
    ctx = open_context()
    with transaction(ctx.sessions) as session:
        print_subscribers(list_subscribers(session), as_json=as_json)
