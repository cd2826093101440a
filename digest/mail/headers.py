"""What both message builders share (`mime.build_message` and `mime_template.MessageTemplate`): the
sender, the header policy, the Message-ID, and the checks every header value passes.

Headers go through the standard library's header registry (never string concatenation), with a policy that
allows 998-character lines: the default 78 would fold a long List-Unsubscribe URL into RFC 2047 encoded
words, which Gmail and Outlook then ignore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email import policy
from email.utils import formataddr

from digest.config import Settings
from digest.errors import DeliveryError

# SMTP line endings; the generator still checks that no header it writes carries a line break. The parts
# are encoded under the plain SMTP policy, because the body encoder takes its line length from the message's
# policy too, and quoted-printable lines must stay within 76 characters.
POLICY = policy.SMTP.clone(max_line_length=998)
BODY_POLICY = policy.SMTP
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

    @classmethod
    def from_settings(cls, settings: Settings) -> Sender:
        mail = settings.mail
        return cls(
            address=mail.from_address,
            name=mail.from_name,
            reply_to=mail.reply_to,
            list_id=mail.list_id,
            unsubscribe_mailto=mail.unsubscribe_mailto,
        )

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


def message_id(subscriber_id: int, digest_date: date, domain: str) -> str:
    """The same id for the same subscriber and date, so a resend is recognisable as the same digest."""
    if not _DOMAIN.fullmatch(domain):
        raise DeliveryError(f"not a usable Message-ID domain: {domain!r}", permanent=True)
    return f"<digest.{digest_date:%Y%m%d}.{subscriber_id}@{domain.lower()}>"


def list_id(sender: Sender) -> str:
    if "<" in sender.list_id:
        return sender.list_id
    return formataddr((sender.name, sender.list_id or f"digest.{sender.domain}"))


def list_unsubscribe(url: str, mailto: str | None) -> str:
    if not url.startswith(("https://", "http://")) or _URL_UNSAFE.search(url):
        raise DeliveryError(f"not a usable unsubscribe URL: {url!r}", permanent=True)
    if mailto and (not mailto.startswith("mailto:") or _URL_UNSAFE.search(mailto)):
        raise DeliveryError(f"not a usable unsubscribe mailto: {mailto!r}", permanent=True)
    # RFC 8058 wants the https URI; the mailto is an extra for clients that only know RFC 2369.
    return ", ".join(f"<{uri}>" for uri in (url, mailto) if uri)


def refuse_breaks(**values: str) -> None:
    for name, value in values.items():
        if _BREAKS.search(value):
            raise DeliveryError(f"{name} contains a line break; no header is built from it", permanent=True)
