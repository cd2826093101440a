"""`serve` and `worker` as real processes: real HTTP on loopback, a real aiosmtpd sink, real signals.

The web app here is a minimal FastAPI app built in the test (the product's `digest.web.create_app` is
tested with the web issue); serve() takes any app factory, so this exercises the same process wiring.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import mailbox
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FIXTURES
from fastapi import FastAPI
from smtp_sink import SmtpSink
from sqlalchemy import select

from digest import sources
from digest.config import SchedulerSettings, Settings
from digest.context import Context
from digest.logs import fields, setup_logging
from digest.metrics import metrics_endpoint, process_metrics
from digest.rank import parse_interests
from digest.service import processes as service
from digest.store.db import transaction, upgrade
from digest.store.models import Delivery, DeliveryStatus
from digest.store.papers import upsert_papers
from digest.store.subscribers import add_subscriber

# model_construct: a tick below the floor operators may set (1 s), so that the test takes seconds
FAST = SchedulerSettings.model_construct(tick_seconds=0.2, wait_for_papers_minutes=0)
only_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
only_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

# The child process: `serve` with a minimal app exposing /metrics, ticking fast, logging JSON to stderr.
SERVE = """
import asyncio, sys
from pathlib import Path
from fastapi import FastAPI
from digest.service import processes as service
from digest.config import load_settings
from digest.context import Context
from digest.logs import setup_logging
from digest.metrics import metrics_endpoint
from digest.config import SchedulerSettings

def app_factory(ctx):
    app = FastAPI()
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    return app

setup_logging()
ctx = Context.open(load_settings(Path(sys.argv[1])))
options = SchedulerSettings.model_construct(tick_seconds=0.2, wait_for_papers_minutes=0)
asyncio.run(service.serve(ctx, "127.0.0.1", int(sys.argv[2]), app_factory=app_factory, options=options))
ctx.close()
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare(settings: Settings, *readers: str) -> None:
    ctx = Context.open(settings)
    upgrade(ctx.engine)
    parsed = sources.parse("hf_daily", (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes())
    now = datetime.now(UTC)
    with transaction(ctx.sessions) as session:
        upsert_papers(session, parsed.papers, now)
        for address in readers:  # hour 0 UTC: today's digest is due at once
            add_subscriber(
                session, address, parse_interests("language models"), send_hour=0, timezone="UTC",
                now=now, confirmed=True,
            )  # fmt: skip
    ctx.close()


def _statuses(settings: Settings) -> list[str]:
    ctx = Context.open(settings)
    with transaction(ctx.sessions) as session:
        found = [str(status) for status in session.scalars(select(Delivery.status))]
    ctx.close()
    return found


def _wait_for(check: Any, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _config(settings: Settings, tmp_path: Path, name: str, **sections: str) -> Path:
    """A settings file for a child process: no sources (no network), the test's database and Maildir."""
    lines = [
        "sources = []",
        f'[database]\nurl = "{settings.database.url}"',
        '[web]\nsecret_key = "test-secret-0123456789abcdef0123456789"',
        f'[mail]\nmaildir = "{tmp_path / "outbox"}"\nfrom_address = "digest@papers.example.org"',
    ]
    for section, body in sections.items():
        if section == "mail":
            lines[3] += "\n" + body
        else:
            lines.append(f"[{section}]\n{body}")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def _serve_process(config: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(config), str(port)], stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def _leader(port: int) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("digest_scheduler_leader "):
            return float(line.split()[1])
    return None


@only_sqlite
def test_serve_runs_the_web_app_and_the_scheduler_in_one_process(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"sources": []})
    _prepare(settings, "ada@example.org")
    port, metrics = _free_port(), process_metrics()  # the one the app's /metrics route serves
    sent_before = metrics.registry.get_sample_value("digest_digests_total", {"outcome": "sent"}) or 0.0

    def app_factory(ctx: Context) -> FastAPI:
        app = FastAPI()
        app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
        return app

    async def scenario() -> str:
        stop = asyncio.Event()
        ctx = Context.open(settings)
        running = asyncio.create_task(
            service.serve(ctx, "127.0.0.1", port, stop=stop, app_factory=app_factory, options=FAST,
                          handle_signals=False)
        )  # fmt: skip
        async with httpx.AsyncClient() as client:
            for _ in range(400):  # until the scheduler has delivered and recorded it
                await asyncio.sleep(0.05)
                if _statuses(settings) == [DeliveryStatus.SENT]:
                    break
            page = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        ctx.close()
        return page

    page = asyncio.run(scenario())
    assert len(mailbox.Maildir(tmp_path / "outbox")) == 1
    # The web app serves the process's metrics, and the ledger's counts read at scrape time.
    assert 'digest_deliveries{status="sent"} 1.0' in page.splitlines()
    assert "digest_queue_depth 0.0" in page.splitlines()
    assert metrics.registry.get_sample_value("digest_digests_total", {"outcome": "sent"}) == sent_before + 1
    assert "digest_scheduler_leader 1.0" in page.splitlines()
    assert (
        metrics.registry.get_sample_value("digest_queue_depth") is None
    )  # stopped reading the closed database


@only_sqlite
def test_the_worker_delivers_due_digests_until_stopped(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"sources": []})
    _prepare(settings, "ada@example.org", "grace@example.org")

    async def scenario() -> None:
        stop = asyncio.Event()
        ctx = Context.open(settings)
        running = asyncio.create_task(service.worker(ctx, stop=stop, options=FAST, handle_signals=False))
        for _ in range(400):
            await asyncio.sleep(0.05)
            if len(mailbox.Maildir(tmp_path / "outbox", create=True)) == 2:
                break
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        ctx.close()

    asyncio.run(scenario())
    assert sorted(_statuses(settings)) == [DeliveryStatus.SENT, DeliveryStatus.SENT]


