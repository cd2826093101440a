"""Source adapters: bytes of a recorded or fetched response in, the package's own `PaperIn` records out.

    fetch(client, url) -> FetchResult.body --parse(kind)--> ParseResult(papers, skipped, warnings, note)

One module per kind (`hf_daily`, `arxiv_rss`, `arxiv_api`, `feed`); `ids` gives every paper one key and
`text` turns whatever markup a source sends into plain text. Parsing is pure; only `fetch` (and `gather`,
`arxiv_paging`, built on it) does I/O.
"""

from __future__ import annotations

from digest.sources.fetch import FetchResult, HTTPStatusError, fetch, make_client
from digest.sources.gather import SourceOutcome, SourceRequest, fetch_and_parse, fetch_many
from digest.sources.kinds import ANNOUNCE_TYPES, DEFAULT_ANNOUNCE_TYPES, KINDS, parse
from digest.sources.parsed import ParseResult, refuse_unsafe_xml
from digest.sources.urls import arxiv_api_url, default_url

__all__ = [
    "ANNOUNCE_TYPES",
    "DEFAULT_ANNOUNCE_TYPES",
    "KINDS",
    "FetchResult",
    "HTTPStatusError",
    "ParseResult",
    "SourceOutcome",
    "SourceRequest",
    "arxiv_api_url",
    "default_url",
    "fetch",
    "fetch_and_parse",
    "fetch_many",
    "make_client",
    "parse",
    "refuse_unsafe_xml",
]
