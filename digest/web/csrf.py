"""CSRF for the HTML forms: a signed double-submit cookie (OWASP's "signed double-submit cookie").

GET pages set a random cookie and put HMAC(secret, cookie) in each form; a POST must bring both, and they
must agree. A cross-site page can make the browser send the cookie but cannot read it, so it cannot write
the matching field. The RFC 8058 one-click unsubscribe is exempt: mail providers POST it with no cookie,
and its unguessable URL token is its whole authority.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response

from digest.errors import DigestError

COOKIE = "digest_csrf"
FIELD = "csrf_token"
_COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class CsrfError(DigestError):
    def __init__(self) -> None:
        super().__init__(
            "this form has expired or your browser did not send its cookie; reload the page and try again"
        )


class Csrf:
    def __init__(self, secret_key: str, *, secure: bool) -> None:
        self._key = hashlib.sha256(f"digest.csrf:{secret_key}".encode()).digest()
        self._secure = secure

    def _sign(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def token_for(self, request: Request) -> tuple[str, str | None]:
        """(form token, new cookie value or None when the browser's cookie can be kept)."""
        cookie = request.cookies.get(COOKIE, "")
        if _COOKIE_SHAPE.fullmatch(cookie):
            return self._sign(cookie), None
        fresh = secrets.token_urlsafe(32)
        return self._sign(fresh), fresh

    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            COOKIE, value, httponly=True, samesite="lax", secure=self._secure, path="/", max_age=86400
        )

    def check(self, request: Request, submitted: object) -> None:
        cookie = request.cookies.get(COOKIE, "")
        if not isinstance(submitted, str) or not _COOKIE_SHAPE.fullmatch(cookie):
            raise CsrfError()
        if not hmac.compare_digest(self._sign(cookie), submitted):
            raise CsrfError()
