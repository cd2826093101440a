"""What every route needs, built once by `create_app`: no module-level state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import Depends
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.context import Context
from digest.mail.transports import Transport
from digest.rank.interests import MAX_CHARS
from digest.resources import resource_path
from digest.web.csrf import FIELD, Csrf
from digest.web.ratelimit import RateLimiter, WebLimits


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """The IANA names offered in the form (region/city names, plus UTC)."""
    return ("UTC", *sorted(zone for zone in available_timezones() if "/" in zone and zone[0].isupper()))


def page_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(resource_path("templates") / "web"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(hours=range(24), max_interest_chars=MAX_CHARS, csrf_field=FIELD)
    return env


@dataclass
class WebState:
    ctx: Context
    limits: WebLimits
    limiter: RateLimiter
    csrf: Csrf
    open_transport: Callable[[], Transport]
    clock: Callable[[], datetime]
    env: Environment

    def page(self, request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """Render a page; forms on it get a CSRF token (and the browser its cookie when it had none)."""
        token, new_cookie = self.csrf.token_for(request)
        html = self.env.get_template(name).render(
            csrf_token=token, site_name=self.ctx.settings.mail.from_name, zones=time_zones(), **context
        )
        response = HTMLResponse(html, status_code=status)
        if new_cookie is not None:
            self.csrf.set_cookie(response, new_cookie)
        return response


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def client_ip(request: Request) -> str:
    # The connection's peer; behind a proxy named in [web] trusted_proxies, the client it forwarded for
    # (uvicorn rewrites the scope then, and believes no forwarded header from anyone else).
    return request.client.host if request.client else "unknown"


State = Annotated[WebState, Depends(web_state)]
