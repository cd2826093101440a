"""What an attacker sends the web front: addresses the mail builder cannot write, forged token payloads,
hostile links in feeds, a forged Host header. Each must get a clear 4xx (or a safe page), never a 500."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from conftest import NOW
from itsdangerous import URLSafeTimedSerializer
from starlette.testclient import TestClient
from web_helpers import Clock, csrf_of

from digest import sources
from digest.context import Context
from digest.delivery.send import preview
from digest.rank import parse_interests
from digest.store.db import transaction
from digest.store.papers import upsert_papers
from digest.store.subscribers import add_subscriber
from digest.web import create_app
from digest.web.ratelimit import WebLimits

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SITE = "https://papers.example.org"
ROOMY = WebLimits(subscribe_per_ip_per_hour=1000, subscribe_per_address_per_hour=1000)
GOOD = {"interests": '"speculative decoding"', "send_hour": "7", "timezone": "UTC"}
UNWRITABLE = [("üser@example.org", "before the @-sign"), ("=?utf-8?q?x?=@example.org", "mail header")]


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx, clock=Clock(), limits=ROOMY)
    with TestClient(app, base_url=SITE, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(("address", "says"), UNWRITABLE)
def test_an_address_the_mail_builder_cannot_write_gets_422(
    client: TestClient, address: str, says: str
) -> None:
    form = {"csrf_token": csrf_of(client.get("/").text), "email": address, **GOOD}
    page = client.post("/subscribe", data=form, follow_redirects=False)
    assert page.status_code == 422
    assert says in page.text
    api = client.post("/api/subscribe", json={"email": address, "interests": "robots"})
    assert api.status_code == 422
    assert api.json()["field"] == "email" and says in api.json()["detail"]
    link = client.post("/api/manage-link", json={"email": address})
    assert link.status_code == 422


HOSTILE_FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<link>https://example.org/</link><description>d</description>
<item><title>Speculative decoding for robots</title><link>javascript:alert(document.domain)</link>
<description>We study speculative decoding in robots.</description><guid>x1</guid>
<pubDate>Sat, 28 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>"""


def _hostile_paper(ctx: Context) -> None:
    parsed = sources.parse("feed", HOSTILE_FEED)
    with transaction(ctx.sessions) as session:
        upsert_papers(session, parsed.papers, NOW)


def test_a_feeds_javascript_link_is_dropped_from_the_preview_page_and_the_api(
    client: TestClient, ctx: Context
) -> None:
    _hostile_paper(ctx)
    api = client.post("/api/preview", json={"interests": '"speculative decoding"'})
    assert api.status_code == 200
    assert [paper["title"] for paper in api.json()["papers"]] == ["Speculative decoding for robots"]
    assert api.json()["papers"][0]["url"] is None
    form = {"csrf_token": csrf_of(client.get("/").text), "email": "", **GOOD, "action": "preview"}
    page = client.post("/subscribe", data=form)
    assert page.status_code == 200 and "Speculative decoding for robots" in page.text
    assert "javascript:" not in page.text.lower()


def test_a_feeds_javascript_link_is_dropped_from_both_parts_of_the_email(ctx: Context) -> None:
    _hostile_paper(ctx)
    with transaction(ctx.sessions) as session:
        add_subscriber(
            session, "reader@example.org", parse_interests('"speculative decoding"'),
            send_hour=7, timezone="UTC", now=NOW, confirmed=True,
        )  # fmt: skip
    shown = preview(ctx, "reader@example.org", NOW, None)
    assert "Speculative decoding for robots" in shown.rendered.text
    for part in (shown.rendered.html, shown.rendered.text):
        assert "javascript:" not in part.lower()
        assert 'href="#"' not in part  # dropped, not turned into a link to nowhere


@pytest.mark.parametrize("path", ["/subscribed/", "/manage-link/?x=1", "/manage/some-token/", "/nowhere/"])
def test_the_trailing_slash_redirect_goes_to_base_url_whatever_the_host_header(
    client: TestClient, path: str
) -> None:
    answer = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    if answer.status_code == 307:
        assert answer.headers["location"].startswith(f"{SITE}/")
        assert answer.headers["location"] == SITE + path.replace("/?", "?").rstrip("/")
    else:
        assert answer.status_code == 404
    assert "evil.example" not in answer.headers.get("location", "")


ODD_PAYLOADS = [[10**20, 1], "ab", [1], {}, [1, 2, 3], [True, 1], [1.5, 1], ["1", "1"], [1, -1], None]


def _signed(purpose: str, payload: object) -> str:
    # Signed with the app's own secret and salt: only the payload is odd, so only its check can refuse it.
    serializer = URLSafeTimedSerializer(
        "test-secret", salt=f"digest.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
    )
    return str(serializer.dumps(payload))


@pytest.mark.parametrize("payload", ODD_PAYLOADS, ids=repr)
def test_a_validly_signed_odd_payload_is_not_found(client: TestClient, payload: object) -> None:
    answers = {
        "GET /manage": client.get(f"/manage/{_signed('manage', payload)}"),
        "GET /api/manage": client.get(f"/api/manage/{_signed('manage', payload)}"),
        "POST /unsubscribe": client.post(f"/unsubscribe/{_signed('unsubscribe', payload)}"),
        "POST /api/unsubscribe": client.post(f"/api/unsubscribe/{_signed('unsubscribe', payload)}"),
        "GET /digest": client.get(f"/digest/{_signed('digest', payload)}"),
        "GET /confirm": client.get(f"/confirm/{_signed('confirm', payload)}"),
    }
    assert {route: answer.status_code for route, answer in answers.items()} == dict.fromkeys(answers, 404)
