"""The day's trending papers: `/papers`, `/papers/YYYY-MM-DD` and `/api/papers?date=`, with a category
filter and a search box; no JavaScript needed.

A built day is kept in memory while the papers table does not change (`trending.stamp`), so that a day of
2,000 papers is ranked once, not on every visit.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from digest.subscribers.trending import PAGE_SIZE, TrendingDay, TrendingPaper, stamp, trending_day
from digest.web.state import State, WebState

router = APIRouter()
_KEPT_DAYS = 8


def _parse_day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(404, "no such day: write it as YYYY-MM-DD") from None


async def _day(request: Request, state: WebState, day: date | None) -> TrendingDay:
    cache: dict[Any, TrendingDay] = request.app.state.__dict__.setdefault("trending_days", {})
    key = (day, await run_in_threadpool(stamp, state.ctx))
    if key not in cache:
        if len(cache) >= _KEPT_DAYS:
            cache.clear()
        cache[key] = await run_in_threadpool(trending_day, state.ctx, day, state.clock())
    return cache[key]


def _page_of(papers: list[TrendingPaper], page: int) -> tuple[list[TrendingPaper], int]:
    pages = max(1, -(-len(papers) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return papers[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], pages


@router.get("/papers", include_in_schema=False)
@router.get("/papers/{day}", include_in_schema=False)
async def papers_page(
    request: Request,
    state: State,
    day: str | None = None,
    category: str = "",
    q: str = Query("", max_length=200),
    page: int = 1,
) -> Response:
    """`/papers` is the newest day with papers, `/papers/YYYY-MM-DD` that day."""
    built = await _day(request, state, _parse_day(day))
    found = built.matching(category, q)
    shown, pages = _page_of(found, page)
    return state.page(
        request, "papers.html", built=built, papers=shown, found=len(found), page=min(max(1, page), pages),
        pages=pages, category=category, query=q, form={"email": "", "interests": q},
    )  # fmt: skip


@router.get("/api/papers", responses={404: {"description": "a date that is not YYYY-MM-DD"}})
async def api_papers(
    request: Request, state: State, date: str | None = None, category: str = "", q: str = ""
) -> JSONResponse:
    """The day's papers (default: the newest day), most trending first, as the /papers page lists them."""
    built = await _day(request, state, _parse_day(date))
    return JSONResponse({
        "date": built.day.isoformat() if built.day else None,
        "previous": built.previous.isoformat() if built.previous else None,
        "next": built.next.isoformat() if built.next else None,
        "papers": [_as_json(paper) for paper in built.matching(category, q)],
    })  # fmt: skip


def _as_json(paper: TrendingPaper) -> dict[str, Any]:
    card = paper.card
    return {
        "title": card.title, "url": card.url, "arxiv_id": paper.arxiv_id, "authors": card.authors,
        "categories": list(card.categories), "summary": card.summary, "pdf_url": card.pdf_url,
        "code_url": card.code_url, "hf_url": card.hf_url, "upvotes": card.upvotes, "comments": card.comments,
        "github_stars": card.github_stars, "trending": round(paper.score, 4),
    }  # fmt: skip
