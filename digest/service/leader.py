"""Who may run the scheduler's jobs, and who may send on SQLite.

PostgreSQL: a session-level advisory lock held on one dedicated connection elects the leader; the server
releases it when that connection ends, so a crashed leader frees it and a waiting `serve` takes over.
The key is derived from the schema, so two deployments sharing one database do not block each other.

SQLite: one process sends. An exclusive lock file next to the database (flock, released by the kernel when
the process dies) makes a second sender refuse with a clear message instead of racing the first.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from digest.errors import DigestError
from digest.store.locks import current_schema, ping, try_advisory_lock, unlock_all

log = logging.getLogger(__name__)
LOCK_NAME = "digest:scheduler"


class SenderBusy(DigestError):
    """Another process already holds the right to send (SQLite) or to run the jobs."""


class Leadership(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


def advisory_key(schema: str, name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock(bigint)."""
    digest = hashlib.blake2b(f"{name}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock:
    """Leadership through pg_try_advisory_lock on a connection kept open for as long as we lead."""

    def __init__(self, engine: Engine, name: str = LOCK_NAME) -> None:
        self._engine, self._name = engine, name
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        if self._connection is not None:
            return self.still_held()
        connection = self._engine.connect()
        try:
            got = try_advisory_lock(connection, advisory_key(current_schema(connection), self._name))
            connection.commit()  # end the implicit transaction; the lock is held by the session, not it
        except DBAPIError:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def still_held(self) -> bool:
        """False once the connection holding the lock is gone (the server has released it)."""
        if self._connection is None:
            return False
        try:
            ping(self._connection)
            self._connection.commit()
        except DBAPIError:
            log.warning("lost the connection holding the scheduler lock")
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            unlock_all(self._connection)
            self._connection.commit()
        except DBAPIError:
            pass  # the connection is gone: the server released the lock with it
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()  # never hand a lock-holding session back to the pool
            self._connection.close()
            self._connection = None


class FileLock:
    """An exclusive flock on `path`; the holder's pid is written in it for the refusal message."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self._what = path, what
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire(self) -> None:
        """Take the lock or raise SenderBusy naming the holder."""
        if not self.try_acquire():
            raise SenderBusy(
                f"another digest process (pid {self._holder()}) is already sending from {self._what}; "
                "SQLite allows one sender at a time: stop it, or use PostgreSQL to run several"
            )

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="ascii").strip() or "unknown"
        except OSError:
            return "unknown"


def sender_lock(engine: Engine) -> FileLock | None:
    """The lock a sending process must hold on SQLite; None on PostgreSQL (claims there are row-level)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    path = Path(database).resolve()
    return FileLock(path.with_name(path.name + ".sender.lock"), str(path))


class Solo:
    """Leadership on SQLite: the single sender is the leader (it already holds the sender lock)."""

    def try_acquire(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        return None


def leadership(engine: Engine) -> Leadership:
    return AdvisoryLock(engine) if engine.dialect.name == "postgresql" else Solo()
