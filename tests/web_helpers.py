"""Helpers shared by the web and subscription tests: papers, a movable clock, links out of real mail."""

from __future__ import annotations

import email
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from email.policy import default as default_policy

from conftest import FIXTURES, NOW
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from digest import sources
from digest.context import Context
from digest.store.db import transaction
from digest.store.papers import upsert_papers

LINK = re.compile(r"https?://[^\s\"<>]+/(confirm|manage|unsubscribe|digest|feedback|feed)/[A-Za-z0-9_.\-]+")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Clock:
    """The app's and the services' `now`, moved by the test (tokens keep the real clock)."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def load_papers(ctx: Context, at: datetime = NOW) -> None:
    parsed = sources.parse("hf_daily", (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes())
    with transaction(ctx.sessions) as session:
        upsert_papers(session, parsed.papers, at)


def parse_mail(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=default_policy)


def mail_text(data: bytes) -> str:
    message = parse_mail(data)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(data: bytes, purpose: str) -> str:
    """The first link of that purpose in the mail's text part (a full URL)."""
    for match in LINK.finditer(mail_text(data)):
        if match.group(1) == purpose:
            return match.group(0)
    raise AssertionError(f"no {purpose} link in the mail")


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "the page has no CSRF field"
    return match.group(1)


class _OldSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(datetime.now().timestamp()) - 31 * 86400


def expired_token(secret: str, purpose: str, subscriber_id: int, version: int) -> str:
    """A token signed exactly as digest.tokens signs, but 31 days ago (no clock patching)."""
    serializer = URLSafeTimedSerializer(
        secret, salt=f"digest.{purpose}", signer=_OldSigner, signer_kwargs={"digest_method": hashlib.sha256}
    )
    return str(serializer.dumps([subscriber_id, version]))
