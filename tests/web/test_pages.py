"""The HTML side of the web front through a real ASGI client: forms, links from the emails, CSRF, rate
limits, security headers. Mail goes to the Maildir of the test's settings; the database is a SQLite file
(the services underneath run on both backends in test_subscriptions.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from web_helpers import Clock, csrf_of, expired_token, link_in, load_papers, parse_mail, path_of

from digest.config import EXAMPLE_SECRET
from digest.context import Context
from digest.errors import ConfigError
from digest.store.db import transaction
from digest.store.models import Feedback, Subscriber, SubscriberStatus
from digest.store.subscribers import find_subscriber
from digest.tokens import Purpose
from digest.web import create_app
from digest.web.ratelimit import WebLimits

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SITE = "https://papers.example.org"
ADDRESS = "reader@example.org"
GOOD = {"interests": '"speculative decoding"', "send_hour": "7", "timezone": "Europe/Paris"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(ctx: Context, clock: Clock) -> Iterator[TestClient]:
    roomy = WebLimits(subscribe_per_ip_per_hour=1000, subscribe_per_address_per_hour=1000)
    with TestClient(create_app(ctx, clock=clock, limits=roomy), base_url=SITE) as test_client:
        yield test_client


def outbox(ctx: Context) -> list[bytes]:
    """The mails delivered so far, oldest first."""
    new = Path(ctx.settings.mail.maildir) / "new"
    files = sorted(new.iterdir(), key=lambda f: f.stat().st_mtime_ns) if new.exists() else []
    return [f.read_bytes() for f in files]


def status_of(ctx: Context, address: str = ADDRESS) -> str | None:
    with transaction(ctx.sessions) as session:
        row = find_subscriber(session, address, missing_ok=True)
        return None if row is None else row.status


def subscribe(client: TestClient, address: str = ADDRESS, **fields: str) -> Any:
    token = csrf_of(client.get("/").text)
    data = {"csrf_token": token, "email": address, **GOOD, **fields}
    return client.post("/subscribe", data=data, follow_redirects=False)


def confirmed(client: TestClient, ctx: Context) -> str:
    """Subscribe and press the confirm button; return the manage page's path."""
    subscribe(client)
    confirm = path_of(link_in(outbox(ctx)[-1], "confirm"))
    answer = client.post(
        confirm, data={"csrf_token": csrf_of(client.get(confirm).text)}, follow_redirects=False
    )
    assert answer.status_code == 303
    return str(answer.headers["location"]).split("?")[0]


