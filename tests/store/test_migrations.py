from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from digest.context import Context
from digest.errors import DigestError
from digest.store.db import alembic_config, require_current_schema, upgrade
from digest.store.models import Base


def test_migrations_create_exactly_the_models_tables(ctx: Context) -> None:
    tables = set(inspect(ctx.engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)


def test_models_and_migrations_agree(ctx: Context) -> None:
    config = alembic_config(ctx.engine.url.render_as_string(hide_password=False))
    with ctx.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.check(config)  # raises when autogenerate would write a migration


def test_upgrade_is_idempotent(ctx: Context) -> None:
    upgrade(ctx.engine)
    require_current_schema(ctx.engine)


def test_a_database_without_schema_is_refused_with_the_command_to_fix_it(settings: object) -> None:
    context = Context.open(settings)  # type: ignore[arg-type]
    with pytest.raises(DigestError, match="run `digest db upgrade`"):
        require_current_schema(context.engine)
    context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode_with_foreign_keys(ctx: Context) -> None:
    with ctx.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
