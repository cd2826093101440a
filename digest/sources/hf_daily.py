"""Hugging Face daily papers (`/api/daily_papers`, by date or trending): a JSON array of submissions.

Each item nests the paper (arXiv id, authors, upvotes, GitHub and AI fields) under `paper`; `numComments`
lives only at the top level. The arXiv id becomes the key, so a paper seen here and on arXiv RSS is one row.
"""

from __future__ import annotations

from typing import Any

from digest.errors import SourceError
from digest.records import PaperIn
from digest.sources import ids
from digest.sources.checked import count, storable_text
from digest.sources.parsed import Converted, ParseResult, collect, load_json, utc_from_iso
from digest.sources.text import clean_line, clean_text

KIND = "hf_daily"
NO_LIST_NOTE = "no daily list (weekend or holiday)"


def parse(body: bytes) -> ParseResult:
    data = load_json(body, "Hugging Face daily papers")
    if isinstance(data, dict):
        message = data.get("error") or data.get("message") or "an object instead of a list of papers"
        first_line = (str(message).splitlines() or [""])[0]
        raise SourceError(f"Hugging Face daily papers: {storable_text(first_line)[:200]}")
    if not isinstance(data, list):
        raise SourceError("Hugging Face daily papers: expected a JSON list of papers")
    if not data:
        return ParseResult((), note=NO_LIST_NOTE)
    return collect(data, _paper, _label)


def _label(index: int, item: Any) -> str:
    paper = item.get("paper") if isinstance(item, dict) else None
    ident = paper.get("id") if isinstance(paper, dict) else None
    return f"item {index + 1} ({ident})" if ident else f"item {index + 1}"


def _paper(item: Any) -> Converted:
    if not isinstance(item, dict):
        raise TypeError("not a JSON object")
    paper = item["paper"]
    fixes: list[str] = []
    raw_id = str(paper["id"])
    arxiv_id = ids.normalise_arxiv_id(raw_id)
    title = clean_line(item.get("title") or paper.get("title"))
    if not title:
        raise ValueError("no title")
    page = ids.abs_url(arxiv_id) if arxiv_id else f"https://huggingface.co/papers/{raw_id}"
    found = PaperIn(
        key=ids.paper_key(arxiv_id, None, page),
        title=title,
        abstract=clean_text(paper.get("summary") or item.get("summary")),
        url=page,
        source_kind=KIND,
        arxiv_id=arxiv_id,
        authors=tuple(name for a in paper.get("authors") or () if (name := clean_line(a.get("name")))),
        published=utc_from_iso(paper.get("publishedAt")),
        pdf_url=ids.pdf_url(arxiv_id) if arxiv_id else None,
        upvotes=count(paper.get("upvotes"), "upvotes", fixes),
        comments=count(item.get("numComments"), "comments", fixes),
        github_repo=_str(paper.get("githubRepo")),
        github_stars=count(paper.get("githubStars"), "github_stars", fixes),
        project_page=_str(paper.get("projectPage")),
        ai_summary=clean_text(paper.get("ai_summary")) or None,
        keywords=tuple(k for raw in paper.get("ai_keywords") or () if (k := clean_line(str(raw)))),
    )
    return Converted(found, tuple(fixes))


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
