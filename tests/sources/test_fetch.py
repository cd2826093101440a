"""Fetching against a real HTTP server on loopback: conditional requests, retries, limits and failures."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from loopback_http import LoopbackServer, Reply, Seen

from digest.errors import SourceError
from digest.sources.fetch import FetchResult, HTTPStatusError, fetch, make_client, retry_after_seconds
from digest.sources.kinds import parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AGENT = "digest-tests/0.1 (mailto:tests@example.org)"
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def run(work: Callable[[httpx.AsyncClient], Awaitable[T]], *, timeout: float = 5.0, per_host: int = 2) -> T:
    async def main() -> T:
        async with make_client(AGENT, timeout=timeout, max_per_host=per_host) as client:
            return await work(client)

    return asyncio.run(main())


class Sleeps:
    """An injected sleep: records what fetch would have waited, and waits for nothing."""

    def __init__(self) -> None:
        self.waited: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)


def test_a_fetch_sends_the_user_agent_and_returns_body_and_validators(server: LoopbackServer) -> None:
    server.routes["/feed"] = Reply(
        200, b"hello", {"ETag": '"v1"', "Last-Modified": "Fri, 27 Nov 2026 10:00:00 GMT"}
    )
    result = run(lambda c: fetch(c, server.url("/feed")))
    assert result == FetchResult(server.url("/feed"), 200, b"hello", '"v1"', "Fri, 27 Nov 2026 10:00:00 GMT")
    assert server.seen[0].headers["user-agent"] == AGENT


def test_an_unchanged_feed_answers_304_and_costs_no_body(server: LoopbackServer) -> None:
    def conditional(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(304, headers={"ETag": '"v1"'})
        return Reply(200, b"full body", {"ETag": '"v1"'})

    server.routes["/feed"] = conditional
    first = run(lambda c: fetch(c, server.url("/feed")))
    again = run(
        lambda c: fetch(
            c, server.url("/feed"), etag=first.etag, last_modified="Fri, 27 Nov 2026 10:00:00 GMT"
        )
    )
    assert (again.status, again.body, again.etag) == (304, None, '"v1"')
    assert again.last_modified == "Fri, 27 Nov 2026 10:00:00 GMT"  # kept for the next request
    assert server.seen[1].headers["if-modified-since"] == "Fri, 27 Nov 2026 10:00:00 GMT"


def test_a_429_is_retried_after_the_time_the_server_asks_for(server: LoopbackServer) -> None:
    answers = iter([Reply(429, b"slow down", {"Retry-After": "7"}), Reply(200, b"ok")])
    server.routes["/busy"] = lambda seen: next(answers)
    sleeps = Sleeps()
    result = run(lambda c: fetch(c, server.url("/busy"), sleep=sleeps))
    assert result.body == b"ok"
    assert sleeps.waited == [7.0]
    assert len(server.requests_to("/busy")) == 2


def test_server_errors_are_retried_with_backoff_a_bounded_number_of_times(server: LoopbackServer) -> None:
    server.routes["/down"] = Reply(503, b"unavailable")
    sleeps = Sleeps()
    with pytest.raises(HTTPStatusError, match=r"/down: HTTP 503 after 3 attempts$") as caught:
        run(lambda c: fetch(c, server.url("/down"), retries=2, sleep=sleeps))
    assert caught.value.status == 503
    assert sleeps.waited == [1.0, 2.0]
    assert len(server.requests_to("/down")) == 3


def test_a_retry_after_longer_than_we_wait_is_reported_not_slept_through(server: LoopbackServer) -> None:
    server.routes["/later"] = Reply(429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(SourceError, match=r"HTTP 429 asking to retry after 3600 s \(more than 120 s\)"):
        run(lambda c: fetch(c, server.url("/later"), sleep=sleeps))
    assert sleeps.waited == []


def test_a_gzip_response_is_decoded_and_parses(server: LoopbackServer) -> None:
    raw = (FIXTURES / "arxiv-rss_all-archives_2024-11-28.xml").read_bytes()
    server.routes["/rss"] = Reply(200, gzip.compress(raw), {"Content-Encoding": "gzip"})
    result = run(lambda c: fetch(c, server.url("/rss")))
    assert result.body == raw
    assert "gzip" in server.seen[0].headers["accept-encoding"]
    assert len(parse("arxiv_rss", result.body).papers) == 935


def test_a_redirect_is_followed_and_the_final_url_reported(server: LoopbackServer) -> None:
    server.routes["/old"] = Reply(301, headers={"Location": "/new"})
    server.routes["/new"] = Reply(200, b"moved")
    result = run(lambda c: fetch(c, server.url("/old")))
    assert (result.url, result.body) == (server.url("/new"), b"moved")


def test_a_redirect_loop_is_cut_short_with_a_clear_error(server: LoopbackServer) -> None:
    server.routes["/loop"] = Reply(302, headers={"Location": "/loop"})
    with pytest.raises(SourceError, match=r"/loop: more than 5 redirects \(a redirect loop\?\)$"):
        run(lambda c: fetch(c, server.url("/loop")))
    assert len(server.requests_to("/loop")) == 6


def test_a_redirect_to_a_non_http_url_is_refused(server: LoopbackServer) -> None:
    server.routes["/sneaky"] = Reply(302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(SourceError, match="redirected to an unsupported URL"):
        run(lambda c: fetch(c, server.url("/sneaky")))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed", "javascript:alert(1)"])
def test_only_http_and_https_urls_are_fetched(url: str) -> None:
    with pytest.raises(SourceError, match="only http and https URLs are fetched"):
        run(lambda c: fetch(c, url))


def test_an_oversize_body_is_refused_whether_declared_or_streamed(server: LoopbackServer) -> None:
    server.routes["/big"] = Reply(200, b"x" * 5000)
    server.routes["/bomb"] = Reply(200, gzip.compress(b"\0" * 5_000_000), {"Content-Encoding": "gzip"})
    with pytest.raises(SourceError, match=r"/big: response of 5000 bytes is over the 1000-byte limit$"):
        run(lambda c: fetch(c, server.url("/big"), max_bytes=1000))
    with pytest.raises(SourceError, match=r"/bomb: response is over the 100000-byte limit$"):
        run(lambda c: fetch(c, server.url("/bomb"), max_bytes=100_000))


def test_a_server_that_does_not_answer_in_time_is_a_timeout(server: LoopbackServer) -> None:
    server.routes["/slow"] = Reply(200, b"late", delay=1.5)
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"/slow: timed out after 0.2 s$"):
        run(lambda c: fetch(c, server.url("/slow")), timeout=0.2)
    assert time.perf_counter() - started < 1.0


def test_a_client_error_is_not_retried_and_keeps_the_start_of_the_body(server: LoopbackServer) -> None:
    server.routes["/bad"] = Reply(400, b"<feed><entry><title>Error</title></entry></feed>")
    with pytest.raises(HTTPStatusError, match=r"/bad: HTTP 400 Bad Request$") as caught:
        run(lambda c: fetch(c, server.url("/bad")))
    assert caught.value.body.startswith(b"<feed>")
    assert len(server.requests_to("/bad")) == 1


def test_a_refused_connection_names_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/gone"
    with pytest.raises(SourceError, match=rf"^{url}: ConnectError"):
        run(lambda c: fetch(c, url, retries=0))


def test_no_more_than_the_per_host_limit_of_requests_is_in_flight_at_once(server: LoopbackServer) -> None:
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]

    def slow(seen: Seen) -> Reply:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.1)
        with lock:
            in_flight[0] -= 1
        return Reply(200, b"ok")

    server.routes["/p"] = slow

    async def six(client: httpx.AsyncClient) -> list[FetchResult]:
        return await asyncio.gather(*(fetch(client, server.url("/p")) for _ in range(6)))

    results = run(six, per_host=2)
    assert [r.body for r in results] == [b"ok"] * 6
    assert peak[0] == 2


@pytest.mark.parametrize("value", ["²", "٣", "１２"])
def test_a_retry_after_in_non_ascii_digits_is_no_retry_after(value: str) -> None:
    assert retry_after_seconds(value, datetime(2026, 1, 1, tzinfo=UTC)) is None
