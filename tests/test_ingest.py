"""Ingesting configured sources end to end: a real HTTP server on loopback serving recorded responses."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def _hf_item(number: int, **paper: object) -> str:
    fields = {"id": f"2601.0019{number}", "upvotes": 3, **paper}
    return json.dumps({"title": f"Paper {number}", "paper": fields, "numComments": 1})


def test_bad_values_in_hugging_face_items_cost_only_those_values_or_items(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    items = [
        _hf_item(1).replace("Paper 1", "Lone \\ud800 surrogate"),
        _hf_item(2, upvotes=10**30),  # beyond 64 bits, and far beyond the 32-bit column
        _hf_item(3, upvotes=-4, githubStars=12.5),
        _hf_item(4, upvotes="12", githubRepo="https://github.com/a\x00b"),
        _hf_item(5, upvotes=0).replace('"upvotes": 0', '"upvotes": ' + "9" * 5000),  # beyond int()
        '"not an object"',
        _hf_item(6, id="https://lab.example/" + "x" * 400),  # a key longer than its column
        _hf_item(7),
    ]
    body = ("[" + ",".join(items) + "]").encode()
    ctx, reports, rows = _ingest_served(database_url, tmp_path, server, {"hf": ("hf_daily", body)})
    report = reports["hf"]
    assert (report.error, report.new, report.skipped) == (None, 6, 2)
    by_id = {paper.arxiv_id: paper for paper in _stored(ctx).values()}
    assert by_id["2601.00191"].title == "Lone \ufffd surrogate"
    assert [by_id[f"2601.0019{n}"].upvotes for n in (2, 3, 4, 5, 7)] == [2**31 - 1, None, None, 2**31 - 1, 3]
    assert by_id["2601.00193"].github_stars is None
    assert by_id["2601.00194"].github_repo == "https://github.com/ab"
    warnings = "\n".join(report.warnings)
    for expected in (
        "item 2 (2601.00192): upvotes beyond 2147483647; clamped",
        "item 3 (2601.00193): upvotes -4 is negative; dropped",
        "item 3 (2601.00193): github_stars 12.5 is not a whole number; dropped",
        "item 4 (2601.00194): upvotes '12' is not a whole number; dropped",
        "skipped item 6: not a JSON object",
        "skipped item 7 (https://lab.example/xxx",
    ):
        assert expected in warnings
    _rescheduled(rows["hf"], "ok")
    ctx.close()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "Hugging Face daily papers: invalid JSON (nested too deeply)"),
        (b'{"error": "bad \\ud800 day"}', "Hugging Face daily papers: bad \ufffd day"),
    ],
)
def test_a_response_that_cannot_be_read_at_all_is_an_error_and_rescheduled(
    database_url: str, tmp_path: Path, server: LoopbackServer, body: bytes, error: str
) -> None:
    bodies = {"hf": ("hf_daily", body), "good": ("hf_daily", b"[" + _hf_item(1).encode() + b"]")}
    ctx, reports, rows = _ingest_served(database_url, tmp_path, server, bodies)
    assert (reports["hf"].error or "").startswith(error)
    assert "\n" not in (reports["hf"].error or "")
    assert rows["hf"].last_error == reports["hf"].error
    _rescheduled(rows["hf"], "error")
    assert reports["good"].new == 1
    _rescheduled(rows["good"], "ok")
    ctx.close()


def test_a_saved_file_is_held_to_the_fetch_size_cap(database_url: str, tmp_path: Path) -> None:
    ctx = Context.open(make_settings(database_url, tmp_path, fetch={"max_bytes": 4096}))
    upgrade(ctx.engine)
    saved = tmp_path / "big.json"
    saved.write_bytes(b"[" + b",".join([_hf_item(1).encode()] * 100) + b"]")  # about 10 KB
    report = ingest_file(ctx, saved, "hf_daily", NOW)
    assert report.error == f"{saved}: file is over the 4096-byte limit"
    assert _stored(ctx) == {}
    ctx.close()


def test_an_arxiv_api_search_is_held_to_the_fetch_size_cap(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    server.routes["/api"] = Reply(body=API, headers={"Content-Type": "application/atom+xml"})
    ctx = _context(database_url, tmp_path, server, [{"name": "api", "kind": "arxiv_api"}])
    ctx.settings = ctx.settings.model_copy(
        update={"fetch": ctx.settings.fetch.model_copy(update={"max_bytes": 4096})}
    )
    [report] = _ingest(ctx)
    assert "over the 4096-byte limit" in (report.error or "")
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(Source)).one()
        session.expunge_all()
    _rescheduled(row, "error")
    ctx.close()


def test_the_command_says_one_line_when_every_source_fails(
    database_url: str, tmp_path: Path, server: LoopbackServer
) -> None:
    server.routes["/deep"] = Reply(body=b"[" * 100_000 + b"]" * 100_000)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n[mail]\nmaildir = "{tmp_path / "outbox"}"\n'
        f'[[sources]]\nname = "deep"\nkind = "hf_daily"\nurl = "{server.url("/deep")}"\n'
    )
    schema = Context.open(make_settings(database_url, tmp_path))
    upgrade(schema.engine)
    schema.close()
    done = subprocess.run(
        [sys.executable, "-m", "digest", "ingest", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "digest: no source could be ingested"
    assert "deep: error: Hugging Face daily papers: invalid JSON (nested too deeply)" in done.stdout


@contextmanager
def _trickling_server(body: bytes, gap: float) -> Iterator[str]:
    """A loopback server that answers at once and then sends its body one byte every `gap` seconds."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode())
            for byte in body:
                if stop.wait(gap):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up, as it should

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/trickle"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def test_a_source_that_trickles_its_body_is_cut_off_at_the_deadline_and_rescheduled(
    database_url: str, tmp_path: Path
) -> None:
    with _trickling_server(b"[" + _hf_item(1).encode() + b"]", gap=0.5) as url:  # about a minute in all
        # The fill-in step, should a paper get through, asks a closed loopback port, never arXiv.
        fetch = {"timeout": 1.0, "arxiv_api_url": "http://127.0.0.1:9/api"}
        settings = make_settings(database_url, tmp_path, fetch=fetch)
        settings = settings.model_copy(
            update={
                "sources": [
                    settings.sources[0].model_validate({"name": "slow", "kind": "hf_daily", "url": url})
                ]
            }
        )
        ctx = Context.open(settings)
        upgrade(ctx.engine)
        started = time.perf_counter()
        [report] = _ingest(ctx)
        elapsed = time.perf_counter() - started
    assert report.error == f"{url}: timed out after 1 s"
    assert elapsed < 4.0
    with transaction(ctx.sessions) as session:
        row = session.scalars(select(Source)).one()
        session.expunge_all()
    _rescheduled(row, "error")
    ctx.close()