def test_the_subscribe_page_is_a_labelled_form_with_a_csrf_token(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    for field in ("email", "interests", "send_hour", "timezone"):
        assert f'<label for="{field}"' in page.text and f'id="{field}"' in page.text
    assert 'name="csrf_token"' in page.text and '"speculative decoding"' in page.text  # syntax examples
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie


def test_subscribing_sends_one_confirmation_and_a_second_within_a_day_none(
    client: TestClient, ctx: Context, clock: Clock
) -> None:
    first = subscribe(client)
    assert (first.status_code, first.headers["location"]) == (303, "/subscribed")
    assert status_of(ctx) == SubscriberStatus.PENDING
    assert len(outbox(ctx)) == 1
    assert parse_mail(outbox(ctx)[0])["To"] == ADDRESS
    clock.advance(hours=20)
    subscribe(client)
    assert len(outbox(ctx)) == 1
    clock.advance(hours=5)
    subscribe(client)
    assert len(outbox(ctx)) == 2


def _put_in_state(ctx: Context, address: str, status: str) -> None:
    with transaction(ctx.sessions) as session:
        row = find_subscriber(session, address)
        assert row is not None
        row.status = status


def test_the_form_answers_the_same_whatever_the_address_state(client: TestClient, ctx: Context) -> None:
    states = ["pending", "active", "paused", "unsubscribed", "bouncing"]
    for number, state in enumerate(states):
        subscribe(client, f"known{number}@example.org")
        _put_in_state(ctx, f"known{number}@example.org", state)
    answers = set()
    for address in ["new@example.org", *(f"known{n}@example.org" for n in range(len(states)))]:
        answer = subscribe(client, address)
        page = client.get(answer.headers["location"])
        answers.add((answer.status_code, answer.headers["location"], answer.text, page.text))
    assert len(answers) == 1
    # Nothing changed either: a departed address only turns pending again when a confirmation can go out,
    # and within a day of its last mail none can.
    assert [status_of(ctx, f"known{n}@example.org") for n in range(len(states))] == states


def test_a_form_without_its_csrf_token_is_refused(client: TestClient, ctx: Context) -> None:
    client.get("/")
    data = {"email": ADDRESS, **GOOD}
    assert client.post("/subscribe", data=data).status_code == 403
    assert client.post("/subscribe", data={**data, "csrf_token": "0" * 64}).status_code == 403
    token = csrf_of(client.get("/").text)
    client.cookies.clear()  # a cross-site form cannot read the cookie, nor set it
    assert client.post("/subscribe", data={**data, "csrf_token": token}).status_code == 403
    assert status_of(ctx) is None and outbox(ctx) == []


def test_confirm_and_manage_forms_need_their_csrf_token_too(client: TestClient, ctx: Context) -> None:
    subscribe(client)
    confirm = path_of(link_in(outbox(ctx)[0], "confirm"))
    assert client.post(confirm, data={}).status_code == 403
    assert status_of(ctx) == SubscriberStatus.PENDING
    manage = confirmed(client, ctx)
    assert client.post(manage, data={"action": "pause"}).status_code == 403
    assert status_of(ctx) == SubscriberStatus.ACTIVE


def test_every_bad_field_is_shown_next_to_it_with_the_command_lines_message(client: TestClient) -> None:
    token = csrf_of(client.get("/").text)
    data = {
        "csrf_token": token,
        "email": "not-an-address",
        "interests": "-medical",
        "send_hour": "25",
        "timezone": "Mars/Olympus",
    }
    page = client.post("/subscribe", data=data)
    assert page.status_code == 422
    for field, message in [
        ("email", "is not a valid email address"),
        ("interests", "topic 1 (&#34;-medical&#34;): only exclusions; add a word"),
        ("send_hour", "the send hour must be a whole hour from 0 to 23"),
        ("timezone", "unknown time zone &#39;Mars/Olympus&#39;"),
    ]:
        shown = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page.text)
        assert shown is not None and message in shown.group(1), field
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page.text), field
    assert "not-an-address" in page.text  # what was typed is kept


