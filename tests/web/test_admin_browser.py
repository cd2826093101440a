"""The operator's path through the dashboard in Debian's Chromium (Playwright) against uvicorn on
127.0.0.1: login -> overview -> deliveries (resend) -> subscribers (pause). Saves docs/screenshots/admin-*.png
for the README."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from admin_helpers import HASH, PASSWORD
from conftest import make_settings
from live_server import LiveServer
from sqlalchemy import insert

from digest.context import Context
from digest.store.db import transaction, upgrade
from digest.store.models import Delivery, Interest, Source, Subscriber
from digest.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
STATES = ("active",) * 16 + ("paused", "paused", "pending", "bouncing", "unsubscribed")

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is required under CI (.ci/run installs Debian's chromium)", pytrace=False)
    pytest.skip(f"browser tests skipped: no {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402 - after the skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _outcome(person: int, back: int) -> tuple[str, int, str | None]:
    """A plausible ledger: mostly sent, a few refusals, retries and lost connections."""
    if person == 3 and back in (0, 4):
        return "failed", 1, "550 5.1.1 <reader3@example.org>: Recipient address rejected: User unknown"
    if person == 5 and back == 0:
        return "retry", 2, "451 4.7.1 Greylisted, please try again later"
    if person in (7, 8) and back == 0:
        return "unknown", 1, "the connection closed after DATA was sent"
    return "sent", 1, None


def _seed(ctx: Context, now: datetime) -> None:
    people, topics, ledger = [], [], []
    for i, status in enumerate(STATES, start=1):
        due = now + timedelta(hours=i % 9 + 1) if status == "active" else None
        people.append({"id": i, "email": f"reader{i}@example.org", "status": status, "send_hour": 7,
                       "timezone": "UTC", "token_version": 1, "bounce_count": int(i == 3), "created_at": now,
                       "next_send_at": due})  # fmt: skip
        topics.append({"subscriber_id": i, "position": 0, "query": f'"diffusion models" robots {i}'})
        for back in range(12 if status in ("active", "paused", "bouncing") else 0):
            status_, attempts, error = _outcome(i, back)
            ledger.append({"subscriber_id": i, "digest_date": (now - timedelta(days=back)).date(),
                           "status": status_, "attempts": attempts, "last_error": error,
                           "created_at": now, "updated_at": now})  # fmt: skip
    with transaction(ctx.sessions) as session:
        session.execute(insert(Subscriber), people)
        session.execute(insert(Interest), topics)
        session.execute(insert(Delivery), ledger)
        session.add(Source(name="arxiv", kind="arxiv_rss", url="https://rss.arxiv.org/rss/cs.CL",
                           last_fetch_at=now - timedelta(hours=2), last_outcome="ok", last_new=412,
                           next_fetch_at=now + timedelta(hours=22)))  # fmt: skip


def _shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"), full_page=True)


def _walk(page: Page, url: str) -> None:
    page.goto(url + "/admin")
    expect(page).to_have_url(url + "/admin/login")
    page.fill("#password", "not it")
    page.click("button[type=submit]")
    expect(page.locator("#password-error")).to_have_text("That is not the password.")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(url + "/admin")
    expect(page.locator("#states")).to_contain_text("active")
    expect(page.locator("#daily-chart rect.bar-failed")).to_have_count(2)
    _shoot(page, "overview")
    page.click("nav.admin >> text=Deliveries")
    expect(page.locator("#troubled")).to_contain_text("Recipient address rejected")
    page.locator("#troubled tr", has_text="reader7@").locator("text=Resend").click()
    expect(page.locator(".notice")).to_contain_text("1 digest marked pending again")
    _shoot(page, "deliveries")
    page.click("nav.admin >> text=Subscribers")
    page.fill("#q", "reader1")
    page.click("#go")
    expect(page.locator("#found")).to_contain_text("found")
    page.locator("#subscribers tr", has_text="reader12@").locator("button", has_text="Pause").click()
    expect(page.locator("#subscribers tr", has_text="reader12@")).to_contain_text("paused")
    _shoot(page, "subscribers")


def test_the_operator_logs_in_and_walks_the_dashboard(browser: Browser, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with LiveServer() as server:
        settings = make_settings(
            f"sqlite:///{tmp_path / 'admin.db'}", tmp_path, web={"base_url": server.url},
            admin={"password_hash": HASH},
        )  # fmt: skip
        ctx = Context.open(settings)
        upgrade(ctx.engine)
        _seed(ctx, now)
        server.serve(create_app(ctx))
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        _walk(context.new_page(), server.url)
        context.close()
        with transaction(ctx.sessions) as session:
            assert session.get(Subscriber, 12).status == "paused"  # type: ignore[union-attr]
            resent = session.query(Delivery).filter_by(subscriber_id=7, digest_date=now.date()).one()
            assert resent.status == "pending"
        ctx.close()
