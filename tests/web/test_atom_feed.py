"""The private Atom feed of a subscriber's picks: linked from every digest, the same papers as the email, each
with its reason, revoked with the subscriber's other links."""

from __future__ import annotations

import asyncio
import mailbox
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from conftest import NOW
from starlette.testclient import TestClient
from web_helpers import Clock, link_in, load_papers, mail_text, path_of

from digest.context import Context
from digest.delivery.send import send_due
from digest.mail.transports import MaildirTransport
from digest.rank import parse_interests
from digest.store.db import transaction
from digest.store.subscribers import add_subscriber, find_subscriber, unsubscribe
from digest.web import create_app


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx, clock=Clock()), base_url="https://papers.example.org") as test_client:
        yield test_client


def _digest(ctx: Context) -> bytes:
    load_papers(ctx)
    with transaction(ctx.sessions) as session:
        add_subscriber(session, "ada@example.org", parse_interests("language models; agents"),
                       send_hour=0, timezone="UTC", now=NOW, confirmed=True)  # fmt: skip
    transport = MaildirTransport(Path(ctx.settings.mail.maildir))
    report = asyncio.run(send_due(ctx, transport, NOW, digest_date=NOW.date()))
    assert report.counts == {"sent": 1}
    (message,) = mailbox.Maildir(ctx.settings.mail.maildir).values()
    return bytes(message)


def test_the_digests_feed_link_gives_its_papers_with_their_reasons(ctx: Context, client: TestClient) -> None:
    mail = _digest(ctx)
    answer = client.get(path_of(link_in(mail, "feed")))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title.endswith("ada@example.org") and parsed.feed.id.startswith(
        "tag:papers.example.org,"
    )
    text = mail_text(mail)
    assert parsed.entries and len({e.id for e in parsed.entries}) == len(parsed.entries)
    for entry in parsed.entries:
        assert " ".join(entry.title.split()[:4]) in " ".join(text.split())  # the email's papers
        assert entry.summary.startswith("Why: ") and entry.link.startswith("https://")
        assert entry.updated and entry.authors


def test_the_feed_link_is_revoked_with_the_other_links(ctx: Context, client: TestClient) -> None:
    path = path_of(link_in(_digest(ctx), "feed"))
    assert client.get(path).status_code == 200
    with transaction(ctx.sessions) as session:
        subscriber = find_subscriber(session, "ada@example.org")
        assert subscriber is not None
        unsubscribe(subscriber)
    assert client.get(path).status_code == 404
    assert client.get("/feed/forged").status_code == 404


def test_the_manage_page_links_to_the_feed(ctx: Context, client: TestClient) -> None:
    mail = _digest(ctx)
    page = client.get(path_of(link_in(mail, "manage")))
    assert "/feed/" in page.text and "your private feed" in page.text
