"""The dashboard's login, overview and deliveries of a day. Every route but the login form depends on
`Admin`; every POST reads its form through `read_form`, which checks the CSRF token."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from digest.store import dashboard
from digest.store.db import transaction
from digest.web.admin.auth import Admin, check_login, enabled_hash, end_session, has_session, start_session
from digest.web.admin.overview import overview
from digest.web.forms import read_form
from digest.web.state import State, WebState

router = APIRouter(prefix="/admin", include_in_schema=False)
SHOWN = 500  # troubled deliveries listed for a day; the counts above the table tell how many there are


@router.get("/login")
def login_form(request: Request, state: State) -> Response:
    enabled_hash(state)
    if has_session(request, state):
        return RedirectResponse("/admin", status_code=303)
    return state.page(request, "admin/login.html", error=None)


@router.post("/login")
async def login(request: Request, state: State) -> Response:
    enabled_hash(state)
    values = await read_form(request, state)
    right = await run_in_threadpool(check_login, request, state, values.get("password", ""))
    if not right:
        return state.page(request, "admin/login.html", status=401, error="That is not the password.")
    response = RedirectResponse("/admin", status_code=303)
    start_session(response, state)
    return response


@router.post("/logout")
async def logout(request: Request, state: State, _: Admin) -> Response:
    await read_form(request, state)
    response = RedirectResponse("/admin/login", status_code=303)
    end_session(response, state)
    return response


@router.get("")
def overview_page(request: Request, state: State, _: Admin) -> Response:
    now = state.clock()
    with transaction(state.ctx.sessions) as session:
        shown = overview(session, now, request.app.state.admin_days)
    return state.page(request, "admin/overview.html", now=now, section="overview", **shown)


def _day(state: WebState, text: str | None) -> date:
    if not text:
        return state.clock().date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        return state.clock().date()


@router.get("/deliveries")
def deliveries_page(request: Request, state: State, _: Admin, day: str | None = None) -> Response:
    chosen = _day(state, day)
    with transaction(state.ctx.sessions) as session:
        counts = dashboard.day_counts(session, chosen)
        rows = dashboard.troubled_on(session, chosen, SHOWN)
    done = request.query_params.get("resent")
    return state.page(
        request, "admin/deliveries.html", section="deliveries", day=chosen, counts=counts, rows=rows,
        shown=SHOWN, resent=int(done) if done and done.isdigit() else None,
    )  # fmt: skip


@router.post("/deliveries/resend")
async def resend(request: Request, state: State, _: Admin) -> Response:
    """Mark `unknown` digests pending again (one, or all of the day): the next send takes them."""
    values = await read_form(request, state)
    chosen = _day(state, values.get("day"))
    wanted = values.get("delivery", "")
    with transaction(state.ctx.sessions) as session:
        if not wanted:  # the "all unknown of the day" button
            ids = dashboard.unknown_ids_on(session, chosen)
        elif wanted.isascii() and wanted.isdigit() and len(wanted) <= 9:  # ids are 32-bit on PostgreSQL
            ids = [int(wanted)]
        else:
            ids = []
        count = dashboard.resend_unknown(session, ids, state.clock())
    return RedirectResponse(f"/admin/deliveries?day={chosen.isoformat()}&resent={count}", status_code=303)
