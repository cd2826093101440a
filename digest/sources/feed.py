"""Any RSS or Atom feed: a journal's table of contents, bioRxiv/medRxiv, a lab blog, an arXiv mirror.

A paper is keyed by the arXiv id a link or id reveals, else its DOI, else its link. The medRxiv/bioRxiv
details API answers JSON rather than a feed; it is recognised by shape and parsed by `medrxiv`.
"""

from __future__ import annotations

import re
from typing import Any

from digest.errors import SourceError
from digest.records import PaperIn
from digest.sources import ids, medrxiv
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

KIND = "feed"
_DOI_IN_TEXT_RE = re.compile(r"\b10\.[0-9]{4,9}/[^\s\"<>]+")


def parse(body: bytes) -> ParseResult:
    if looks_like_json(body):
        data = load_json(body, "feed")
        if medrxiv.is_details_response(data):
            return medrxiv.parse(data)
        raise SourceError("feed: JSON of an unknown shape (expected RSS, Atom or a bioRxiv/medRxiv response)")
    feed = parse_xml_feed(body)
    if not feed.get("version") and not feed.entries:
        raise SourceError(f"feed: not an RSS or Atom feed ({_bozo_reason(feed)})")
    note = "the feed has no items" if not feed.entries else None
    return collect(feed.entries, _paper, entry_label, note=note, feed=feed)


def _bozo_reason(feed: Any) -> str:
    reason = feed.get("bozo_exception")
    return str(reason).splitlines()[0] if reason else "no channel or feed element"


def _paper(entry: Any) -> PaperIn:
    link = str(entry.get("link") or "").strip() or None
    hrefs = [str(x.get("href", "")) for x in entry.get("links", ())]
    candidates = [str(entry.get("id") or ""), link or "", *hrefs]
    arxiv_id = next((found for c in candidates if (found := ids.arxiv_id_in_link(c))), None)
    doi = _doi(entry, candidates)
    title = clean_line(entry.get("title"))
    if not title:
        raise ValueError("no title")
    if arxiv_id is None and doi is None and link is None:
        raise ValueError("no arXiv id, DOI or link to identify the paper")
    return PaperIn(
        key=ids.paper_key(arxiv_id, doi, link),
        title=title,
        abstract=clean_text(_body(entry)),
        url=ids.abs_url(arxiv_id) if arxiv_id else (link or f"https://doi.org/{doi}"),
        source_kind=KIND,
        arxiv_id=arxiv_id,
        doi=doi,
        authors=tuple(n for a in entry.get("authors", ()) if (n := clean_line(a.get("name")))),
        categories=tuple(t["term"] for t in entry.get("tags", ()) if t.get("term")),
        published=utc_from_struct(entry.get("published_parsed") or entry.get("updated_parsed")),
        pdf_url=ids.pdf_url(arxiv_id) if arxiv_id else None,
    )


def _doi(entry: Any, candidates: list[str]) -> str | None:
    for field in ("prism_doi", "dc_identifier", "arxiv_doi"):
        if found := ids.normalise_doi(str(entry.get(field) or "")):
            return found
    for candidate in candidates:
        if found := ids.normalise_doi(candidate):
            return found
        match = _DOI_IN_TEXT_RE.search(candidate) if "doi" in candidate.lower() else None
        if match and (found := ids.normalise_doi(match.group(0))):
            return found
    return None


def _body(entry: Any) -> str:
    # Full content when the feed has it; journals often put only the abstract in the summary.
    summary = str(entry.get("summary") or "")
    contents = [str(c.get("value", "")) for c in entry.get("content", ())]
    longest = max(contents, key=len, default="")
    return longest if len(longest) > len(summary) else summary
