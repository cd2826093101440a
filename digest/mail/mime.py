"""Build the bytes of one digest message from a rendered email, with the headers inbox providers expect.

Headers go through the standard library's header registry (never string concatenation), with a policy that
allows 998-character lines: the default 78 would fold a long List-Unsubscribe URL into RFC 2047 encoded
words, which Gmail and Outlook then ignore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr

from digest.errors import DeliveryError
from digest.records import RenderedEmail

# SMTP line endings; the generator still checks that no header it writes carries a line break. The parts
# are encoded under the plain SMTP policy, because the body encoder takes its line length from the message's
# policy too, and quoted-printable lines must stay within 76 characters.
POLICY = policy.SMTP.clone(max_line_length=998)
_BODY_POLICY = policy.SMTP
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# Characters no header value we write may contain: line breaks of any kind, and NUL.
_BREAKS = re.compile(r"[\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_URL_UNSAFE = re.compile(r"[\s<>,\"]")


@dataclass(frozen=True, slots=True)
class Sender:
    """Who the digest comes from, and the list headers that go with it."""

    address: str
    name: str
    reply_to: str | None = None
    # RFC 2919: a bare id ("digest.example.org", shown after `name`) or a whole value
    # ("Name <digest.example.org>"); empty means "digest.<sender's domain>".
    list_id: str = ""
    unsubscribe_mailto: str | None = None  # e.g. "mailto:unsubscribe@example.org?subject=unsubscribe"

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


def message_id(subscriber_id: int, digest_date: date, domain: str) -> str:
    """The same id for the same subscriber and date, so a resend is recognisable as the same digest."""
    if not _DOMAIN.fullmatch(domain):
        raise DeliveryError(f"not a usable Message-ID domain: {domain!r}", permanent=True)
    return f"<digest.{digest_date:%Y%m%d}.{subscriber_id}@{domain.lower()}>"


def build_message(
    rendered: RenderedEmail,
    *,
    sender: Sender,
    to: str,
    message_id: str,
    unsubscribe_url: str,
    when: datetime,
) -> bytes:
    """multipart/alternative (text, then HTML) in UTF-8, with RFC 8058 one-click unsubscribe headers.

    Raises DeliveryError(permanent=True) when any header value carries a line break or is malformed: no
    retry can fix the same input.
    """
    _refuse_breaks(
        subject=rendered.subject,
        to=to,
        message_id=message_id,
        unsubscribe_url=unsubscribe_url,
        sender_address=sender.address,
        sender_name=sender.name,
        reply_to=sender.reply_to or "",
        list_id=sender.list_id,
        unsubscribe_mailto=sender.unsubscribe_mailto or "",
    )
    if when.tzinfo is None:
        raise DeliveryError("the message date must carry a time zone", permanent=True)
    try:
        message = _headers(
            rendered.subject, sender, to=to, message_id=message_id, unsubscribe_url=unsubscribe_url, when=when
        )
        message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
        message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
        for part in message.iter_parts():
            # add_alternative leaves a stray copy on the parts; it belongs on the top level only.
            del part["MIME-Version"]
        return message.as_bytes(policy=POLICY)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise DeliveryError(f"cannot build a message to {to!r}: {exc}", permanent=True) from exc


def _headers(
    subject: str, sender: Sender, *, to: str, message_id: str, unsubscribe_url: str, when: datetime
) -> EmailMessage:
    message = EmailMessage(policy=_BODY_POLICY)
    message["Subject"] = subject
    message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    message["To"] = Address(addr_spec=to)
    if sender.reply_to:
        message["Reply-To"] = Address(addr_spec=sender.reply_to)
    message["Date"] = when
    message["Message-ID"] = message_id
    message["List-Id"] = _list_id(sender)
    message["List-Unsubscribe"] = _list_unsubscribe(unsubscribe_url, sender.unsubscribe_mailto)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _list_id(sender: Sender) -> str:
    if "<" in sender.list_id:
        return sender.list_id
    return formataddr((sender.name, sender.list_id or f"digest.{sender.domain}"))


def _list_unsubscribe(url: str, mailto: str | None) -> str:
    if not url.startswith(("https://", "http://")) or _URL_UNSAFE.search(url):
        raise DeliveryError(f"not a usable unsubscribe URL: {url!r}", permanent=True)
    if mailto and (not mailto.startswith("mailto:") or _URL_UNSAFE.search(mailto)):
        raise DeliveryError(f"not a usable unsubscribe mailto: {mailto!r}", permanent=True)
    # RFC 8058 wants the https URI; the mailto is an extra for clients that only know RFC 2369.
    return ", ".join(f"<{uri}>" for uri in (url, mailto) if uri)


def _refuse_breaks(**values: str) -> None:
    for name, value in values.items():
        if _BREAKS.search(value):
            raise DeliveryError(f"{name} contains a line break; no header is built from it", permanent=True)