@only_sqlite
def test_sigterm_finishes_the_message_in_flight_and_exits_cleanly(settings: Settings, tmp_path: Path) -> None:
    _prepare(settings, "ada@example.org")
    with SmtpSink(stall_seconds=2.0) as sink:
        sink.fail("DATA", "stall")  # the server sits on the message: it is in flight when SIGTERM comes
        smtp = f'host = "127.0.0.1"\nport = {sink.port}\nsecurity = "plain"'
        config = _config(settings, tmp_path, "serve.toml", mail='transport = "smtp"', smtp=smtp)
        port = _free_port()
        with _serve_process(config, port) as process:
            _wait_for(lambda: _statuses(settings) == [DeliveryStatus.SENDING], "the digest to be in flight")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            stderr = process.stderr.read() if process.stderr else ""
        assert len(sink.received) == 1
    assert _statuses(settings) == [DeliveryStatus.SENT]
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [e["msg"] for e in events if e["logger"] == "digest.service.processes"][
        -1
    ] == "stopped"  # JSON: not a tty


@only_postgres
def test_a_second_serve_on_the_same_postgresql_waits_as_a_hot_standby(
    settings: Settings, tmp_path: Path
) -> None:
    _prepare(settings)
    config = _config(settings, tmp_path, "serve.toml")
    first_port, second_port = _free_port(), _free_port()
    with _serve_process(config, first_port) as first, _serve_process(config, second_port) as second:
        _wait_for(
            lambda: {_leader(first_port), _leader(second_port)} == {0.0, 1.0}, "one leader and one standby"
        )
        time.sleep(1.0)  # five more ticks each: the standby stays a standby
        assert {_leader(first_port), _leader(second_port)} == {0.0, 1.0}
        leader, standby, standby_port = (
            (first, second, second_port) if _leader(first_port) == 1.0 else (second, first, first_port)
        )
        os.kill(leader.pid, signal.SIGKILL)  # the leader dies without a word: its session, and lock, go
        leader.wait(timeout=30)
        _wait_for(lambda: _leader(standby_port) == 1.0, "the standby to take over")
        assert standby.poll() is None


def test_logs_are_one_json_event_per_line_off_a_terminal() -> None:
    stream = io.StringIO()  # not a terminal
    setup_logging(logging.INFO, stream)
    try:
        logging.getLogger("digest.test").info("sent\nwith a newline", extra=fields(to="a@example.org", n=2))
    finally:
        setup_logging(logging.WARNING, sys.stderr, as_json=False)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert (event["level"], event["logger"], event["msg"], event["to"], event["n"]) == (
        "info",
        "digest.test",
        "sent\nwith a newline",
        "a@example.org",
        2,
    )


@only_sqlite
def test_the_serve_command_runs_the_real_web_app_and_stops_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    _prepare(settings)
    config = _config(settings, tmp_path, "serve.toml")
    port = _free_port()
    command = "from digest.cli.service import serve; serve()"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "--config", str(config), "--port", str(port)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), "the web app to answer")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert process.returncode == 0
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert {"serving", "stopped"} <= {e["msg"] for e in events}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@only_sqlite
def test_a_worker_serves_its_own_metrics_when_asked(settings: Settings, tmp_path: Path) -> None:
    _prepare(settings, "ada@example.org")
    config = _config(settings, tmp_path, "worker.toml", scheduler="tick_seconds = 1")
    port = _free_port()
    command = "from digest.cli.service import worker; worker()"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "--config", str(config), "--metrics-port", str(port)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        _wait_for(lambda: _answers(url), "the worker's /metrics to answer")
        _wait_for(
            lambda: len(mailbox.Maildir(tmp_path / "outbox", create=True)) == 1, "the digest to be sent"
        )
        _wait_for(lambda: 'digest_digests_total{outcome="sent"} 1.0' in httpx.get(url).text, "the count")
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 404  # /metrics alone
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
