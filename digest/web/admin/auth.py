"""Who may see /admin: the operator, after a login with the `[admin]` password.

The session is a cookie signed with `[web] secret_key` (itsdangerous, timed): HttpOnly, SameSite=Strict,
Secure when the site is served over https, limited to /admin, and valid for `[admin] session_hours`. It
carries a fingerprint of the password hash, so setting a new password ends every session made with the
old one. With no hash set, the dashboard does not exist: every /admin path answers 404.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import RedirectResponse, Response

from digest.context import Context
from digest.errors import DigestError
from digest.web.admin.passwords import verify_password
from digest.web.ratelimit import MINUTE
from digest.web.state import State, WebState, client_ip

COOKIE = "digest_admin"
PATH = "/admin"


class LoginRequired(DigestError):
    """A page asked for without a valid session: the browser is sent to the login form."""


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(f"digest.admin:{password_hash}".encode()).hexdigest()[:32]


def _serializer(ctx: Context) -> URLSafeTimedSerializer:
    # The installation's key (configured or generated), as every link is signed with: never None.
    return URLSafeTimedSerializer(ctx.secret_key, salt="digest.admin.session")


def enabled_hash(state: WebState) -> str:
    """The password hash, or 404: without one the dashboard is off."""
    stored = state.ctx.settings.admin.password_hash
    if not stored:
        raise HTTPException(404, "Not Found")
    return stored


def has_session(request: Request, state: WebState) -> bool:
    stored = enabled_hash(state)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return False
    max_age = int(state.ctx.settings.admin.session_hours * 3600)
    try:
        value = _serializer(state.ctx).loads(cookie, max_age=max_age)
    except BadSignature:  # also SignatureExpired, its subclass
        return False
    return bool(value == _fingerprint(stored))


def require_admin(request: Request, state: State) -> None:
    """The dependency of every dashboard route: 404 when off, then a session or 302 (pages) / 401."""
    if has_session(request, state):
        return
    if request.method in ("GET", "HEAD"):
        raise LoginRequired("log in first")
    raise HTTPException(401, "log in to the dashboard first")


Admin = Annotated[None, Depends(require_admin)]


def check_login(request: Request, state: WebState, password: str) -> bool:
    """Count the attempt (right or wrong: guessing is what the limit is for), then check the password."""
    stored = enabled_hash(state)
    limit = state.ctx.settings.admin.login_per_ip_per_minute
    state.limiter.hit(f"admin-login:{client_ip(request)}", limit, MINUTE)
    return bool(password) and verify_password(password, stored)


def start_session(response: Response, state: WebState) -> None:
    settings = state.ctx.settings
    value = _serializer(state.ctx).dumps(_fingerprint(enabled_hash(state)))
    response.set_cookie(
        COOKIE, value, max_age=int(settings.admin.session_hours * 3600), path=PATH, httponly=True,
        samesite="strict", secure=settings.web.base_url.startswith("https://"),
    )  # fmt: skip


def end_session(response: Response, state: WebState) -> None:
    response.delete_cookie(
        COOKIE, path=PATH, httponly=True, samesite="strict",
        secure=state.ctx.settings.web.base_url.startswith("https://"),
    )  # fmt: skip


async def to_login(_request: Request, _exc: Exception) -> Response:
    return RedirectResponse(f"{PATH}/login", status_code=302)
