"""Asking for a manage link (or subscribing) answers before looking the address up: the work done before
the answer is the same whether the address is subscribed or unknown, so its timing tells nothing.

The work is measured, not the time: the SQL statements run before the ASGI response starts, through a
direct ASGI call whose `send` notes the moment the status line goes out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient
from starlette.types import Message
from web_helpers import Clock, csrf_of

from digest.context import Context
from digest.rank import parse_interests
from digest.store.db import transaction
from digest.store.subscribers import add_subscriber
from digest.web import create_app
from digest.web.ratelimit import WebLimits

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SITE = "https://papers.example.org"
KNOWN, UNKNOWN = "known@example.org", "nobody@example.org"
ROOMY = WebLimits(subscribe_per_ip_per_hour=1000, subscribe_per_address_per_hour=1000)


@pytest.fixture
def app(ctx: Context) -> Any:
    with transaction(ctx.sessions) as session:
        add_subscriber(
            session,
            KNOWN,
            parse_interests("robots"),
            send_hour=7,
            timezone="UTC",
            now=Clock().now,
            confirmed=True,
        )
    return create_app(ctx, clock=Clock(), limits=ROOMY)


@pytest.fixture
def statements(ctx: Context) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", note)
    yield seen
    event.remove(ctx.engine, "before_cursor_execute", note)


def _post(
    app: Any, path: str, body: bytes, headers: dict[str, str], seen: list[str]
) -> tuple[int, list[str]]:
    """POST through the app; (status, the statements run before the response started)."""
    before: list[str] = []
    status = 0
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {**headers, "host": "papers.example.org",
                    "content-length": str(len(body))}.items()],
        "client": ("192.0.2.1", 1234), "server": ("papers.example.org", 443),
    }  # fmt: skip
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            before.extend(seen)

    seen.clear()
    asyncio.run(app(scope, receive, send))
    return status, before


def _mails(ctx: Context) -> int:
    new = Path(ctx.settings.mail.maildir) / "new"
    return len(list(new.iterdir())) if new.exists() else 0


def test_the_api_does_the_same_work_before_answering_for_a_known_and_an_unknown_address(
    app: Any, ctx: Context, statements: list[str]
) -> None:
    answers = {
        address: _post(app, "/api/manage-link", json.dumps({"email": address}).encode(),
                       {"content-type": "application/json"}, statements)
        for address in (KNOWN, UNKNOWN)
    }  # fmt: skip
    assert answers[KNOWN][0] == answers[UNKNOWN][0] == 202
    assert answers[KNOWN][1] == answers[UNKNOWN][1]
    assert _mails(ctx) == 1  # the known address still gets its link, after the answer


def test_the_page_does_the_same_work_before_answering_for_a_known_and_an_unknown_address(
    app: Any, ctx: Context, statements: list[str]
) -> None:
    with TestClient(app, base_url=SITE) as client:
        token = csrf_of(client.get("/manage-link").text)
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    answers = {
        address: _post(app, "/manage-link", f"csrf_token={token}&email={address}".encode(),
                       {"content-type": "application/x-www-form-urlencoded", "cookie": cookie}, statements)
        for address in (KNOWN, UNKNOWN)
    }  # fmt: skip
    assert answers[KNOWN][0] == answers[UNKNOWN][0] == 303
    assert answers[KNOWN][1] == answers[UNKNOWN][1]
    assert _mails(ctx) == 1
