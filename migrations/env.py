"""Alembic environment: the URL comes from the caller (digest.db.upgrade) or the app's own settings."""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy import Connection

from digest.config import config_path, load_settings
from digest.store.db import make_engine
from digest.store.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations stay free of app imports: UTCDateTime is stored as a plain DateTime.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things in place; batch mode copies the table instead.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = (
        config.get_main_option("sqlalchemy.url") or load_settings(config_path(None, os.environ)).database.url
    )
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `digest db upgrade`")
run_migrations_online()
