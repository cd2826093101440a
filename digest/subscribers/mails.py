"""The two mails the web front sends on request: the confirmation and a fresh manage link.

Both are built (rendered, MIME-encoded) inside the request's transaction and handed to a transport
afterwards, so the page can answer before any SMTP traffic and answer the same whatever was decided.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digest.context import Context
from digest.errors import DeliveryError
from digest.mail.compose import Links
from digest.mail.headers import Sender
from digest.mail.mime import build_message
from digest.mail.transports import Transport
from digest.records import RenderedEmail
from digest.resources import resource_path
from digest.store.db import transaction
from digest.store.models import Subscriber
from digest.store.subscribers import interests_text, release_mail_slot
from digest.tokens import Purpose

log = logging.getLogger(__name__)
# At most one mail a day to an address from the web (subscription bombing: listmonk #3229).
MAIL_COOLDOWN = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Mail:
    """A message ready to hand to a transport, and the slot it took (given back if sending fails)."""

    subscriber_id: int
    recipient: str
    message: bytes
    slot_taken_at: datetime


def _message_id(subscriber_id: int, kind: str, domain: str) -> str:
    # Unique per mail: unlike a digest, a confirmation sent again is a new message.
    return f"<{kind}.{subscriber_id}.{secrets.token_hex(8)}@{domain}>"


def _build(ctx: Context, subscriber: Subscriber, rendered: RenderedEmail, kind: str, now: datetime) -> Mail:
    links = Links(ctx.settings, ctx.tokens, subscriber)
    mail_sender = Sender.from_settings(ctx.settings)
    message = build_message(
        rendered, sender=mail_sender, to=subscriber.email,
        message_id=_message_id(subscriber.id, kind, mail_sender.domain),
        unsubscribe_url=links.unsubscribe, when=now,
    )  # fmt: skip
    return Mail(subscriber.id, subscriber.email, message, now)


def confirmation_mail(ctx: Context, subscriber: Subscriber, now: datetime) -> Mail:
    links = Links(ctx.settings, ctx.tokens, subscriber)
    rendered = ctx.renderer.confirmation(
        subscriber.email,
        links.url(Purpose.CONFIRM),
        "; ".join(interests_text(subscriber).splitlines()),
        ctx.settings.mail.postal_address,
    )
    return _build(ctx, subscriber, rendered, "confirm", now)


def manage_link_mail(ctx: Context, subscriber: Subscriber, now: datetime) -> Mail:
    links = Links(ctx.settings, ctx.tokens, subscriber)
    rendered = _render_manage_link(
        email=subscriber.email,
        manage_url=links.url(Purpose.MANAGE),
        unsubscribe_url=links.unsubscribe,
        postal_address=ctx.settings.mail.postal_address,
    )
    return _build(ctx, subscriber, rendered, "manage", now)


def _render_manage_link(**context: str) -> RenderedEmail:
    env = _mail_templates()
    subject = " ".join(env.get_template("manage_link.subject.txt").render(**context).split())
    text = env.get_template("manage_link.txt").render(**context)
    html = env.get_template("manage_link.html").render(subject=subject, **context)
    return RenderedEmail(subject, text, html)


def _mail_templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(resource_path("templates") / "web" / "mail"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


async def deliver_mail(ctx: Context, open_transport: Callable[[], Transport], mail: Mail) -> bool:
    """Hand the mail over; on failure give the address its slot back so a retry can send."""
    transport = open_transport()
    try:
        await transport.send(ctx.settings.mail.from_address, mail.recipient, mail.message)
    except DeliveryError as exc:
        log.warning("could not send a web mail to subscriber %s: %s", mail.subscriber_id, exc)
        with transaction(ctx.sessions) as session:
            release_mail_slot(session, mail.subscriber_id, mail.slot_taken_at)
        return False
    finally:
        await transport.close()
    return True
