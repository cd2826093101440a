"""Shared fixtures: a real SQLite file and the real PostgreSQL, each test on its own schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from digest.config import Settings, load_settings
from digest.context import Context
from digest.store.db import upgrade

FIXTURES = Path(__file__).parent / "fixtures"
POSTGRES_URL = os.environ.get("DIGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
_backends_seen: dict[str, int] = {"sqlite": 0, "postgresql": 0}


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0]
    return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    problem = _postgres_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI but unreachable at {POSTGRES_URL}: {problem}")
        pytest.skip(f"PostgreSQL tests skipped: no server at {POSTGRES_URL} ({problem})")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in the real PostgreSQL."""
    if request.param == "sqlite":
        _backends_seen["sqlite"] += 1
        yield f"sqlite:///{tmp_path / 'digest.db'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    _backends_seen["postgresql"] += 1
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{admin_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_settings(database_url: str, tmp_path: Path, **sections: dict[str, object]) -> Settings:
    data: dict[str, object] = {
        "database": {"url": database_url},
        "mail": {"maildir": str(tmp_path / "outbox"), "from_address": "digest@papers.example.org"},
        "web": {
            "base_url": "https://papers.example.org",
            "secret_key": "test-secret-0123456789abcdef0123456789",
        },
        # The default (hybrid) would run the embedding model on every paper a test stores, seconds each on
        # the CPU; the tests of the hybrid ranker (test_semantic.py, test_rank_hybrid.py) ask for it.
        "ranking": {"method": "lexical"},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}  # type: ignore[dict-item]
    return Settings.model_validate(data)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    context = Context.open(settings)
    upgrade(context.engine)
    yield context
    context.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    seen = ", ".join(f"{count} on {name}" for name, count in _backends_seen.items())
    terminalreporter.write_line(f"database-backed tests: {seen}")


__all__ = ["FIXTURES", "NOW", "load_settings", "make_settings"]
