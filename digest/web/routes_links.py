"""The pages the emails link to. Each GET only shows; each change is a POST (mail scanners follow links).

The token in the path is the authority. Unsubscribe POST is RFC 8058 one-click: no cookie, no CSRF
token, no redirect, 200 at once; the other forms also carry a CSRF token.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from digest.store.models import SubscriberStatus
from digest.subscribers import actions as subscriptions
from digest.subscribers.pages import latest_digest_html
from digest.tokens import Purpose
from digest.web.forms import check_subscription, read_form
from digest.web.security import DIGEST_CSP
from digest.web.state import State

router = APIRouter(include_in_schema=False)


def _path(url: str, query: str = "") -> str:
    """The path of one of our own absolute links, so a redirect never leaves this site."""
    return urlsplit(url).path + (f"?{query}" if query else "")


@router.get("/confirm/{token}")
def confirm_page(token: str, request: Request, state: State) -> Response:
    status = subscriptions.link_status(state.ctx, Purpose.CONFIRM, token)
    return state.page(request, "confirm.html", token=token, already=status != SubscriberStatus.PENDING)


@router.post("/confirm/{token}")
async def confirm(token: str, request: Request, state: State) -> Response:
    await read_form(request, state)
    account = await run_in_threadpool(subscriptions.confirm, state.ctx, token, state.clock())
    return RedirectResponse(_path(account.manage_url, "welcome=1"), status_code=303)


@router.get("/manage/{token}")
def manage_page(token: str, request: Request, state: State) -> Response:
    account = subscriptions.account(state.ctx, Purpose.MANAGE, token)
    form = {
        "interests": account.interests,
        "send_hour": str(account.send_hour),
        "timezone": account.timezone,
    }
    notice = {"1": "saved", "paused": "paused", "resumed": "resumed"}.get(
        request.query_params.get("saved", "")
    )
    welcome = request.query_params.get("welcome") == "1"
    return state.page(
        request, "manage.html", token=token, account=account, form=form, errors={}, notice=notice,
        welcome=welcome,
    )  # fmt: skip


@router.post("/manage/{token}")
async def manage(token: str, request: Request, state: State) -> Response:
    values = await read_form(request, state)
    action = values.get("action", "save")
    if action in ("pause", "resume"):
        account = await run_in_threadpool(
            subscriptions.set_paused, state.ctx, token, action == "pause", state.clock()
        )
        return RedirectResponse(_path(account.manage_url, f"saved={action}d"), status_code=303)
    checked = check_subscription(values, need_address=False)
    if checked.errors or checked.wish is None:
        account = await run_in_threadpool(subscriptions.account, state.ctx, Purpose.MANAGE, token)
        context = {"account": account, "form": checked.values, "errors": checked.errors}
        return state.page(
            request, "manage.html", status=422, token=token, notice=None, welcome=False, **context
        )
    account = await run_in_threadpool(
        subscriptions.update_preferences, state.ctx, token, checked.wish, state.clock()
    )
    return RedirectResponse(_path(account.manage_url, "saved=1"), status_code=303)


@router.get("/unsubscribe/{token}")
def unsubscribe_page(token: str, request: Request, state: State) -> Response:
    status = subscriptions.link_status(state.ctx, Purpose.UNSUBSCRIBE, token)
    return state.page(request, "unsubscribe.html", token=token, done=status == SubscriberStatus.UNSUBSCRIBED)


@router.post("/unsubscribe/{token}")
def unsubscribe(token: str, request: Request, state: State) -> Response:
    # RFC 8058: the body is "List-Unsubscribe=One-Click" from a mail provider, or the page's button;
    # either way the URL token alone decides, at once, with 200 and no redirect.
    subscriptions.leave(state.ctx, token)
    return state.page(request, "unsubscribed.html")


@router.get("/digest/{token}")
def digest_page(token: str, request: Request, state: State) -> Response:
    day = _date(request.query_params.get("date"))
    html = latest_digest_html(state.ctx, token, state.clock(), day)
    if html is None:
        return state.page(request, "no_digest.html", status=404)
    return HTMLResponse(html, headers={"Content-Security-Policy": DIGEST_CSP})


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/feedback/{token}")
def feedback_page(token: str, request: Request, state: State) -> Response:
    paper_id, vote = subscriptions.check_vote(
        request.query_params.get("paper"), request.query_params.get("vote")
    )
    title = subscriptions.feedback_title(state.ctx, token, paper_id)
    query = request.url.query
    return state.page(request, "feedback.html", token=token, query=query, title=title, vote=vote)


@router.post("/feedback/{token}")
async def feedback(token: str, request: Request, state: State) -> Response:
    await read_form(request, state)
    paper_id, vote = subscriptions.check_vote(
        request.query_params.get("paper"), request.query_params.get("vote")
    )
    title = await run_in_threadpool(subscriptions.vote, state.ctx, token, paper_id, vote, state.clock())
    return state.page(request, "feedback_done.html", title=title, vote=vote)
