"""The day's trending papers: the page a visitor lands on, and the same list as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from conftest import FIXTURES, NOW
from starlette.testclient import TestClient
from web_helpers import Clock, load_papers

from digest import sources
from digest.context import Context
from digest.store.db import transaction
from digest.store.papers import upsert_papers
from digest.web import create_app

HF = FIXTURES / "hf-daily-papers_2026-06_30papers.json"


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx, clock=Clock()), base_url="https://papers.example.org") as test_client:
        yield test_client


def _recorded() -> list[dict[str, object]]:
    return [item["paper"] for item in json.loads(HF.read_text())]


def test_the_day_lists_every_paper_most_upvoted_first_with_its_links(
    ctx: Context, client: TestClient
) -> None:
    load_papers(ctx)
    page = client.get("/papers")
    assert page.status_code == 200
    titles = re.findall(r'<h2><a href="[^"]+" rel="noopener noreferrer">([^<]+)</a></h2>', page.text)
    recorded = sorted(_recorded(), key=lambda p: -int(p.get("upvotes") or 0))
    assert len(titles) == len(recorded) == 30
    # Trending weighs upvotes, comments, stars and freshness: the first is among the most upvoted.
    assert titles[0] in {" ".join(str(p["title"]).split()) for p in recorded[:3]}
    top = next(p for p in recorded if " ".join(str(p["title"]).split()) == titles[0])
    assert f"https://huggingface.co/papers/{top['id']}" in page.text
    assert f"▲ {recorded[0]['upvotes']} upvotes" in page.text
    assert "Get these papers, picked for your interests, in your inbox." in page.text
    api = client.get("/api/papers").json()
    assert [p["title"] for p in api["papers"]] == titles
    assert api["date"] == NOW.date().isoformat() and api["papers"][0]["arxiv_id"] == top["id"]


def test_search_and_category_filter_the_day(ctx: Context, client: TestClient) -> None:
    load_papers(ctx)
    everything = client.get("/api/papers").json()["papers"]
    found = client.get("/api/papers", params={"q": "agents"}).json()["papers"]
    assert 0 < len(found) < len(everything)
    for paper in found:
        assert re.search(r"\bagent", f"{paper['title']} {paper['summary']}".lower()) or paper["summary"]
    page = client.get("/papers", params={"q": "agents"})
    assert f"{len(found)} papers of {len(everything)}" in page.text
    nothing = client.get("/api/papers", params={"category": "astro-ph"}).json()["papers"]
    assert nothing == []


def test_days_link_to_the_days_before_and_after(ctx: Context, client: TestClient) -> None:
    papers = sources.parse("hf_daily", HF.read_bytes()).papers
    with transaction(ctx.sessions) as session:
        upsert_papers(session, papers[:10], NOW - timedelta(days=2))
        upsert_papers(session, papers[10:], NOW)
    today, earlier = NOW.date(), (NOW - timedelta(days=2)).date()
    newest = client.get("/papers").text
    assert f'href="/papers/{earlier.isoformat()}"' in newest and 'rel="next"' not in newest
    older = client.get(f"/papers/{earlier.isoformat()}")
    assert older.status_code == 200 and f'href="/papers/{today.isoformat()}"' in older.text
    assert len(client.get("/api/papers", params={"date": earlier.isoformat()}).json()["papers"]) == 10
    assert client.get("/papers/2026-13-45").status_code == 404


def test_a_new_fetch_shows_on_the_next_visit(ctx: Context, client: TestClient) -> None:
    papers = sources.parse("hf_daily", HF.read_bytes()).papers
    with transaction(ctx.sessions) as session:
        upsert_papers(session, papers[:5], NOW)
    assert len(client.get("/api/papers").json()["papers"]) == 5
    with transaction(ctx.sessions) as session:
        upsert_papers(session, papers[5:], NOW)
    assert len(client.get("/api/papers").json()["papers"]) == 30


def test_before_any_fetch_the_page_says_so(client: TestClient) -> None:
    page = client.get("/papers")
    assert page.status_code == 200 and "No papers yet" in page.text
    assert client.get("/api/papers").json() == {"date": None, "previous": None, "next": None, "papers": []}


def test_every_page_leads_to_the_trending_papers(client: TestClient) -> None:
    assert 'href="/papers"' in client.get("/").text
