"""The operator's dashboard at /admin (issue 21): login, overview, deliveries, subscribers, sources.

`install(app)` adds its routes and the redirect to the login form; nothing else in the web front knows
about it.
"""

from __future__ import annotations

from fastapi import FastAPI

from digest.config import Settings
from digest.errors import ConfigError
from digest.web.admin import manage, pages
from digest.web.admin.auth import LoginRequired, to_login
from digest.web.admin.days import DayCounts
from digest.web.admin.passwords import BadHash, check_hash


def install(app: FastAPI, settings: Settings) -> None:
    """Refuse a damaged `[admin] password_hash` at start-up rather than at the first login."""
    if settings.admin.password_hash:
        try:
            check_hash(settings.admin.password_hash)
        except BadHash as exc:
            raise ConfigError(f"admin.password_hash: {exc}") from None
    app.state.admin_days = DayCounts()
    app.include_router(pages.router)
    app.include_router(manage.router)
    app.add_exception_handler(LoginRequired, to_login)
