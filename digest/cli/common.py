"""What every command shares: --config, opening the context, and errors as one line with an exit status."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import click

from digest.config import config_path, load_settings
from digest.context import Context
from digest.errors import ConfigError, DigestError
from digest.store.db import require_current_schema

P = ParamSpec("P")
R = TypeVar("R")


def now_utc() -> datetime:
    return datetime.now(UTC)


def config_option(command: Callable[P, R]) -> Callable[P, R]:
    """Every command takes --config (else $DIGEST_CONFIG, else ./config.toml, else built-in defaults)."""
    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False), default=None, expose_value=False,
        is_eager=True, callback=_remember_config, help="Settings file (TOML).",
    )(command)  # fmt: skip


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def open_context(*, check_schema: bool = True) -> Context:
    chosen = None
    click_ctx: click.Context | None = click.get_current_context()
    while click_ctx is not None:
        chosen = chosen or (click_ctx.obj or {}).get("config")
        click_ctx = click_ctx.parent
    settings = load_settings(config_path(chosen, os.environ))
    ctx = Context.open(settings)
    if check_schema:
        require_current_schema(ctx.engine)
        # Now, not at the first signature: generating it inside a command's write transaction would wait
        # on that transaction's own SQLite lock.
        ctx.secret_key  # noqa: B018 - checked or generated for its side effect
    return ctx


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the package's errors into one line on stderr and the documented exit status."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"digest: configuration error: {exc}", err=True)
            sys.exit(2)
        except DigestError as exc:
            click.echo(f"digest: {exc}", err=True)
            sys.exit(1)

    return wrapper
