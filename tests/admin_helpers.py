"""What the dashboard's tests share: a password with a cheap hash, logging in, CSRF tokens, and rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from conftest import NOW, make_settings
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from web_helpers import Clock, csrf_of

from digest.context import Context
from digest.store.db import upgrade
from digest.store.models import Delivery, Subscriber
from digest.web import create_app
from digest.web.admin.passwords import hash_password

SITE = "https://papers.example.org"
PASSWORD = "operator passphrase 1"
HASH = hash_password(PASSWORD, n=2**10)  # cheap for the tests; the command uses the full cost
TODAY = NOW.date()


@contextmanager
def admin_context(database_url: str, tmp_path: Path, password_hash: str = HASH) -> Iterator[Context]:
    context = Context.open(make_settings(database_url, tmp_path, admin={"password_hash": password_hash}))
    upgrade(context.engine)
    try:
        yield context
    finally:
        context.close()


@contextmanager
def admin_client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx, clock=Clock()), base_url=SITE) as test_client:
        yield test_client


def log_in(client: TestClient, password: str = PASSWORD) -> int:
    token = csrf_of(client.get("/admin/login").text)
    answer = client.post(
        "/admin/login", data={"csrf_token": token, "password": password}, follow_redirects=False
    )
    return answer.status_code


def swap_session(client: TestClient, value: str) -> None:
    client.cookies.clear()  # one cookie of that name, not the old one beside the new
    client.cookies.set("digest_admin", value, domain="papers.example.org", path="/admin")


def token(client: TestClient, page: str = "/admin") -> str:
    return csrf_of(client.get(page).text)


def person(session: Session, email: str, status: str = "active", **extra: object) -> Subscriber:
    row = Subscriber(email=email, status=status, send_hour=9, timezone="UTC", created_at=NOW, **extra)
    session.add(row)
    session.flush()
    return row


def delivery(session: Session, who: Subscriber, status: str, day: date = TODAY, **extra: object) -> Delivery:
    row = Delivery(
        subscriber_id=who.id, digest_date=day, status=status, created_at=NOW, updated_at=NOW, **extra
    )
    session.add(row)
    session.flush()
    return row
