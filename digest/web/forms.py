"""Reading and checking the HTML forms: bounded parsing, CSRF, and every field's error at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.requests import Request

from digest.subscribers.actions import (
    FieldError,
    Preferences,
    check_address,
    check_interests,
    check_send_hour,
    check_zone,
)
from digest.web.csrf import FIELD
from digest.web.state import WebState

MAX_FIELDS = 20
T = TypeVar("T")


async def read_form(request: Request, state: WebState, *, csrf: bool = True) -> dict[str, str]:
    """The form's text fields (files refused); CsrfError unless its token matches the cookie."""
    form = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=state.limits.max_body_bytes)
    values = {name: value for name, value in form.items() if isinstance(value, str)}
    if csrf:
        state.csrf.check(request, values.get(FIELD))
    return values


@dataclass
class Checked:
    """The form's values as typed, what they mean when valid, and an error per bad field."""

    values: dict[str, str]
    address: str | None = None
    wish: Preferences | None = None
    errors: dict[str, str] = field(default_factory=dict)


def check_subscription(values: dict[str, str], *, need_address: bool = True) -> Checked:
    """Check every field (not just the first bad one), so the page can show each error by its field."""
    checked = Checked(
        {name: values.get(name, "") for name in ("email", "interests", "send_hour", "timezone")}
    )
    if need_address:
        checked.address = _field(checked, check_address, "email")
    interests = _field(checked, check_interests, "interests")
    hour = _field(checked, check_send_hour, "send_hour")
    zone = _field(checked, check_zone, "timezone")
    if interests is not None and hour is not None and zone is not None:
        checked.wish = Preferences(interests, hour, zone)
    return checked


def _field(checked: Checked, check: Callable[[str], T], name: str) -> T | None:
    try:
        return check(checked.values[name])
    except FieldError as exc:
        checked.errors[exc.field] = str(exc)
        return None
