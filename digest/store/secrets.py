"""The installation's generated secrets, kept in the database.

Why the database and not a file beside SQLite: on PostgreSQL the `serve`, `worker` and cron `send`
processes may run on different hosts that share nothing but the database, and every one of them must sign
and check links with the same key. The key travels with the data it protects (a restored backup keeps its
links working), and whoever can read the database can already read every subscriber's address.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from digest.store.db import make_sessions, transaction
from digest.store.models import InstanceSecret

LINK_KEY = "web.secret_key"
KEY_BYTES = 32  # 256 bits


def generated_key(engine: Engine, name: str = LINK_KEY) -> tuple[str, bool]:
    """(the installation's key of that name, whether this call created it).

    A read first: once the key exists no caller takes SQLite's write lock (a command may ask for it while
    its own write transaction holds that lock). Else insert-if-absent, then read: two commands starting at
    once on a fresh database both end with the one key that won the insert."""
    sessions = make_sessions(engine)
    query = select(InstanceSecret.value).where(InstanceSecret.name == name)
    with sessions() as session:  # a deferred read: never waits, even on a lock this thread holds
        found = session.scalar(query)
    if found is not None:
        return found, False
    candidate = secrets.token_urlsafe(KEY_BYTES)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(InstanceSecret)
        .values(name=name, value=candidate, created_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["name"])
    )
    with transaction(sessions) as session:
        session.execute(statement)
        value = session.scalar(query)
    assert value is not None  # inserted above, or already there
    return value, value == candidate
