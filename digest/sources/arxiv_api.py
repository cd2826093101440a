"""The arXiv API (export.arxiv.org/api/query): Atom, legacy (pre-2025) and current backends alike.

An error is an Atom feed whose single entry is titled "Error" (with HTTP 400); it becomes a SourceError.
Responses recorded as JSON `{url, status_code, body}` (the arxiv.py test harness) are unwrapped first.
"""

from __future__ import annotations

from typing import Any

from digest.errors import SourceError
from digest.records import PaperIn
from digest.sources import ids
from digest.sources.parsed import (
    ParseResult,
    collect,
    entry_label,
    load_json,
    looks_like_json,
    parse_xml_feed,
    utc_from_struct,
)
from digest.sources.text import clean_line, clean_text

KIND = "arxiv_api"
NO_RESULTS_NOTE = "no results for this query"


def parse(body: bytes) -> ParseResult:
    if looks_like_json(body):
        body = _unwrap_recording(body)
    feed = parse_xml_feed(body)
    error = api_error(feed)
    if error is not None:
        raise SourceError(f"arXiv API error: {error}")
    if not feed.get("version") and not feed.entries:
        raise SourceError("arXiv API: not an Atom feed")
    total = _int(feed.get("feed", {}).get("opensearch_totalresults"))
    note = NO_RESULTS_NOTE if not feed.entries else None
    return collect(feed.entries, _paper, entry_label, note=note, total=total, feed=feed)


def _unwrap_recording(body: bytes) -> bytes:
    data = load_json(body, "arXiv API recording")
    recorded = data.get("body") if isinstance(data, dict) else None
    if not isinstance(recorded, str):
        raise SourceError("arXiv API: JSON that is not a recorded response {url, status_code, body}")
    return recorded.encode("utf-8")


def api_error(feed: Any) -> str | None:
    """The message of an arXiv API error entry, or None when the feed is a normal result."""
    for entry in feed.entries:
        if "/api/errors" in str(entry.get("id", "")) or str(entry.get("title", "")).strip() == "Error":
            return clean_line(entry.get("summary")) or "unspecified error"
    return None


def _paper(entry: Any) -> PaperIn:
    arxiv_id = ids.normalise_arxiv_id(entry.get("id"))
    if arxiv_id is None:
        raise ValueError(f"entry id {entry.get('id')!r} is not an arXiv id")
    title = clean_line(entry.get("title"))
    if not title:
        raise ValueError("no title")
    return PaperIn(
        key=ids.paper_key(arxiv_id, None, None),
        title=title,
        abstract=clean_text(entry.get("summary")),
        url=ids.abs_url(arxiv_id),
        source_kind=KIND,
        arxiv_id=arxiv_id,
        doi=ids.normalise_doi(entry.get("arxiv_doi")),
        authors=tuple(n for a in entry.get("authors", ()) if (n := clean_line(a.get("name")))),
        categories=_categories(entry),
        published=utc_from_struct(entry.get("published_parsed") or entry.get("updated_parsed")),
        pdf_url=ids.pdf_url(arxiv_id),
    )


def _categories(entry: Any) -> tuple[str, ...]:
    primary = (entry.get("arxiv_primary_category") or {}).get("term")
    terms = [str(t["term"]) for t in entry.get("tags", ()) if t.get("term")]
    ordered = ([primary] if primary else []) + terms
    return tuple(dict.fromkeys(ordered))


def _int(value: object) -> int | None:
    text = str(value).strip()
    # int() reads full-width and other Unicode digits; a count from the feed is ASCII or not a count.
    return int(text) if text.isascii() and text.isdigit() else None
