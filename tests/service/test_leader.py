"""Only one process runs the jobs: a real PostgreSQL advisory lock between two engines, and a real flock
between two processes on SQLite."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, make_settings
from loopback_http import LoopbackServer, Reply
from sqlalchemy import Engine, create_engine, text

from digest.config import SchedulerSettings, Settings
from digest.context import Context
from digest.errors import DigestError
from digest.mail.transports import MaildirTransport
from digest.metrics import Metrics
from digest.service.jobs import Jobs
from digest.service.leader import AdvisoryLock, FileLock, SenderBusy, advisory_key, sender_lock
from digest.store.db import upgrade

HF = FIXTURES / "hf-daily-papers_2026-06_30papers.json"
only_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
only_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def two_processes(database_url: str, tmp_path: Path) -> Iterator[tuple[Context, Context, LoopbackServer]]:
    """Two contexts with their own engines (as two `serve` processes have) on one database and one source."""
    with LoopbackServer() as server:
        server.routes["/hf"] = Reply(200, HF.read_bytes(), {"Content-Type": "application/json"})
        base = make_settings(database_url, tmp_path)
        source = base.sources[0].model_copy(update={"url": server.url("/hf")})
        settings = base.model_copy(update={"sources": [source]})
        first, second = Context.open(settings), Context.open(settings)
        upgrade(first.engine)
        yield first, second, server
        first.close()
        second.close()


def _jobs(ctx: Context, metrics: Metrics) -> Jobs:
    transport = MaildirTransport(Path(ctx.settings.mail.maildir))
    return Jobs(ctx, transport, AdvisoryLock(ctx.engine), metrics, SchedulerSettings())


def _ran(metrics: Metrics, job: str) -> float:
    return metrics.registry.get_sample_value("digest_job_runs_total", {"job": job, "result": "ok"}) or 0.0


@only_postgres
def test_a_second_scheduler_on_the_same_postgresql_does_not_run_the_jobs(
    two_processes: tuple[Context, Context, LoopbackServer],
) -> None:
    first, second, server = two_processes
    leader_metrics, standby_metrics = Metrics(), Metrics()
    leader, standby = _jobs(first, leader_metrics), _jobs(second, standby_metrics)

    async def both_tick() -> None:
        # Concurrently, as two processes would: without the lock both would see the source due and fetch.
        await asyncio.gather(leader.fetch(), standby.fetch(), leader.send(), standby.send(), leader.tidy())

    asyncio.run(both_tick())
    assert len(server.requests_to("/hf")) == 1
    assert (_ran(leader_metrics, "fetch"), _ran(standby_metrics, "fetch")) in {(1.0, 0.0), (0.0, 1.0)}
    winner, waiting = (
        (leader_metrics, standby_metrics)
        if _ran(leader_metrics, "fetch")
        else (standby_metrics, leader_metrics)
    )
    assert winner.registry.get_sample_value("digest_scheduler_leader") == 1.0
    assert waiting.registry.get_sample_value("digest_scheduler_leader") == 0.0
    assert _ran(waiting, "send") == 0.0 and _ran(waiting, "tidy") == 0.0


@only_postgres
def test_the_standby_takes_over_when_the_leader_goes_away(database_url: str) -> None:
    one, two = create_engine(_psycopg(database_url)), create_engine(_psycopg(database_url))
    first, second = AdvisoryLock(one), AdvisoryLock(two)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert first.try_acquire()  # still ours: asking again does not lose it
        _kill_holder(two)  # the leader's session ends (as when its process dies): the server frees the lock
        assert not first.still_held()
        assert second.try_acquire()
    finally:
        second.release()
        one.dispose()
        two.dispose()


def _kill_holder(engine: Engine) -> None:
    """Terminate the backend holding this schema's scheduler lock (and only that one)."""
    with engine.connect() as connection:
        key = advisory_key(str(connection.scalar(text("SELECT current_schema()")))) & 0xFFFFFFFFFFFFFFFF
        killed = connection.scalars(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid = :high AND objid = :low AND objsubid = 1"
            ),
            {"high": key >> 32, "low": key & 0xFFFFFFFF},
        ).all()
    assert killed == [True]


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def test_the_advisory_key_depends_on_the_schema() -> None:
    assert advisory_key("public") == advisory_key("public")
    assert advisory_key("public") != advisory_key("t_0123456789ab")
    assert -(2**63) <= advisory_key("public") < 2**63


@only_sqlite
def test_a_second_sender_on_sqlite_refuses_with_a_clear_message(settings: Settings, tmp_path: Path) -> None:
    ctx = Context.open(settings)
    upgrade(ctx.engine)
    lock = sender_lock(ctx.engine)
    assert lock is not None
    lock.acquire()
    try:
        config = tmp_path / "config.toml"
        config.write_text(f'[database]\nurl = "{settings.database.url}"\n', encoding="utf-8")
        other = subprocess.run(
            [sys.executable, "-c", "from digest.cli.service import worker; worker()", "--config", config],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        lock.release()
        ctx.close()
    assert other.returncode == 1
    database = Path(settings.database.url.removeprefix("sqlite:///")).resolve()
    assert other.stderr.strip().splitlines()[-1] == (
        f"digest: another digest process (pid {os.getpid()}) is already sending from {database}; "
        "SQLite allows one sender at a time: stop it, or use PostgreSQL to run several"
    )


def test_the_sender_lock_is_free_again_once_released(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "db.lock", "db"), FileLock(tmp_path / "db.lock", "db")
    first.acquire()
    with pytest.raises(SenderBusy, match="already sending from db"):
        second.acquire()
    assert isinstance(SenderBusy("x"), DigestError)  # the CLI turns it into one line and exit status 1
    first.release()
    second.acquire()
    second.release()


def test_postgresql_needs_no_sender_lock(tmp_path: Path) -> None:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert sender_lock(engine) is None
    engine.dispose()
