"""The arXiv API as arXiv asks to be used: paged, one request at a time, at least 3 s apart.

`search` pages through a query; `lookup` fills in the details of papers another source only names by arXiv
id (100 ids per request; ids arXiv does not know are silently absent from its answer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import httpx

from digest.errors import SourceError
from digest.records import PaperIn
from digest.sources import arxiv_api
from digest.sources.fetch import MAX_BYTES, HTTPStatusError, Sleep, fetch
from digest.sources.parsed import ParseResult, parse_xml_feed
from digest.sources.urls import API_PAGE_SIZE, ARXIV_API_URL, arxiv_api_url

ARXIV_INTERVAL = 3.0  # seconds between requests, per arXiv's terms of use


class Pacer:
    """Spaces request starts at least `interval` seconds apart; share one per host for the whole run."""

    def __init__(
        self,
        interval: float = ARXIV_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            if self._last is not None:
                remaining = self._last + self.interval - self._clock()
                if remaining > 0:
                    await self._sleep(remaining)
            self._last = self._clock()


async def search(
    client: httpx.AsyncClient,
    query: str,
    *,
    max_results: int = 200,
    page_size: int = API_PAGE_SIZE,
    pacer: Pacer | None = None,
    base: str = ARXIV_API_URL,
    max_bytes: int = MAX_BYTES,
) -> ParseResult:
    """Up to `max_results` papers for an API `search_query`, newest first, fetched page by page."""
    pacer = pacer or Pacer()
    pages: list[ParseResult] = []
    start = 0
    while start < max_results:
        size = min(page_size, max_results - start)
        url = arxiv_api_url(search_query=query, start=start, max_results=size, base=base)
        page = await _page(client, url, pacer, max_bytes)
        pages.append(page)
        start += len(page.papers) + page.skipped
        if len(page.papers) + page.skipped < size or (page.total is not None and start >= page.total):
            break
    return merge(pages)


async def lookup(
    client: httpx.AsyncClient,
    arxiv_ids: Sequence[str],
    *,
    pacer: Pacer | None = None,
    base: str = ARXIV_API_URL,
    max_bytes: int = MAX_BYTES,
) -> ParseResult:
    """Details of the given papers (ids without versions); unknown ids are simply absent."""
    pacer = pacer or Pacer()
    wanted = list(dict.fromkeys(arxiv_ids))
    pages = []
    for first in range(0, len(wanted), API_PAGE_SIZE):
        chunk = wanted[first : first + API_PAGE_SIZE]
        url = arxiv_api_url(id_list=chunk, max_results=len(chunk), base=base)
        pages.append(await _page(client, url, pacer, max_bytes))
    return merge(pages)


async def _page(client: httpx.AsyncClient, url: str, pacer: Pacer, max_bytes: int) -> ParseResult:
    await pacer.wait()
    try:
        fetched = await fetch(client, url, max_bytes=max_bytes)
    except HTTPStatusError as exc:
        explained = _api_error_in(exc.body)
        if explained is None:
            raise
        raise SourceError(f"{url}: arXiv API error: {explained}") from None
    if fetched.body is None:
        raise SourceError(f"{url}: no body")
    return arxiv_api.parse(fetched.body)


def _api_error_in(body: bytes) -> str | None:
    """arXiv answers a bad request with HTTP 400 and an Atom entry explaining it."""
    if not body:
        return None
    try:
        return arxiv_api.api_error(parse_xml_feed(body))
    except SourceError:
        return None


def merge(pages: Sequence[ParseResult]) -> ParseResult:
    """One result from several pages, each paper once."""
    papers: dict[str, PaperIn] = {}
    for page in pages:
        papers.update((p.key, p) for p in page.papers if p.key not in papers)
    notes = [page.note for page in pages if page.note]
    return ParseResult(
        papers=tuple(papers.values()),
        skipped=sum(page.skipped for page in pages),
        warnings=tuple(w for page in pages for w in page.warnings),
        note=notes[0] if notes and not papers else None,
        total=pages[0].total if pages else None,
    )
