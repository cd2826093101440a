"""Fetch and parse many sources at once, where one source's failure is its own outcome, never the others'."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from digest.errors import SourceError
from digest.sources.checked import storable_text
from digest.sources.fetch import MAX_BYTES, Sleep, fetch
from digest.sources.kinds import DEFAULT_ANNOUNCE_TYPES, parse
from digest.sources.parsed import ParseResult


@dataclass(frozen=True, slots=True)
class SourceRequest:
    name: str
    kind: str
    url: str
    etag: str | None = None  # validators stored from the previous fetch
    last_modified: str | None = None
    announce_types: frozenset[str] | None = None  # arxiv_rss only; None for the default


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    name: str
    url: str
    status: int | None  # 200, 304 (nothing new), or None when the fetch failed
    result: ParseResult | None  # None on 304 or on error
    etag: str | None
    last_modified: str | None
    error: str | None = None  # one line, when the source failed

    @property
    def ok(self) -> bool:
        return self.error is None


async def fetch_and_parse(
    client: httpx.AsyncClient,
    request: SourceRequest,
    *,
    max_bytes: int = MAX_BYTES,
    retries: int = 3,
    sleep: Sleep = asyncio.sleep,
) -> SourceOutcome:
    """Never raises SourceError: a failure is returned as the outcome's `error`."""
    try:
        fetched = await fetch(
            client,
            request.url,
            etag=request.etag,
            last_modified=request.last_modified,
            max_bytes=max_bytes,
            retries=retries,
            sleep=sleep,
        )
        if fetched.body is None:
            return SourceOutcome(
                request.name, request.url, fetched.status, None, fetched.etag, fetched.last_modified
            )
        types = request.announce_types or DEFAULT_ANNOUNCE_TYPES
        # Off the event loop: a big feed parses for a second or more, which would count against the
        # deadlines of the fetches still under way.
        result = await asyncio.to_thread(parse, request.kind, fetched.body, announce_types=types)
    except SourceError as exc:
        error = storable_text(str(exc))  # it is printed, logged and stored: never a lone surrogate
        return SourceOutcome(
            request.name, request.url, None, None, request.etag, request.last_modified, error=error
        )
    return SourceOutcome(
        request.name, request.url, fetched.status, result, fetched.etag, fetched.last_modified
    )


async def fetch_many(
    client: httpx.AsyncClient,
    requests: Sequence[SourceRequest],
    *,
    max_bytes: int = MAX_BYTES,
    retries: int = 3,
    sleep: Sleep = asyncio.sleep,
) -> list[SourceOutcome]:
    """All sources concurrently (the client's per-host limit keeps it polite), outcomes in request order."""
    work = (fetch_and_parse(client, r, max_bytes=max_bytes, retries=retries, sleep=sleep) for r in requests)
    return list(await asyncio.gather(*work))
