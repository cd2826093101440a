"""The web front: `create_app(ctx)` builds the FastAPI app (pages, links from emails, JSON API).

Thin routes over `digest.subscriptions`; CSRF, rate limits and security headers live in their own
modules. `digest serve` runs the app with uvicorn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from digest import __version__
from digest.context import Context
from digest.mail.transports import Transport, make_transport
from digest.metrics import metrics_endpoint
from digest.resources import resource_path
from digest.web import admin, routes_api, routes_feed, routes_links, routes_pages, routes_papers
from digest.web.csrf import Csrf
from digest.web.errors import install_error_handlers
from digest.web.ratelimit import RateLimiter, WebLimits
from digest.web.security import BodyLimit, SecurityHeaders, SlashRedirect
from digest.web.state import WebState, page_environment

__all__ = ["WebLimits", "create_app"]


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    ctx: Context,
    *,
    demo: bool = False,
    limits: WebLimits | None = None,
    open_transport: Callable[[], Transport] | None = None,
    clock: Callable[[], datetime] = _now,
) -> FastAPI:
    """The app for these settings. A weak configured secret key raises ConfigError here (ctx.secret_key);
    none configured, the installation's generated one is used, the demo's included (`demo` is kept for
    callers and changes nothing)."""
    web = ctx.settings.web
    secret_key = ctx.secret_key  # checked or generated before anything is served
    chosen = limits or WebLimits(
        subscribe_per_ip_per_hour=web.subscribe_per_ip_per_hour,
        subscribe_per_address_per_hour=web.subscribe_per_address_per_hour,
        preview_per_ip_per_minute=web.preview_per_ip_per_minute,
        max_body_bytes=web.max_body_bytes,
    )
    app = FastAPI(
        title="digest",
        version=__version__,
        description="Subscribe to, manage and leave a daily digest of research papers.",
        docs_url=None,  # the interactive docs load scripts from a CDN, which the CSP forbids
        redoc_url=None,
    )
    app.state.web = WebState(
        ctx=ctx,
        limits=chosen,
        limiter=RateLimiter(),
        csrf=Csrf(secret_key, secure=web.base_url.startswith("https://")),
        open_transport=open_transport or (lambda: make_transport(ctx.settings)),
        clock=clock,
        env=page_environment(),
    )
    app.mount("/static", StaticFiles(directory=resource_path("templates") / "web" / "static"), name="static")
    for module in (routes_pages, routes_papers, routes_feed, routes_links, routes_api):
        app.include_router(module.router)
    admin.install(app, ctx.settings)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    SlashRedirect(app.router, web.base_url)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=chosen.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so even a 413 carries the headers
    return app
