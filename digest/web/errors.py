"""Domain errors mapped to HTTP answers in one place: JSON under /api, a page everywhere else."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from digest.errors import NotFound
from digest.subscribers.actions import FieldError
from digest.tokens import TokenError
from digest.web.csrf import CsrfError
from digest.web.ratelimit import RateLimited
from digest.web.state import web_state


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def _answer(
    request: Request, status: int, detail: str, *, field: str | None = None, page: str = "message.html",
    headers: Mapping[str, str] | None = None, **context: object,
) -> Response:  # fmt: skip
    if _wants_json(request):
        return JSONResponse({"detail": detail, "field": field}, status_code=status, headers=headers)
    response = web_state(request).page(request, page, status=status, detail=detail, **context)
    response.headers.update(headers or {})
    return response


async def _token(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TokenError)
    # An expired or unknown link gets a way to a fresh one (the form answers the same for any address).
    status = 410 if exc.expired else 404
    return _answer(request, status, f"{str(exc).capitalize()}.", page="link_problem.html")


async def _limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    headers = {"Retry-After": str(exc.retry_after)}
    return _answer(request, 429, f"{str(exc).capitalize()}.", headers=headers, title="Slow down")


async def _csrf(request: Request, exc: Exception) -> Response:
    return _answer(request, 403, f"{str(exc).capitalize()}.", title="Please reload the page")


async def _field(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FieldError)
    status = 422 if _wants_json(request) else 400
    return _answer(request, status, str(exc), field=exc.field, title="Something is wrong with this link")


async def _not_found(request: Request, exc: Exception) -> Response:
    return _answer(request, 404, str(exc), title="Not found")


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = where[0] if where else None
    detail = f"{'.'.join(where) or 'request'}: {first.get('msg', 'invalid')}"
    return JSONResponse({"detail": detail, "field": field}, status_code=422)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    titles = {404: "Not found", 405: "Not allowed"}
    return _answer(
        request, exc.status_code, detail, headers=exc.headers, title=titles.get(exc.status_code, "Sorry")
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TokenError, _token)
    app.add_exception_handler(RateLimited, _limited)
    app.add_exception_handler(CsrfError, _csrf)
    app.add_exception_handler(FieldError, _field)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
