"""PostgreSQL advisory locks, the statements `digest.service.leader` elects its leader with.

A session-level lock belongs to the connection that took it: callers keep that connection open for as
long as they hold the lock, and the server releases it when the connection ends.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def current_schema(connection: Connection) -> str:
    return str(connection.scalar(text("SELECT current_schema()")))


def try_advisory_lock(connection: Connection, key: int) -> bool:
    return bool(connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))


def ping(connection: Connection) -> None:
    """Raises DBAPIError when the connection is gone."""
    connection.scalar(text("SELECT 1"))


def unlock_all(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_unlock_all()"))
