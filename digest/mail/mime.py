"""Build the bytes of one digest message from a rendered email, with the headers inbox providers expect
(`headers`); the reference that `mime_template.MessageTemplate` is tested byte-equal against."""

from __future__ import annotations

from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage

from digest.errors import DeliveryError
from digest.mail.headers import BODY_POLICY, POLICY, Sender, list_id, list_unsubscribe, refuse_breaks
from digest.records import RenderedEmail


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
    refuse_breaks(
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
    message = EmailMessage(policy=BODY_POLICY)
    message["Subject"] = subject
    message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    message["To"] = Address(addr_spec=to)
    if sender.reply_to:
        message["Reply-To"] = Address(addr_spec=sender.reply_to)
    message["Date"] = when
    message["Message-ID"] = message_id
    message["List-Id"] = list_id(sender)
    message["List-Unsubscribe"] = list_unsubscribe(unsubscribe_url, sender.unsubscribe_mailto)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message
