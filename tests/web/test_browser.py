"""A real reader's path in Debian's Chromium, driven by Playwright against the app served by uvicorn on
127.0.0.1, with the confirmation mail going to a real aiosmtpd server. Saves the README's screenshots."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import make_settings
from live_server import LiveServer
from smtp_sink import SmtpSink
from web_helpers import link_in, load_papers, parse_mail

from digest.context import Context
from digest.delivery.send import send_due
from digest.mail.transports import SmtpTransport
from digest.store.db import transaction, upgrade
from digest.store.subscribers import find_subscriber, interests_text
from digest.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ADDRESS = "ada@example.org"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

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


def _wait_for_mail(sink: SmtpSink, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(sink.received) < count:
        assert time.monotonic() < deadline, "the confirmation mail did not arrive within 10 s"
        time.sleep(0.05)


def _subscribe(page: Page, url: str) -> None:
    page.goto(url + "/")
    # The page's one script took the time zone from the browser (the context runs in Tokyo).
    expect(page.locator("#timezone")).to_have_value("Asia/Tokyo")
    page.fill("#email", ADDRESS)
    page.fill("#interests", '"speculative decoding"\nrobot learning cat:cs.RO')
    page.select_option("#send_hour", "8")
    expect(page.locator("#preview li").first).to_contain_text("VIA-SD")  # the live preview
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#interests").blur()  # no focus ring in the picture
    page.screenshot(path=str(SCREENSHOTS / "subscribe.png"), full_page=True)
    page.click("button[value=subscribe]")
    expect(page).to_have_url(url + "/subscribed")
    expect(page.locator("h1")).to_have_text("Check your inbox")


def _manage(page: Page) -> None:
    expect(page.locator(".notice")).to_contain_text("You are subscribed")
    page.fill("#interests", "robots cat:cs.XX")
    page.click("button[value=save]")
    expect(page.locator("#interests-error")).to_contain_text("not an arXiv category")
    expect(page.locator("#interests")).to_have_attribute("aria-invalid", "true")
    page.fill("#interests", '"speculative decoding" -survey\ncat:cs.RO robot learning')
    page.select_option("#send_hour", "6")
    page.click("button[value=save]")
    expect(page.locator(".notice")).to_have_text("Saved.")
    page.screenshot(path=str(SCREENSHOTS / "manage.png"), full_page=True)


def _send_today(ctx: Context, sink: SmtpSink, *, dry_run: bool) -> list[str]:
    async def go() -> list[str]:
        transport = SmtpTransport(sink.host, sink.port, security="plain", timeout=10)
        try:
            now = datetime.now(UTC)
            report = await send_due(ctx, transport, now, digest_date=now.date(), dry_run=dry_run)
        finally:
            await transport.close()
        return [outcome.email for outcome in report.outcomes]

    # Playwright's sync API keeps an event loop on this thread; the pipeline gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result()


def test_a_reader_subscribes_confirms_manages_and_leaves_in_a_real_browser(
    browser: Browser, tmp_path: Path
) -> None:
    with SmtpSink() as sink, LiveServer() as server:
        settings = make_settings(
            f"sqlite:///{tmp_path / 'web.db'}", tmp_path, web={"base_url": server.url},
            mail={"transport": "smtp"}, smtp={"host": sink.host, "port": sink.port, "security": "plain"},
        )  # fmt: skip
        ctx = Context.open(settings)
        upgrade(ctx.engine)
        load_papers(ctx, datetime.now(UTC))
        server.serve(create_app(ctx))
        context = browser.new_context(timezone_id="Asia/Tokyo", viewport={"width": 960, "height": 900})
        page = context.new_page()

        _subscribe(page, server.url)
        _wait_for_mail(sink, 1)
        confirmation = sink.received[0]
        assert confirmation.recipients == (ADDRESS,)
        page.goto(link_in(confirmation.data, "confirm"))
        page.click("text=Confirm my subscription")  # a POST: the GET alone confirmed nothing
        _manage(page)
        with transaction(ctx.sessions) as session:
            row = find_subscriber(session, ADDRESS)
            assert row is not None and row.status == "active" and row.send_hour == 6
            assert interests_text(row) == '"speculative decoding" -survey\ncat:cs.RO robot learning'
        assert _send_today(ctx, sink, dry_run=True) == [ADDRESS]  # a digest would go out today

        header = str(parse_mail(confirmation.data)["List-Unsubscribe"]).strip()
        one_click = httpx.post(
            header.strip("<>"),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert one_click.status_code == 200 and "location" not in one_click.headers

        assert _send_today(ctx, sink, dry_run=False) == []
        assert len(sink.received) == 1  # the confirmation only: no digest after unsubscribing
        context.close()
        ctx.close()
