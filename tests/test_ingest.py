"""Ingesting configured sources end to end: a real HTTP server on loopback serving recorded responses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import FIXTURES, NOW, make_settings
from loopback_http import LoopbackServer, Reply, Seen
from sqlalchemy import select

from digest.context import Context
from digest.ingest import SourceReport, ingest_file, ingest_sources
from digest.schedule.times import next_fetch_at
from digest.store.db import transaction, upgrade
from digest.store.models import Paper, Source

API = (FIXTURES / "arxiv-api_cat-cs.LG-OR-cs.AI_max20_2026-04-30.xml").read_bytes()
HF = (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes()
# A lab's feed that names two papers by their arXiv links only, with no abstract or authors.
BARE_FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Lab picks</title>
<item><title>Turning the TIDE</title><link>https://arxiv.org/abs/2604.26951</link></item>
<item><title>Second pick</title><link>https://arxiv.org/abs/2604.26942v1</link></item>
</channel></rss>"""


@pytest.fixture
def server() -> LoopbackServer:
    with LoopbackServer() as running:
        yield running  # type: ignore[misc]


def _context(
    database_url: str, tmp_path: Path, server: LoopbackServer, sources: list[dict[str, object]]
) -> Context:
    settings = make_settings(database_url, tmp_path, fetch={"arxiv_api_url": server.url("/api")})
    settings = settings.model_copy(
        update={"sources": [settings.sources[0].model_validate(s) for s in sources]}
    )
    ctx = Context.open(settings)
    upgrade(ctx.engine)
    return ctx


def _ingest(ctx: Context) -> list[SourceReport]:
    return asyncio.run(ingest_sources(ctx, ctx.settings.sources, NOW))


