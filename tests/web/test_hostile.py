"""What an attacker sends the web front: addresses the mail builder cannot write, forged token payloads,
hostile links in feeds, a forged Host header. Each must get a clear 4xx (or a safe page), never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from web_helpers import Clock, csrf_of

from digest.context import Context
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
