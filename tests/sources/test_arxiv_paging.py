"""The arXiv API is paged and paced: a loopback stand-in for export.arxiv.org shows both, and its errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from loopback_http import LoopbackServer, Reply, Seen

from digest.errors import SourceError
from digest.sources.arxiv_paging import Pacer, lookup, search
from digest.sources.fetch import make_client
from digest.sources.parsed import ParseResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AGENT = "digest-tests/0.1 (mailto:tests@example.org)"


def atom(ids: list[str], total: int) -> bytes:
    entries = "".join(
        f"<entry><id>http://arxiv.org/abs/{i}v1</id><title>Paper {i}</title><summary>About {i}.</summary>"
        f"<published>2026-06-01T00:00:00Z</published><author><name>A. Author</name></author></entry>"
        for i in ids
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"><title>arXiv Query</title>'
        f"<opensearch:totalResults>{total}</opensearch:totalResults>{entries}</feed>"
    ).encode()


class FakeTime:
    """A clock that only moves when the pacer sleeps, so pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def query_of(seen: Seen) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(seen.path).query, keep_blank_values=True).items()}


def run_search(server: LoopbackServer, pacer: Pacer, **options: int) -> ParseResult:
    async def main() -> ParseResult:
        async with make_client(AGENT) as client:
            return await search(client, "cat:cs.CL", pacer=pacer, base=server.url("/api/query"), **options)

    return asyncio.run(main())


def test_a_search_pages_until_the_total_and_requests_are_three_seconds_apart(server: LoopbackServer) -> None:
    all_ids = [f"2606.0000{i}" for i in range(5)]

    def page(seen: Seen) -> Reply:
        query = query_of(seen)
        start, size = int(query["start"]), int(query["max_results"])
        return Reply(200, atom(all_ids[start : start + size], total=5))

    server.routes["/api/query"] = page
    time = FakeTime()
    result = run_search(server, Pacer(clock=time.clock, sleep=time.sleep), page_size=2)
    assert [p.arxiv_id for p in result.papers] == all_ids
    assert result.total == 5
    assert [query_of(s)["start"] for s in server.seen] == ["0", "2", "4"]
    assert query_of(server.seen[0])["sortBy"] == "submittedDate"
    assert time.slept == [3.0, 3.0]


def test_a_search_stops_at_the_requested_number_of_results(server: LoopbackServer) -> None:
    server.routes["/api/query"] = lambda seen: Reply(200, atom(["2606.00001", "2606.00002"], total=1000))
    time = FakeTime()
    result = run_search(server, Pacer(clock=time.clock, sleep=time.sleep), page_size=2, max_results=2)
    assert len(result.papers) == 2
    assert len(server.seen) == 1


def test_a_bad_request_is_reported_with_the_explanation_arxiv_gives(server: LoopbackServer) -> None:
    recorded = json.loads((FIXTURES / "arxiv-api_recorded_id-abc_HTTP400-error-entry.json").read_text())
    server.routes["/api/query"] = Reply(400, recorded["body"].encode())

    async def main() -> ParseResult:
        async with make_client(AGENT) as client:
            return await lookup(client, ["abc"], base=server.url("/api/query"))

    with pytest.raises(SourceError, match=r"arXiv API error: incorrect id format for abc$"):
        asyncio.run(main())


def test_a_lookup_asks_for_ids_in_batches_and_unknown_ids_are_simply_absent(server: LoopbackServer) -> None:
    def known_only(seen: Seen) -> Reply:
        asked = query_of(seen)["id_list"].split(",")
        return Reply(200, atom([i for i in asked if i != "0808.05394"], total=len(asked)))

    server.routes["/api/query"] = known_only
    time = FakeTime()

    async def main() -> ParseResult:
        async with make_client(AGENT) as client:
            pacer = Pacer(clock=time.clock, sleep=time.sleep)
            return await lookup(
                client, ["2606.00001", "0808.05394", "2606.00001"], pacer=pacer, base=server.url("/api/query")
            )

    result = asyncio.run(main())
    assert [p.key for p in result.papers] == ["arxiv:2606.00001"]
    assert query_of(server.seen[0])["id_list"] == "2606.00001,0808.05394"
