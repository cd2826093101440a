"""The dashboard's pages and actions, on SQLite and PostgreSQL: what each page shows, and that each
action does what its button says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from admin_helpers import TODAY, admin_client, admin_context, delivery, log_in, person, token
from conftest import NOW
from starlette.testclient import TestClient

from digest.context import Context
from digest.store.db import transaction
from digest.store.ledger import claim_batch
from digest.store.models import Delivery, Interest, Source, Subscriber
from digest.store.schedule import fetch_due_at
from digest.web.admin.days import DayCounts


@pytest.fixture
def admin_ctx(database_url: str, tmp_path: Path) -> Iterator[Context]:
    with admin_context(database_url, tmp_path) as context:
        yield context


@pytest.fixture
def client(admin_ctx: Context) -> Iterator[TestClient]:
    with admin_client(admin_ctx) as test_client:
        yield test_client


def test_the_overview_counts_states_outcomes_bounces_and_the_next_sends(
    client: TestClient, admin_ctx: Context
) -> None:
    with transaction(admin_ctx.sessions) as session:
        people = [
            person(session, f"r{i}@example.org", next_send_at=NOW + timedelta(hours=2)) for i in range(4)
        ]
        person(session, "p@example.org", "paused")
        person(session, "b@example.org", "bouncing")
        for who, status in zip(people, ("sent", "sent", "sent", "failed"), strict=True):
            delivery(session, who, status, TODAY - timedelta(days=1))
        delivery(session, people[0], "unknown")
        delivery(session, people[1], "sent", TODAY - timedelta(days=45))  # outside the 30 days
    log_in(client)
    html = client.get("/admin").text
    states = dict(re.findall(r"<dt>(\w+)</dt><dd>(?:<a [^>]+>)?([\d,]+)", html))
    assert states["active"] == "4" and states["paused"] == "1" and states["bouncing"] == "1"
    assert states["pending"] == "0" and states["all"] == "6"
    assert "<strong>25.00 %</strong> (1 refused for good of 4 sent or refused)" in html
    yesterday = (TODAY - timedelta(days=1)).strftime("%m-%d")
    assert f"<title>{yesterday}: 3 sent</title>" in html and f"<title>{yesterday}: 1 failed</title>" in html
    assert f"<title>{TODAY.strftime('%m-%d')}: 1 unknown</title>" in html
    assert "<title>11:00: 4 due</title>" in html  # NOW is 09:30 UTC; due at 11:30
    assert "<script" not in html


def test_the_deliveries_page_shows_each_troubled_digest_with_its_reply(
    client: TestClient, admin_ctx: Context
) -> None:
    with transaction(admin_ctx.sessions) as session:
        a, b, c, d = (person(session, f"{n}@example.org") for n in "abcd")
        delivery(session, a, "failed", attempts=1, last_error="550 5.1.1 <a@example.org>: no such user")
        delivery(session, b, "retry", attempts=2, last_error="451 4.7.1 greylisted", next_attempt_at=NOW)
        delivery(session, c, "unknown", attempts=1, last_error="connection lost after DATA")
        delivery(session, d, "sent")
    log_in(client)
    html = client.get(f"/admin/deliveries?day={TODAY.isoformat()}").text
    rows = re.findall(r"<td>([^<]+@example.org)</td>", html)
    assert rows == ["c@example.org", "b@example.org", "a@example.org"]  # unknown first; d was sent
    assert "550 5.1.1 &lt;a@example.org&gt;: no such user" in html and "451 4.7.1 greylisted" in html
    assert html.count(">Resend</button>") == 1 and "may send it twice" in html
    assert "No failed" in client.get("/admin/deliveries?day=2020-01-01").text


def test_resend_makes_unknown_digests_pending_for_the_next_send(
    client: TestClient, admin_ctx: Context
) -> None:
    with transaction(admin_ctx.sessions) as session:
        a, b, c = (person(session, f"{n}@example.org") for n in "abc")
        one = delivery(session, a, "unknown", attempts=1, lease_until=NOW - timedelta(minutes=1))
        two = delivery(session, b, "unknown", attempts=1)
        failed = delivery(session, c, "failed", attempts=1)
    log_in(client)
    page = "/admin/deliveries"
    answer = client.post(
        "/admin/deliveries/resend",
        data={"csrf_token": token(client, page), "day": TODAY.isoformat(), "delivery": str(failed.id)},
    )
    assert "0 digests marked pending" in answer.text  # a failed digest is not resent
    for bad in ("99999999999", "1; DROP", "-1"):  # refused, and never read as "all of the day"
        answer = client.post(
            "/admin/deliveries/resend",
            data={"csrf_token": token(client, page), "day": TODAY.isoformat(), "delivery": bad},
        )
        assert "0 digests marked pending" in answer.text, bad
    answer = client.post(
        "/admin/deliveries/resend",
        data={"csrf_token": token(client, page), "day": TODAY.isoformat(), "delivery": str(one.id)},
    )
    assert "1 digest marked pending again" in answer.text
    with transaction(admin_ctx.sessions) as session:
        assert {d.id: d.status for d in session.query(Delivery)} == {
            one.id: "pending",
            two.id: "unknown",
            failed.id: "failed",
        }
        claimed = claim_batch(session, "w", NOW, NOW, NOW + timedelta(minutes=5), 10)
        assert [row.delivery_id for row in claimed] == [one.id]  # the next send takes it
    answer = client.post(
        "/admin/deliveries/resend", data={"csrf_token": token(client, page), "day": TODAY.isoformat()}
    )
    assert "1 digest marked pending again" in answer.text  # "all unknown of the day": the other one
    with transaction(admin_ctx.sessions) as session:
        assert session.get(Delivery, two.id).status == "pending"  # type: ignore[union-attr]


def test_subscribers_are_found_by_address_and_state_with_their_topics(
    client: TestClient, admin_ctx: Context
) -> None:
    with transaction(admin_ctx.sessions) as session:
        ada = person(session, "ada@example.org", bounce_count=2)
        session.add(Interest(subscriber_id=ada.id, position=0, query='"speculative decoding"'))
        delivery(session, ada, "sent", date(2026, 11, 20))
        delivery(session, ada, "failed", date(2026, 11, 21))
        person(session, "bob@example.org", "paused")
        person(session, "ada_x@other.org", "paused")
    log_in(client)
    html = client.get("/admin/subscribers?q=ADA@").text
    assert re.findall(r"<td>([^<]+@[^<]+)</td>", html) == ["ada@example.org"]
    assert (
        "<li>&#34;speculative decoding&#34;</li>" in html
        and "<td>2026-11-20</td>" in html
        and "<td>2</td>" in html
    )
    paused = client.get("/admin/subscribers?status=paused").text
    assert re.findall(r"<td>([^<]+@[^<]+)</td>", paused) == ["bob@example.org", "ada_x@other.org"]
    underscore = client.get("/admin/subscribers?q=a_").text  # a literal _, not LIKE's wildcard
    assert re.findall(r"<td>([^<]+@[^<]+)</td>", underscore) == ["ada_x@other.org"]


def test_pause_resume_and_unsubscribe_do_what_they_say(client: TestClient, admin_ctx: Context) -> None:
    with transaction(admin_ctx.sessions) as session:
        who = person(session, "ada@example.org", next_send_at=NOW + timedelta(hours=1))
    log_in(client)

    def act(action: str) -> tuple[str | None, datetime | None, int]:
        page = "/admin/subscribers?q=ada"
        answer = client.post(
            f"/admin/subscribers/{who.id}/{action}",
            data={"csrf_token": token(client, page), "back": "q=ada"},
            follow_redirects=False,
        )
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/admin/subscribers?q=ada&done="
        )
        with transaction(admin_ctx.sessions) as session:
            row = session.get(Subscriber, who.id)
            assert row is not None
            return row.status, row.next_send_at, row.token_version

    assert act("pause")[:2] == ("paused", None)
    status, due, _ = act("resume")
    assert status == "active" and due is not None
    assert act("unsubscribe") == ("unsubscribed", None, 2)  # old manage links stop working
    assert act("resume")[0] == "unsubscribed"  # resume is for paused subscribers only
    assert (
        client.post(f"/admin/subscribers/{who.id}/delete", data={"csrf_token": token(client)}).status_code
        == 404
    )


def test_the_sources_page_and_fetch_now(client: TestClient, admin_ctx: Context) -> None:
    with transaction(admin_ctx.sessions) as session:
        session.add(Source(
            name="arxiv", kind="arxiv_rss", url="https://x.invalid", last_fetch_at=NOW - timedelta(hours=3),
            last_outcome="error", last_error="HTTP 503 from export.arxiv.org", last_new=0,
            next_fetch_at=NOW + timedelta(hours=5),
        ))  # fmt: skip
    log_in(client)
    html = client.get("/admin/sources").text
    assert "HTTP 503 from export.arxiv.org" in html and "never fetched" in html  # huggingface has no row
    assert html.count(">Fetch now</button>") == 1
    answer = client.post("/admin/sources/arxiv/fetch", data={"csrf_token": token(client, "/admin/sources")})
    assert "arxiv is due now" in answer.text
    with transaction(admin_ctx.sessions) as session:
        assert fetch_due_at(session, ["arxiv"], NOW) == {"arxiv": NOW}  # the scheduler's own question
    assert client.post("/admin/sources/nope/fetch", data={"csrf_token": token(client)}).status_code == 404


def test_older_days_are_recounted_after_a_few_minutes_today_at_once(
    client: TestClient, admin_ctx: Context
) -> None:
    moments = [0.0]
    client.app.state.admin_days = DayCounts(ttl=300, clock=lambda: moments[0])  # type: ignore[attr-defined]
    with transaction(admin_ctx.sessions) as session:
        who = person(session, "a@example.org")
        old = delivery(session, who, "retry", TODAY - timedelta(days=5))
    log_in(client)
    old_day = (TODAY - timedelta(days=5)).strftime("%m-%d")
    assert f"<title>{old_day}: 1 retry</title>" in client.get("/admin").text
    with transaction(admin_ctx.sessions) as session:
        session.get(Delivery, old.id).status = "sent"  # type: ignore[union-attr]
        delivery(session, who, "failed")
    html = client.get("/admin").text
    assert f"<title>{old_day}: 1 retry</title>" in html  # remembered...
    assert f"<title>{TODAY.strftime('%m-%d')}: 1 failed</title>" in html  # ...but today is counted afresh
    moments[0] = 301.0
    assert f"<title>{old_day}: 1 sent</title>" in client.get("/admin").text
