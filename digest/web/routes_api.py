"""The JSON API under /api, described by /openapi.json. The same services and rules as the pages:
the same answer whatever an address's state, tokens in the path as the only authority, no cookies."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from digest.context import Context
from digest.rank.interests import MAX_CHARS
from digest.subscribers import actions as subscriptions
from digest.subscribers.actions import Account
from digest.subscribers.mails import Mail
from digest.subscribers.pages import preview_matches
from digest.tokens import Purpose
from digest.web.later import after_answer
from digest.web.ratelimit import preview_limit, subscribe_limits
from digest.web.state import State, client_ip


def _hour() -> Any:
    return Field(default=None, ge=0, le=23, description="Local hour (0-23) the digest is sent at.")


def _zone() -> Any:
    return Field(default=None, max_length=64, description="IANA time zone, e.g. Europe/Paris.")


def _interests(default: Any = ...) -> Any:
    return Field(default, max_length=MAX_CHARS, description='Topics, one per line or separated by ";".')


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    detail: str = Field(description="One line saying what is wrong.")
    field: str | None = Field(default=None, description="The request field at fault, when there is one.")


class SubscribeIn(_Body):
    email: str = Field(max_length=320)
    interests: str = _interests()
    send_hour: int | None = _hour()
    timezone: str | None = _zone()


class EmailIn(_Body):
    email: str = Field(max_length=320)


class PreferencesIn(_Body):
    interests: str | None = _interests(None)
    send_hour: int | None = _hour()
    timezone: str | None = _zone()
    paused: bool | None = Field(default=None, description="Pause (true) or resume (false) the digest.")


class PreviewIn(_Body):
    interests: str = _interests()


class Accepted(BaseModel):
    message: str


class AccountOut(BaseModel):
    email: str
    status: str
    interests: str
    send_hour: int
    timezone: str
    last_digest: date | None


class PreviewPaper(BaseModel):
    title: str
    url: str | None = Field(description="The paper's http(s) link; null when its source gave no safe one.")
    explanation: str


class PreviewOut(BaseModel):
    papers: list[PreviewPaper]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem} for code in (*codes, 413, 422)}


router = APIRouter(prefix="/api", tags=["api"])
ACCEPTED = "If the address can be subscribed, a confirmation email is on its way."
LINK_SENT = "If the address is subscribed, a link to manage it is on its way."


@router.post("/subscribe", status_code=202, response_model=Accepted, responses=_errors(429))
async def api_subscribe(
    body: SubscribeIn, request: Request, background: BackgroundTasks, state: State
) -> Accepted:
    """Start a double opt-in. The answer is the same whatever the address's state."""
    subscribe_limits(state.limiter, state.limits, client_ip(request), None)
    defaults = state.ctx.settings.digest
    address = subscriptions.check_address(body.email)
    wish = subscriptions.check_preferences(
        body.interests,
        defaults.default_send_hour if body.send_hour is None else body.send_hour,
        body.timezone or defaults.default_timezone,
    )
    subscribe_limits(state.limiter, state.limits, client_ip(request), address)
    after_answer(background, state, partial(_subscribe, wish=wish), address)
    return Accepted(message=ACCEPTED)


def _subscribe(ctx: Context, address: str, now: datetime, *, wish: subscriptions.Preferences) -> Mail | None:
    return subscriptions.subscribe(ctx, address, wish, now)


@router.post("/manage-link", status_code=202, response_model=Accepted, responses=_errors(429))
async def api_manage_link(
    body: EmailIn, request: Request, background: BackgroundTasks, state: State
) -> Accepted:
    """Mail a fresh manage link. The answer is the same whatever the address's state."""
    subscribe_limits(state.limiter, state.limits, client_ip(request), None)
    address = subscriptions.check_address(body.email)
    subscribe_limits(state.limiter, state.limits, client_ip(request), address)
    after_answer(background, state, subscriptions.request_manage_link, address)
    return Accepted(message=LINK_SENT)


def _out(account: Account) -> AccountOut:
    return AccountOut(
        email=account.email, status=account.status, interests=account.interests,
        send_hour=account.send_hour, timezone=account.timezone, last_digest=account.last_digest,
    )  # fmt: skip


@router.get("/manage/{token}", response_model=AccountOut, responses=_errors(404, 410))
def api_account(token: str, state: State) -> AccountOut:
    """The subscription a manage link opens."""
    return _out(subscriptions.account(state.ctx, Purpose.MANAGE, token))


@router.post("/manage/{token}", response_model=AccountOut, responses=_errors(404, 410))
def api_manage(token: str, body: PreferencesIn, state: State) -> AccountOut:
    """Change any of interests, send hour, time zone; pause or resume. Omitted fields stay as they are."""
    current = subscriptions.account(state.ctx, Purpose.MANAGE, token)
    wish = subscriptions.check_preferences(
        current.interests if body.interests is None else body.interests,
        current.send_hour if body.send_hour is None else body.send_hour,
        current.timezone if body.timezone is None else body.timezone,
    )
    account = subscriptions.update_preferences(state.ctx, token, wish, state.clock())
    if body.paused is not None:
        account = subscriptions.set_paused(state.ctx, token, body.paused, state.clock())
    return _out(account)


@router.post("/unsubscribe/{token}", response_model=Accepted, responses=_errors(404, 410))
def api_unsubscribe(token: str, state: State) -> Accepted:
    """Stop all mail at once; idempotent."""
    subscriptions.leave(state.ctx, token)
    return Accepted(message="Unsubscribed: no more mail will be sent to this address.")


@router.post("/preview", response_model=PreviewOut, responses=_errors(429))
async def api_preview(body: PreviewIn, request: Request, state: State) -> PreviewOut:
    """What these interests would have matched among the latest papers; nothing is stored."""
    preview_limit(state.limiter, state.limits, client_ip(request))
    interests = subscriptions.check_interests(body.interests)
    items = await run_in_threadpool(preview_matches, state.ctx, interests, state.clock())
    return PreviewOut(
        papers=[PreviewPaper(title=i.title, url=i.url, explanation=i.explanation) for i in items]
    )
