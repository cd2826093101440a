"""Where each kind of source lives by default, and the arXiv API query URLs used for paging and look-ups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from urllib.parse import urlencode

from digest.errors import SourceError

HF_DAILY_URL = "https://huggingface.co/api/daily_papers"
ARXIV_RSS_URL = "https://rss.arxiv.org/rss/"
ARXIV_API_URL = "https://export.arxiv.org/api/query"
DEFAULT_CATEGORIES = ("cs.CL", "cs.LG")
API_PAGE_SIZE = 100


def default_url(
    kind: str, *, categories: Sequence[str] = (), query: str | None = None, day: date | None = None
) -> str:
    """The URL a source of `kind` fetches when the settings name none.

    hf_daily takes `day` (a date's list) or `query="trending"`; arxiv_rss and arxiv_api take `categories`
    (default cs.CL and cs.LG); arxiv_api takes a search `query` instead when given.
    """
    if kind == "hf_daily":
        params = {"date": day.isoformat()} if day else ({"sort": "trending"} if query == "trending" else {})
        return HF_DAILY_URL + (f"?{urlencode(params)}" if params else "")
    chosen = tuple(categories) or DEFAULT_CATEGORIES
    if kind == "arxiv_rss":
        return ARXIV_RSS_URL + "+".join(chosen)
    if kind == "arxiv_api":
        search = query or " OR ".join(f"cat:{c}" for c in chosen)
        return arxiv_api_url(search_query=search)
    if kind == "feed":
        raise SourceError("a source of kind 'feed' has no default URL: set its url")
    raise SourceError(f"unknown source kind {kind!r}")


def arxiv_api_url(
    *,
    search_query: str = "",
    id_list: Sequence[str] = (),
    start: int = 0,
    max_results: int = API_PAGE_SIZE,
    newest_first: bool = True,
    base: str = ARXIV_API_URL,
) -> str:
    params: dict[str, str | int] = {
        "search_query": search_query,
        "id_list": ",".join(id_list),
        "start": start,
        "max_results": max_results,
    }
    if newest_first and search_query:
        params |= {"sortBy": "submittedDate", "sortOrder": "descending"}
    return f"{base}?{urlencode(params)}"
