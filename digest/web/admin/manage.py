"""The dashboard's subscribers (search, pause, resume, unsubscribe) and sources (status, fetch now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from digest.store import dashboard
from digest.store.db import transaction
from digest.store.models import SubscriberStatus
from digest.web.admin.auth import Admin
from digest.web.forms import read_form
from digest.web.state import State

router = APIRouter(prefix="/admin", include_in_schema=False)
PAGE_SIZE = 50
ACTIONS = ("pause", "resume", "unsubscribe")
STATES = tuple(status.value for status in SubscriberStatus)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) < 100_000 else 1


@router.get("/subscribers")
def subscribers_page(
    request: Request, state: State, _: Admin, q: str = "", status: str = "", page: str | None = None
) -> Response:
    number = _page_number(page)
    chosen = status if status in STATES else ""
    with transaction(state.ctx.sessions) as session:
        total, rows = dashboard.find_subscribers(
            session, q.strip()[:320], chosen or None, (number - 1) * PAGE_SIZE, PAGE_SIZE
        )
    here = urlencode({"q": q, "status": chosen, "page": number})
    return state.page(
        request, "admin/subscribers.html", section="subscribers", q=q, wanted=chosen, states=STATES,
        rows=rows, total=total, number=number, pages=max(1, -(-total // PAGE_SIZE)), here=here,
        done=request.query_params.get("done"),
    )  # fmt: skip


@router.post("/subscribers/{subscriber_id}/{action}")
async def change_subscriber(
    request: Request, state: State, _: Admin, subscriber_id: int, action: str
) -> Response:
    values = await read_form(request, state)
    if action not in ACTIONS or not 0 < subscriber_id < 2**31:  # ids are 32-bit on PostgreSQL
        return Response(status_code=404)
    with transaction(state.ctx.sessions) as session:
        changed = dashboard.change_state(session, subscriber_id, action, state.clock())
    back = values.get("back", "")
    query = back if not any(char in back for char in "/\\\r\n") else ""  # only our own query string
    outcome = f"{action}:{subscriber_id}:{'done' if changed else 'unchanged'}"
    separator = "&" if query else ""
    return RedirectResponse(f"/admin/subscribers?{query}{separator}done={outcome}", status_code=303)


@dataclass(frozen=True, slots=True)
class SourceLine:
    name: str
    kind: str
    enabled: bool
    last_fetch_at: datetime | None
    outcome: str | None
    error: str | None
    new: int
    updated: int
    next_fetch_at: datetime | None
    known: bool  # has a row: fetched at least once


@router.get("/sources")
def sources_page(request: Request, state: State, _: Admin) -> Response:
    with transaction(state.ctx.sessions) as session:
        rows = dashboard.sources_by_name(session)
    lines = []
    for source in state.ctx.settings.sources:
        row = rows.get(source.name)
        lines.append(
            SourceLine(
                source.name,
                source.kind,
                source.enabled,
                row.last_fetch_at if row else None,
                row.last_outcome if row else None,
                row.last_error if row else None,
                row.last_new if row else 0,
                row.last_updated if row else 0,
                row.next_fetch_at if row else None,
                row is not None,
            )
        )
    return state.page(
        request, "admin/sources.html", section="sources", lines=lines, now=state.clock(),
        done=request.query_params.get("done"),
    )  # fmt: skip


@router.post("/sources/{name}/fetch")
async def fetch_now(request: Request, state: State, _: Admin, name: str) -> Response:
    """Make the source due now; the scheduler fetches it on its next tick (within `tick_seconds`)."""
    await read_form(request, state)
    if name not in {source.name for source in state.ctx.settings.sources}:
        return Response(status_code=404)
    with transaction(state.ctx.sessions) as session:
        dashboard.fetch_now(session, name, state.clock())
    return RedirectResponse(f"/admin/sources?{urlencode({'done': name})}", status_code=303)