def test_papers_a_feed_names_only_by_arxiv_id_are_completed_from_the_arxiv_api(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    server.routes["/feed"] = Reply(body=BARE_FEED, headers={"Content-Type": "application/rss+xml"})
    server.routes["/api"] = Reply(body=API, headers={"Content-Type": "application/atom+xml"})
    ctx = _context(
        database_url, tmp_path, server, [{"name": "lab", "kind": "feed", "url": server.url("/feed")}]
    )
    reports = {report.name: report for report in _ingest(ctx)}
    assert reports["lab"].new == 2
    assert reports["arxiv details"].updated == 2
    [request] = server.requests_to("/api")
    asked = parse_qs(urlsplit(request.path).query)["id_list"][0].split(",")
    assert sorted(asked) == ["2604.26942", "2604.26951"]
    with transaction(ctx.sessions) as session:
        tide = session.scalars(select(Paper).where(Paper.arxiv_id == "2604.26951")).one()
    assert tide.abstract.startswith("Diffusion large language models (dLLMs) offer parallel decoding")
    assert tide.authors and tide.categories
    assert sorted(tide.seen_in) == ["arxiv_api", "feed"]
    ctx.close()


def test_an_arxiv_api_source_is_a_paced_paged_search(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    server.routes["/api"] = Reply(body=API, headers={"Content-Type": "application/atom+xml"})
    ctx = _context(
        database_url,
        tmp_path,
        server,
        [{"name": "api", "kind": "arxiv_api", "categories": ["cs.LG", "cs.AI"]}],
    )
    ctx.settings = ctx.settings.model_copy(
        update={"fetch": ctx.settings.fetch.model_copy(update={"arxiv_api_max_results": 20})}
    )
    [report] = _ingest(ctx)
    assert (report.name, report.new, report.error) == ("api", 20, None)
    [request] = server.requests_to("/api")
    assert "search_query=cat%3Acs.LG+OR+cat%3Acs.AI" in request.path
    assert "max_results=20" in request.path
    ctx.close()


def test_an_unchanged_source_costs_a_304_and_keeps_its_validators(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    def hf(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(status=304, headers={"ETag": '"v1"'})
        return Reply(body=HF, headers={"Content-Type": "application/json", "ETag": '"v1"'})

    server.routes["/hf"] = hf
    ctx = _context(
        database_url, tmp_path, server, [{"name": "hf", "kind": "hf_daily", "url": server.url("/hf")}]
    )
    first, second = _ingest(ctx)[0], _ingest(ctx)[0]
    assert (first.new, second.new, second.note) == (30, 0, "not modified since the last fetch")
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(Source)).one()
    assert (row.last_outcome, row.etag) == ("not_modified", '"v1"')
    ctx.close()


def test_a_failing_source_never_stops_the_others(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    server.routes["/hf"] = Reply(body=HF, headers={"Content-Type": "application/json"})
    server.routes["/broken"] = Reply(status=404, body=b"gone")
    ctx = _context(
        database_url,
        tmp_path,
        server,
        [
            {"name": "broken", "kind": "arxiv_rss", "url": server.url("/broken")},
            {"name": "hf", "kind": "hf_daily", "url": server.url("/hf")},
        ],
    )
    broken, hf = _ingest(ctx)
    assert broken.error and "404" in broken.error
    assert (hf.new, hf.error) == (30, None)
    with transaction(ctx.sessions) as session:
        rows = {row.name: row for row in session.scalars(select(Source))}
    assert rows["broken"].last_outcome == "error" and rows["broken"].last_error == broken.error
    assert rows["hf"].last_outcome == "ok" and rows["hf"].last_new == 30
    ctx.close()


def _rss(*items: str) -> bytes:
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>Lab</title>' + "".join(items)).encode(
        "utf-8"
    ) + b"</channel></rss>"


def _stored(ctx: Context) -> dict[str, Paper]:
    with transaction(ctx.sessions) as session:
        rows = list(session.scalars(select(Paper)))
        session.expunge_all()
    return {row.key: row for row in rows}


def test_an_arxiv_link_in_full_width_digits_is_not_taken_for_an_arxiv_id(
    ctx: Context, tmp_path: Path
) -> None:
    link = "https://arxiv.org/abs/２６０１.００１９４"
    saved = tmp_path / "feed.xml"
    saved.write_bytes(_rss(f"<item><title>Wide</title><link>{link}</link></item>"))
    report = ingest_file(ctx, saved, "feed", NOW)
    assert (report.new, report.error) == (1, None)
    [paper] = _stored(ctx).values()
    assert (paper.key, paper.arxiv_id, paper.url, paper.pdf_url) == (f"url:{link}", None, link, None)


def _ingest_served(
    database_url: str, tmp_path: Path, server: LoopbackServer, bodies: dict[str, tuple[str, bytes]]
) -> tuple[Context, dict[str, SourceReport], dict[str, Source]]:
    """Serve each body at /<name>, ingest them all as sources of their kinds, and read back the rows."""
    for name, (_kind, body) in bodies.items():
        server.routes[f"/{name}"] = Reply(body=body)
    configured = [{"name": n, "kind": k, "url": server.url(f"/{n}")} for n, (k, _b) in bodies.items()]
    ctx = _context(database_url, tmp_path, server, configured)
    reports = {report.name: report for report in _ingest(ctx)}
    with transaction(ctx.sessions) as session:
        rows = {row.name: row for row in session.scalars(select(Source))}
        session.expunge_all()
    return ctx, reports, rows


def _rescheduled(row: Source, outcome: str) -> None:
    """Recorded like any fetch: the outcome, and the next fetch a day on, so `serve` waits for it."""
    assert row.last_outcome == outcome
    assert row.last_fetch_at == NOW
    assert row.next_fetch_at == next_fetch_at(NOW, 24.0)


def test_an_ebcdic_feed_declaring_an_entity_is_refused_and_rescheduled(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    body = (
        '<?xml version="1.0" encoding="cp500"?><!DOCTYPE rss [<!ENTITY e "INJECTED">]><rss version="2.0">'
        "<channel><title>Lab</title><item><title>&e;</title><link>https://lab.example/1</link></item>"
        "</channel></rss>"
    ).encode("cp500")
    ctx, reports, rows = _ingest_served(database_url, tmp_path, server, {"ebcdic": ("feed", body)})
    assert (reports["ebcdic"].error or "").startswith("refused: the document declares a DOCTYPE")
    assert _stored(ctx) == {}
    _rescheduled(rows["ebcdic"], "error")
    assert rows["ebcdic"].last_error == reports["ebcdic"].error
    ctx.close()


def test_a_surrogate_reference_in_a_title_costs_that_character_and_its_neighbours_are_stored(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    body = _rss(
        "<item><title>Bad &#xD800; title</title><link>https://lab.example/1</link></item>",
        "<item><title>Good</title><link>https://lab.example/2</link></item>",
    )
    ctx, reports, rows = _ingest_served(database_url, tmp_path, server, {"lab": ("feed", body)})
    assert (reports["lab"].new, reports["lab"].error) == (2, None)
    titles = sorted(paper.title for paper in _stored(ctx).values())
    assert titles == ["Bad \ufffd title", "Good"]
    _rescheduled(rows["lab"], "ok")
    ctx.close()
