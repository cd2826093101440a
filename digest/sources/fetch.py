"""Polite, bounded HTTP: one shared client, a per-host limit, conditional requests, capped bodies, retries.

Every failure becomes a SourceError whose one line names the URL and what went wrong, so a failing source is
recorded and reported while the others carry on.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from digest.errors import SourceError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
MAX_BYTES = 20_000_000  # the default of `[fetch] max_bytes`, which callers pass on
MAX_WAIT = 120.0  # seconds; a longer Retry-After is reported rather than slept through
_ERROR_BODY_LIMIT = 65_536

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # where the body came from, after redirects
    status: int  # 200, or 304 when not modified
    body: bytes | None  # None on 304
    etag: str | None
    last_modified: str | None


class HTTPStatusError(SourceError):
    """The server answered with an error status; `body` keeps its start (arXiv explains errors there)."""

    def __init__(self, message: str, *, status: int, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class _Retry:
    status: int
    retry_after: str | None


def make_client(user_agent: str, timeout: float = 30.0, max_per_host: int = 2) -> httpx.AsyncClient:
    """The one client all sources share: User-Agent with a contact address, timeouts, bounded redirects."""
    transport = _PerHostLimit(httpx.AsyncHTTPTransport(), max_per_host)
    return httpx.AsyncClient(
        transport=transport,
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = MAX_BYTES,
    retries: int = 3,
    sleep: Sleep = asyncio.sleep,
    max_wait: float = MAX_WAIT,
    deadline: float | None = None,
) -> FetchResult:
    """GET `url`; a 304 (when `etag`/`last_modified` still hold) returns no body and costs nothing.

    Each attempt (connect, headers and the whole body) must finish within `deadline` seconds, by default
    the client's timeout: httpx's own timeouts restart with every chunk, so a server trickling a byte at a
    time would otherwise hold the fetch for ever."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise SourceError(f"{url}: only http and https URLs are fetched")
    headers = {"If-None-Match": etag} if etag else {}
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    retries = max(0, retries)
    outcome: FetchResult | _Retry = _Retry(0, None)
    seconds = deadline if deadline is not None else client.timeout.read
    for attempt in range(retries + 1):
        attempt_once = _attempt(
            client, url, headers=headers, max_bytes=max_bytes, etag=etag, last_modified=last_modified
        )
        outcome = await _within(seconds, url, attempt_once)
        if isinstance(outcome, FetchResult):
            return outcome
        if attempt == retries:
            break
        await sleep(_delay(url, outcome, attempt, max_wait))
    raise HTTPStatusError(f"{url}: HTTP {outcome.status} after {retries + 1} attempts", status=outcome.status)


async def _within(seconds: float | None, url: str, work: Awaitable[T]) -> T:
    """`work`, cancelled once `seconds` have passed however steadily it makes progress."""
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        raise SourceError(f"{url}: timed out after {seconds:g} s") from None


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str],
    max_bytes: int,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult | _Retry:
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code in RETRY_STATUSES:
                return _Retry(response.status_code, response.headers.get("Retry-After"))
            if response.status_code >= 400:
                start = await _read(response, _ERROR_BODY_LIMIT, url, truncate=True)
                raise HTTPStatusError(
                    f"{url}: HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                    status=response.status_code,
                    body=start,
                )
            new_etag = response.headers.get("ETag") or etag
            new_modified = response.headers.get("Last-Modified") or last_modified
            final_url = str(response.url)
            if response.status_code == 304:
                return FetchResult(final_url, 304, None, new_etag, new_modified)
            body = await _read(response, max_bytes, url)
            return FetchResult(final_url, response.status_code, body, new_etag, new_modified)
    except httpx.TimeoutException:
        raise SourceError(f"{url}: timed out after {_timeout(client)} s") from None
    except httpx.TooManyRedirects:
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects (a redirect loop?)") from None
    except httpx.UnsupportedProtocol as exc:
        raise SourceError(f"{url}: redirected to an unsupported URL ({exc})") from None
    except httpx.HTTPError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise SourceError(f"{url}: {type(exc).__name__}: {detail}".rstrip(": ")) from None


async def _read(response: httpx.Response, limit: int, url: str, *, truncate: bool = False) -> bytes:
    """The decoded body, refused once it passes `limit` bytes: a gzip bomb is stopped while it inflates."""
    declared = response.headers.get("Content-Length", "")
    if not truncate and _ascii_number(declared) and int(declared) > limit:
        raise SourceError(f"{url}: response of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            if truncate:
                chunks.append(chunk[: limit - (size - len(chunk))])
                break
            raise SourceError(f"{url}: response is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _delay(url: str, retry: _Retry, attempt: int, max_wait: float) -> float:
    asked = retry_after_seconds(retry.retry_after, datetime.now(UTC))
    if asked is None:
        return float(min(max_wait, 2**attempt))
    if asked > max_wait:
        raise HTTPStatusError(
            f"{url}: HTTP {retry.status} asking to retry after {asked:.0f} s (more than {max_wait:.0f} s)",
            status=retry.status,
        )
    return asked


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    if _ascii_number(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _ascii_number(text: str) -> bool:
    # str.isdigit() also holds for "²" and "٣", which int() and float() then refuse or misread.
    return text.isascii() and text.isdigit()


def _timeout(client: httpx.AsyncClient) -> str:
    seconds = client.timeout.read
    return f"{seconds:g}" if seconds is not None else "?"


class _PerHostLimit(httpx.AsyncBaseTransport):
    """At most `limit` requests in flight per host; a slot is held until the response body is closed."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._limit = max(1, limit)
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        slot = self._slots.setdefault(request.url.host, asyncio.Semaphore(self._limit))
        await slot.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            slot.release()
            raise
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):
            slot.release()
            return response
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(stream, slot),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, slot: asyncio.Semaphore) -> None:
        self._inner = inner
        self._slot: asyncio.Semaphore | None = slot

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._slot is not None:
                self._slot.release()
                self._slot = None
