"""The source kinds and the one dispatch from a kind to its adapter."""

from __future__ import annotations

from digest.errors import SourceError
from digest.sources import arxiv_api, arxiv_rss, feed, hf_daily
from digest.sources.checked import storable_text
from digest.sources.parsed import ParseResult

KINDS: tuple[str, ...] = ("hf_daily", "arxiv_rss", "arxiv_api", "feed")
ANNOUNCE_TYPES: frozenset[str] = frozenset({"new", "cross", "replace", "replace-cross"})
DEFAULT_ANNOUNCE_TYPES: frozenset[str] = frozenset({"new", "cross"})


def parse(kind: str, body: bytes, *, announce_types: frozenset[str] = DEFAULT_ANNOUNCE_TYPES) -> ParseResult:
    """Parse one response of `kind`. Raises SourceError (one line) when the response as a whole is unusable;
    a bad entry only costs itself (counted in `skipped`, named in `warnings`)."""
    try:
        return _parse(kind, body, announce_types)
    except SourceError:
        raise
    # Untrusted bytes go into third-party parsers (feedparser, json): whatever they raise on one response
    # is that response's failure, reported in one line, never a traceback that stops the other sources.
    except Exception as exc:
        detail = storable_text(str(exc).splitlines()[0] if str(exc).strip() else "")[:200]
        raise SourceError(
            f"{kind}: the response could not be parsed ({type(exc).__name__}: {detail})"
        ) from None


def _parse(kind: str, body: bytes, announce_types: frozenset[str]) -> ParseResult:
    if kind == "hf_daily":
        return hf_daily.parse(body)
    if kind == "arxiv_rss":
        return arxiv_rss.parse(body, announce_types)
    if kind == "arxiv_api":
        return arxiv_api.parse(body)
    if kind == "feed":
        return feed.parse(body)
    raise SourceError(f"unknown source kind {kind!r} (known: {', '.join(KINDS)})")
