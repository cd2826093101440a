"""The dashboard's door, on SQLite and PostgreSQL: 404 until a password hash is set, the login and its
rate limit, the session cookie, CSRF on every POST, and `digest admin set-password`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from admin_helpers import (
    HASH,
    PASSWORD,
    SITE,
    TODAY,
    admin_client,
    admin_context,
    delivery,
    log_in,
    person,
    swap_session,
    token,
)  # fmt: skip
from click.testing import CliRunner
from conftest import NOW, make_settings
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.testclient import TestClient
from web_helpers import csrf_of

from digest.cli.main import main
from digest.context import Context
from digest.errors import ConfigError
from digest.store.db import transaction
from digest.store.models import Delivery, Source, Subscriber
from digest.store.schedule import fetch_due_at
from digest.web import create_app
from digest.web.admin.passwords import hash_password, verify_password

PAGES = ("/admin", "/admin/deliveries", "/admin/subscribers", "/admin/sources")
POSTS = (
    "/admin/logout", "/admin/deliveries/resend", "/admin/subscribers/1/pause", "/admin/sources/arxiv/fetch",
)  # fmt: skip


@pytest.fixture
def admin_ctx(database_url: str, tmp_path: Path) -> Iterator[Context]:
    with admin_context(database_url, tmp_path) as context:
        yield context


@pytest.fixture
def client(admin_ctx: Context) -> Iterator[TestClient]:
    with admin_client(admin_ctx) as test_client:
        yield test_client


def test_every_page_and_action_is_behind_the_login(client: TestClient) -> None:
    for page in PAGES:
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 302 and answer.headers["location"] == "/admin/login", page
    for action in POSTS:
        assert client.post(action, data={}, follow_redirects=False).status_code == 401, action
    assert log_in(client) == 303
    for page in PAGES:
        assert client.get(page).status_code == 200, page


def test_the_dashboard_does_not_exist_until_a_password_hash_is_set(ctx: Context) -> None:
    with TestClient(create_app(ctx), base_url=SITE) as plain:
        for page in (*PAGES, "/admin/login"):
            assert plain.get(page, follow_redirects=False).status_code == 404, page
        for action in (*POSTS, "/admin/login"):
            assert plain.post(action, data={"password": ""}).status_code == 404, action


def test_a_wrong_password_is_refused_and_guessing_is_rate_limited(client: TestClient) -> None:
    for _ in range(5):  # [admin] login_per_ip_per_minute
        assert log_in(client, "not the password") == 401
    assert "digest_admin" not in client.cookies
    assert log_in(client) == 429  # even the right one, until the minute has passed
    assert client.get("/admin", follow_redirects=False).status_code == 302


def test_the_login_form_needs_its_csrf_token(client: TestClient) -> None:
    client.get("/admin/login")
    answer = client.post("/admin/login", data={"password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 403 and "digest_admin" not in client.cookies


def test_the_session_cookie_is_strict_signed_and_expires(client: TestClient, admin_ctx: Context) -> None:
    token_value = csrf_of(client.get("/admin/login").text)
    answer = client.post(
        "/admin/login", data={"csrf_token": token_value, "password": PASSWORD}, follow_redirects=False
    )
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and "digest_admin=" in v)
    for part in ("HttpOnly", "SameSite=strict", "Secure", "Path=/admin", f"Max-Age={12 * 3600}"):
        assert part.lower() in cookie.lower(), part
    value = client.cookies["digest_admin"]
    swap_session(client, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert client.get("/admin", follow_redirects=False).status_code == 302  # tampered

    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(datetime.now().timestamp()) - 13 * 3600

    fingerprint = hashlib.sha256(f"digest.admin:{HASH}".encode()).hexdigest()[:32]
    old = URLSafeTimedSerializer(admin_ctx.secret_key, salt="digest.admin.session", signer=Old).dumps(
        fingerprint
    )
    swap_session(client, old)
    assert client.get("/admin", follow_redirects=False).status_code == 302  # older than session_hours
    fresh = URLSafeTimedSerializer(admin_ctx.secret_key, salt="digest.admin.session").dumps(fingerprint)
    swap_session(client, fresh)
    assert client.get("/admin", follow_redirects=False).status_code == 200  # the same, signed now


def test_a_new_password_ends_the_old_sessions(admin_ctx: Context, tmp_path: Path) -> None:
    with admin_client(admin_ctx) as first:
        assert log_in(first) == 303
        kept = first.cookies["digest_admin"]
    url = admin_ctx.engine.url.render_as_string(hide_password=False)
    renewed = hash_password("another passphrase", n=2**10)
    with admin_context(url, tmp_path, renewed) as other, admin_client(other) as second:
        swap_session(second, kept)
        assert second.get("/admin", follow_redirects=False).status_code == 302


def test_logging_out_ends_the_session(client: TestClient) -> None:
    log_in(client)
    answer = client.post("/admin/logout", data={"csrf_token": token(client)}, follow_redirects=False)
    assert answer.status_code == 303 and "digest_admin" not in client.cookies
    assert client.get("/admin", follow_redirects=False).status_code == 302


def test_every_action_refuses_a_post_without_its_csrf_token(client: TestClient, admin_ctx: Context) -> None:
    with transaction(admin_ctx.sessions) as session:
        who = person(session, "a@example.org")
        delivery(session, who, "unknown")
        session.add(
            Source(
                name="arxiv",
                kind="arxiv_rss",
                url="https://x.invalid",
                next_fetch_at=NOW + timedelta(hours=5),
            )
        )
    log_in(client)
    for action in (
        "/admin/deliveries/resend",
        f"/admin/subscribers/{who.id}/pause",
        "/admin/sources/arxiv/fetch",
        "/admin/logout",
    ):
        assert client.post(action, data={"day": TODAY.isoformat()}).status_code == 403, action
    with transaction(admin_ctx.sessions) as session:
        assert session.get(Subscriber, who.id).status == "active"  # type: ignore[union-attr]
        assert session.query(Delivery).one().status == "unknown"
        assert fetch_due_at(session, ["arxiv"], NOW) == {}
    assert client.get("/admin").status_code == 200  # and still logged in


def test_a_damaged_password_hash_stops_the_app_at_start(ctx: Context, tmp_path: Path) -> None:
    broken = make_settings(ctx.settings.database.url, tmp_path, admin={"password_hash": "scrypt$1$2"})
    with pytest.raises(ConfigError, match=r"admin\.password_hash"):
        create_app(Context.open(broken))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_set_password_reads_standard_input_and_prints_a_hash(database_url: str) -> None:
    done = CliRunner().invoke(main, ["admin", "set-password"], input="a long passphrase\n")
    assert done.exit_code == 0, done.output
    printed = done.stdout.strip()
    assert printed.startswith("scrypt$131072$8$1$") and verify_password("a long passphrase", printed)
    assert not verify_password("a long passphrase ", printed)
    short = CliRunner().invoke(main, ["admin", "set-password"], input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.stderr
