"""The public pages: subscribe (with a preview of today's matches), ask for a manage link, health."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from digest.context import Context
from digest.store.db import reachable
from digest.subscribers import actions as subscriptions
from digest.subscribers.actions import Preferences
from digest.subscribers.mails import Mail
from digest.subscribers.pages import preview_matches
from digest.web.forms import check_subscription, read_form
from digest.web.later import after_answer
from digest.web.ratelimit import preview_limit, subscribe_limits
from digest.web.state import State, WebState, client_ip

router = APIRouter(include_in_schema=False)


def _blank_form(state: WebState) -> dict[str, str]:
    defaults = state.ctx.settings.digest
    return {
        "email": "",
        "interests": "",
        "send_hour": str(defaults.default_send_hour),
        "timezone": defaults.default_timezone,
    }


@router.get("/")
def home(request: Request, state: State) -> Response:
    return state.page(request, "subscribe.html", form=_blank_form(state), errors={}, preview=None, guess=True)


@router.post("/subscribe")
async def subscribe(request: Request, background: BackgroundTasks, state: State) -> Response:
    values = await read_form(request, state)
    preview = values.get("action") == "preview"
    if preview:
        preview_limit(state.limiter, state.limits, client_ip(request))
    else:
        subscribe_limits(state.limiter, state.limits, client_ip(request), None)
    checked = check_subscription(values, need_address=not preview)
    if checked.errors or checked.wish is None:
        return state.page(
            request, "subscribe.html", status=422,
            form=checked.values, errors=checked.errors, preview=None, guess=False,
        )  # fmt: skip
    if preview:
        items = await run_in_threadpool(preview_matches, state.ctx, checked.wish.interests, state.clock())
        return state.page(
            request, "subscribe.html", form=checked.values, errors={}, preview=items, guess=False
        )
    assert checked.address is not None  # checked above with need_address
    subscribe_limits(state.limiter, state.limits, client_ip(request), checked.address)
    # The same answer, after the same work, whatever the address's state: the lookup comes after it.
    after_answer(background, state, partial(_subscribe, wish=checked.wish), checked.address)
    return RedirectResponse("/subscribed", status_code=303)


def _subscribe(ctx: Context, address: str, now: datetime, *, wish: Preferences) -> Mail | None:
    return subscriptions.subscribe(ctx, address, wish, now)


@router.get("/subscribed")
def subscribed(request: Request, state: State) -> Response:
    return state.page(request, "subscribed.html")


@router.get("/manage-link")
def manage_link_form(request: Request, state: State) -> Response:
    return state.page(request, "manage_link.html", email="", error=None)


@router.post("/manage-link")
async def manage_link(request: Request, background: BackgroundTasks, state: State) -> Response:
    values = await read_form(request, state)
    subscribe_limits(state.limiter, state.limits, client_ip(request), None)
    email = values.get("email", "")
    try:
        address = subscriptions.check_address(email)
    except subscriptions.FieldError as exc:
        return state.page(request, "manage_link.html", status=422, email=email, error=str(exc))
    subscribe_limits(state.limiter, state.limits, client_ip(request), address)
    after_answer(background, state, subscriptions.request_manage_link, address)
    return RedirectResponse("/manage-link/sent", status_code=303)


@router.get("/manage-link/sent")
def manage_link_sent(request: Request, state: State) -> Response:
    return state.page(request, "manage_link_sent.html")


@router.get("/healthz")
def healthz(state: State) -> Response:
    """Liveness and database reachability, for load balancers and `docker compose` health checks."""
    if not reachable(state.ctx.engine):
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