def test_the_confirm_link_only_shows_a_button_and_the_button_confirms(
    client: TestClient, ctx: Context
) -> None:
    subscribe(client)
    confirm = path_of(link_in(outbox(ctx)[0], "confirm"))
    page = client.get(confirm)
    assert page.status_code == 200 and f'action="{confirm}"' in page.text and 'method="post"' in page.text
    assert status_of(ctx) == SubscriberStatus.PENDING
    answer = client.post(confirm, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/manage/")
    assert status_of(ctx) == SubscriberStatus.ACTIVE
    assert "You are subscribed" in client.get(answer.headers["location"]).text


def _snapshot(ctx: Context) -> list[tuple[object, ...]]:
    with transaction(ctx.sessions) as session:
        people = [
            (
                s.id,
                s.status,
                s.send_hour,
                s.timezone,
                s.token_version,
                s.confirm_sent_at,
                s.next_send_at,
                tuple(i.query for i in s.interests),
            )
            for s in session.query(Subscriber)
        ]
        votes = [(f.paper_id, f.vote) for f in session.query(Feedback)]
    return [*people, *votes]


def test_no_get_changes_anything(client: TestClient, ctx: Context) -> None:
    load_papers(ctx)
    subscribe(client, "pending@example.org")
    confirm_link = path_of(link_in(outbox(ctx)[0], "confirm"))
    manage = confirmed(client, ctx)
    with transaction(ctx.sessions) as session:
        row = find_subscriber(session, ADDRESS)
        assert row is not None
        token = {
            p: ctx.tokens.make(p, row.id, row.token_version) for p in ("unsubscribe", "digest", "feedback")
        }
    before = _snapshot(ctx)
    paths = [
        confirm_link,
        manage,
        f"/unsubscribe/{token[Purpose.UNSUBSCRIBE]}",
        f"/digest/{token[Purpose.DIGEST]}",
        f"/feedback/{token[Purpose.FEEDBACK]}?paper=1&vote=more",
        "/",
        "/manage-link",
        "/subscribed",
    ]
    for path in paths:
        assert client.get(path).status_code in (200, 404), path
        assert client.head(path).status_code in (200, 404, 405), path
    assert _snapshot(ctx) == before


def test_one_click_unsubscribe_works_with_exactly_what_gmail_sends(client: TestClient, ctx: Context) -> None:
    confirmed(client, ctx)
    header = parse_mail(outbox(ctx)[0])["List-Unsubscribe"]
    url = re.search(r"<(https://[^>]+)>", str(header))
    assert url is not None
    # RFC 8058 section 3.1: a POST with this body and content type, no cookie, no other context.
    bare = TestClient(client.app, base_url=SITE, cookies=None)
    for _ in range(2):  # idempotent
        answer = bare.post(
            path_of(url.group(1)),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert answer.status_code == 200 and "location" not in answer.headers
        assert status_of(ctx) == SubscriberStatus.UNSUBSCRIBED
    assert "already unsubscribed" in client.get(path_of(url.group(1))).text


def test_the_manage_page_shows_a_parse_error_by_the_field_and_saves_a_valid_query(
    client: TestClient, ctx: Context
) -> None:
    manage = confirmed(client, ctx)
    token = csrf_of(client.get(manage).text)
    bad = client.post(manage, data={"csrf_token": token, **GOOD, "interests": "robots cat:cs.XX"})
    assert bad.status_code == 422 and "not an arXiv category" in bad.text and "Nothing was saved" in bad.text
    good = client.post(
        manage,
        data={
            "csrf_token": token,
            "interests": "robot learning\ncat:cs.RO",
            "send_hour": "21",
            "timezone": "Asia/Tokyo",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303
    page = client.get(good.headers["location"]).text
    assert "Saved." in page and "robot learning\ncat:cs.RO</textarea>" in page
    assert '<option value="21" selected>' in page and "<option selected>Asia/Tokyo</option>" in page


def test_pause_and_resume_from_the_manage_page(client: TestClient, ctx: Context) -> None:
    manage = confirmed(client, ctx)
    token = csrf_of(client.get(manage).text)
    client.post(manage, data={"csrf_token": token, "action": "pause"})
    assert status_of(ctx) == SubscriberStatus.PAUSED
    assert "Resume my digest" in client.get(manage).text
    client.post(manage, data={"csrf_token": token, "action": "resume"})
    assert status_of(ctx) == SubscriberStatus.ACTIVE


def test_an_expired_manage_link_offers_a_form_that_mails_a_fresh_one(
    client: TestClient, ctx: Context, clock: Clock
) -> None:
    confirmed(client, ctx)
    with transaction(ctx.sessions) as session:
        row = find_subscriber(session, ADDRESS)
        assert row is not None
        old = expired_token(ctx.secret_key, "manage", row.id, row.token_version)
    page = client.get(f"/manage/{old}")
    assert page.status_code == 410 and "has expired" in page.text and 'action="/manage-link"' in page.text
    clock.advance(days=1, minutes=1)  # past the one-mail-a-day cooldown of the confirmation
    sent = len(outbox(ctx))
    answers = []
    for address in (ADDRESS, "stranger@example.org"):
        answer = client.post(
            "/manage-link", data={"csrf_token": csrf_of(page.text), "email": address}, follow_redirects=False
        )
        answers.append((answer.status_code, answer.headers["location"]))
    assert answers == [(303, "/manage-link/sent")] * 2
    assert len(outbox(ctx)) == sent + 1
    fresh = path_of(link_in(outbox(ctx)[-1], "manage"))
    assert client.get(fresh).status_code == 200


def test_forged_and_tampered_links_are_refused(client: TestClient, ctx: Context) -> None:
    manage = confirmed(client, ctx)
    tampered = manage[:-3] + ("AAA" if not manage.endswith("AAA") else "BBB")
    for path in (tampered, "/manage/forged", "/unsubscribe/forged", "/confirm/forged", "/digest/x"):
        page = client.get(path)
        assert page.status_code == 404 and "This link does not work" in page.text, path
    assert client.post("/unsubscribe/forged", content=b"List-Unsubscribe=One-Click").status_code == 404
    assert status_of(ctx) == SubscriberStatus.ACTIVE


def test_subscribe_is_rate_limited_per_ip_and_per_address(ctx: Context, clock: Clock) -> None:
    app = create_app(
        ctx, clock=clock, limits=WebLimits(subscribe_per_ip_per_hour=3, subscribe_per_address_per_hour=2)
    )
    one_ip = TestClient(app, base_url=SITE, client=("192.0.2.1", 5000))
    codes = [subscribe(one_ip, f"person{n}@example.org").status_code for n in range(4)]
    assert codes == [303, 303, 303, 429]
    limited = subscribe(one_ip, "person9@example.org")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    many_ips = [TestClient(app, base_url=SITE, client=(f"198.51.100.{n}", 5000)) for n in range(3)]
    codes = [subscribe(c, "target@example.org").status_code for c in many_ips]
    assert codes == [303, 303, 429]


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/healthz", "/no-such-page", "/static/style.css", "/openapi.json", "/manage/x"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, path
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert headers["referrer-policy"] == "no-referrer", path
        assert headers["x-content-type-options"] == "nosniff", path
    assert client.get("/manage/x").headers["cache-control"] == "no-store"


def test_the_app_refuses_a_placeholder_secret_key_even_in_the_demo(ctx: Context) -> None:
    # model_copy skips the settings' validation: the app checks the key again before serving.
    settings = ctx.settings.model_copy(
        update={"web": ctx.settings.web.model_copy(update={"secret_key": EXAMPLE_SECRET})}
    )
    demo_ctx = Context(settings, ctx.engine, ctx.sessions)
    with pytest.raises(ConfigError, match="secret_key: is a placeholder"):
        create_app(demo_ctx, demo=True)


def test_feedback_links_show_a_button_and_the_button_records_the_vote(
    client: TestClient, ctx: Context
) -> None:
    load_papers(ctx)
    confirmed(client, ctx)
    with transaction(ctx.sessions) as session:
        row = find_subscriber(session, ADDRESS)
        assert row is not None
        token = ctx.tokens.make(Purpose.FEEDBACK, row.id, row.token_version)
    path = f"/feedback/{token}?paper=1&vote=less"
    page = client.get(path)
    assert page.status_code == 200 and "Less like this?" in page.text
    assert client.get(f"/feedback/{token}?paper=1&vote=sideways").status_code == 400
    done = client.post(path, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200 and "Noted" in done.text
    with transaction(ctx.sessions) as session:
        assert [(f.paper_id, f.vote) for f in session.query(Feedback)] == [(1, -1)]


def test_a_body_over_the_limit_is_refused(client: TestClient) -> None:
    answer = client.post(
        "/subscribe", content=b"x" * 70_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413


def test_healthz_reports_the_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_a_preview_button_shows_todays_matches_without_subscribing(client: TestClient, ctx: Context) -> None:
    load_papers(ctx)
    token = csrf_of(client.get("/").text)
    page = client.post("/subscribe", data={"csrf_token": token, "email": "", **GOOD, "action": "preview"})
    assert page.status_code == 200 and "VIA-SD" in page.text
    assert status_of(ctx, "") is None and outbox(ctx) == []


def test_the_confirmation_mail_carries_one_click_unsubscribe_headers(
    client: TestClient, ctx: Context
) -> None:
    subscribe(client)
    message = parse_mail(outbox(ctx)[0])
    assert message["Subject"] == "Confirm your daily research paper digest"
    assert str(message["List-Unsubscribe"]).strip().startswith(f"<{SITE}/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
