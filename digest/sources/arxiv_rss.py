"""arXiv announcement feeds (rss.arxiv.org/rss/a+b and /atom/a+b), 2024+ format.

The id and version sit in `<guid>oai:arXiv.org:<id>v<N>` and in the description's first line
("arXiv:<id>v<N> Announce Type: new"), which precedes "Abstract: ...". Which announce types are taken is the
caller's choice; the others are counted as skipped.
"""

from __future__ import annotations

import re
from typing import Any

from digest.errors import SourceError
from digest.records import PaperIn
from digest.sources import ids
from digest.sources.parsed import (
    EntrySkipped,
    ParseResult,
    collect,
    entry_label,
    parse_xml_feed,
    utc_from_struct,
)
from digest.sources.text import clean_line, clean_text, split_authors

KIND = "arxiv_rss"
EMPTY_NOTE = "empty day: the feed has no items"
_HEADER_RE = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE
)


def parse(body: bytes, announce_types: frozenset[str]) -> ParseResult:
    feed = parse_xml_feed(body)
    channel = feed.get("feed", {})
    title = str(channel.get("title", ""))
    if title.startswith("Feed error for query"):
        detail = clean_line(channel.get("subtitle") or channel.get("description") or title)
        raise SourceError(f"arXiv RSS feed error: {detail}")
    if not feed.entries:
        if not feed.get("version"):
            raise SourceError("arXiv RSS: not an RSS or Atom feed")
        return ParseResult((), note=EMPTY_NOTE)
    wanted = frozenset(t.lower() for t in announce_types)
    return collect(feed.entries, lambda entry: _paper(entry, wanted), entry_label, feed=feed)


def _paper(entry: Any, wanted: frozenset[str]) -> PaperIn:
    description = str(entry.get("summary", ""))
    header = _HEADER_RE.match(description)
    announce = str(entry.get("arxiv_announce_type") or (header.group("type") if header else "")).lower()
    if announce and announce not in wanted:
        raise EntrySkipped
    arxiv_id = (
        ids.normalise_arxiv_id(entry.get("id"))
        or ids.normalise_arxiv_id(header.group("id") if header else None)
        or ids.normalise_arxiv_id(entry.get("link"))
    )
    if arxiv_id is None:
        raise ValueError("no arXiv id in guid, description or link")
    title = clean_line(entry.get("title"))
    if not title:
        raise ValueError("no title")
    abstract = description[header.end() :] if header else description
    return PaperIn(
        key=ids.paper_key(arxiv_id, None, None),
        title=title,
        abstract=clean_text(abstract),
        url=ids.abs_url(arxiv_id),
        source_kind=KIND,
        arxiv_id=arxiv_id,
        doi=ids.normalise_doi(entry.get("arxiv_doi")),
        authors=_authors(entry),
        categories=tuple(t["term"] for t in entry.get("tags", ()) if t.get("term")),
        published=utc_from_struct(entry.get("published_parsed") or entry.get("updated_parsed")),
        pdf_url=ids.pdf_url(arxiv_id),
        announce_type=announce or None,
    )


def _authors(entry: Any) -> tuple[str, ...]:
    # RSS gives one comma-joined dc:creator; the Atom flavour may give one element per author.
    names = [str(a.get("name", "")) for a in entry.get("authors", ()) if a.get("name")]
    if len(names) == 1:
        return split_authors(names[0])
    return tuple(name for raw in names for name in split_authors(raw))
