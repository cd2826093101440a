"""Long-running processes: `serve` (web app + scheduler, one event loop) and `worker` (delivery only).

SIGTERM or SIGINT: stop taking new work, let the web server finish its requests and the jobs finish the
messages in flight, release the locks, close the SMTP session, return.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from digest.config import SchedulerSettings
from digest.context import Context
from digest.delivery.worker import default_worker_id, run_worker
from digest.logs import fields
from digest.mail.transports import Transport, make_transport
from digest.metrics import Metrics, metrics_endpoint, process_metrics
from digest.service.jobs import Clock, Jobs, build_scheduler, utcnow
from digest.service.leader import FileLock, leadership, sender_lock
from digest.store.db import transaction
from digest.store.ledger import status_counts

log = logging.getLogger(__name__)
AppFactory = Callable[[Context], Any]


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: the service handles signals for the whole process
    (uvicorn would re-raise SIGTERM after shutdown, killing the process before the jobs finish)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _default_app(ctx: Context) -> Any:
    # Imported late: the worker never needs the web stack.
    create_app = getattr(importlib.import_module("digest.web"), "create_app")  # noqa: B009
    return create_app(ctx)


@contextlib.contextmanager
def _sending_rights(ctx: Context) -> Iterator[FileLock | None]:
    """On SQLite, the one-sender lock (a second sender refuses); nothing on PostgreSQL."""
    lock = sender_lock(ctx.engine)
    if lock is not None:
        lock.acquire()
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def serve(
    ctx: Context, host: str = "127.0.0.1", port: int = 8000, *, stop: asyncio.Event | None = None,
    app_factory: AppFactory | None = None, transport: Transport | None = None, clock: Clock = utcnow,
    metrics: Metrics | None = None, handle_signals: bool = True, options: SchedulerSettings | None = None,
) -> None:  # fmt: skip
    """Run the web app and the scheduler until `stop` is set (or a signal arrives)."""
    stop = stop or asyncio.Event()
    options = options or ctx.settings.scheduler
    with _sending_rights(ctx):
        app = (app_factory or _default_app)(ctx)
        server = _Server(web_server_config(app, host, port, ctx.settings.web.trusted_proxies))
        mail = transport or make_transport(ctx.settings)
        leader = leadership(ctx.engine)
        registry = metrics or process_metrics()
        unwatch = registry.watch_ledger(lambda: _ledger_counts(ctx))
        jobs = Jobs(ctx, mail, leader, registry, options, clock)
        scheduler = build_scheduler(jobs, options)
        if handle_signals:
            _on_signals(stop)
        web = asyncio.create_task(server.serve(), name="web")
        scheduler.start()
        log.info("serving", extra=fields(host=host, port=port, database=ctx.engine.dialect.name))
        try:
            await _until(stop, web)
        finally:
            scheduler.pause()  # no new ticks from here on
            server.should_exit = True
            await jobs.drain()
            scheduler.shutdown(wait=False)
            await asyncio.gather(web, return_exceptions=True)
            leader.release()
            unwatch()
            await mail.close()
            log.info("stopped")


def web_server_config(app: Any, host: str, port: int, trusted_proxies: list[str]) -> uvicorn.Config:
    """uvicorn believes forwarded headers only from the proxies named in [web] trusted_proxies: by
    default it trusts any loopback client, so a client on the same host (or behind a proxy that passes
    the header on) could name any address and pass the per-IP rate limits."""
    return uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False,
        proxy_headers=bool(trusted_proxies), forwarded_allow_ips=list(trusted_proxies) or None,
    )  # fmt: skip


def _ledger_counts(ctx: Context) -> dict[str, int]:
    with transaction(ctx.sessions) as session:
        return status_counts(session)


async def _until(stop: asyncio.Event, web: asyncio.Task[None]) -> None:
    """Wait for a stop request, or for the web server to end by itself (port taken: that is an error)."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({waiter, web}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if web in done and not stop.is_set():
        web.result()
        raise RuntimeError("the web server stopped by itself (is the port already in use?)")


async def worker(
    ctx: Context, *, stop: asyncio.Event | None = None, transport: Transport | None = None,
    clock: Clock = utcnow, handle_signals: bool = True, options: SchedulerSettings | None = None,
    metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
) -> None:  # fmt: skip
    """Deliver due digests until stopped; several may run against one PostgreSQL. With `metrics_port`,
    serve this process's /metrics there, so that a Prometheus scrape covers every sender."""
    stop = stop or asyncio.Event()
    options = options or ctx.settings.scheduler
    with _sending_rights(ctx):
        if handle_signals:
            _on_signals(stop)
        mail = transport or make_transport(ctx.settings)
        exporter = _metrics_server(metrics_host, metrics_port) if metrics_port else None
        served = asyncio.create_task(exporter.serve(), name="metrics") if exporter else None
        log.info("worker started", extra=fields(database=ctx.engine.dialect.name, metrics_port=metrics_port))
        try:
            await _drain(ctx, mail, stop, clock, options.tick_seconds)
        finally:
            if exporter is not None and served is not None:
                exporter.should_exit = True
                await asyncio.gather(served, return_exceptions=True)
            await mail.close()
            log.info("worker stopped")


def _metrics_server(host: str, port: int) -> _Server:
    """/metrics alone, on its own port: a worker has no web app to hang it on."""
    app = Starlette(routes=[Route("/metrics", metrics_endpoint)])
    return _Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False))


async def _drain(ctx: Context, mail: Transport, stop: asyncio.Event, clock: Clock, tick: float) -> None:
    """Drain what is due (run_worker returns when nothing is claimable), then sleep a tick or until
    stopped; a stop during a drain is seen by run_worker, which finishes the window in flight."""
    worker_id = default_worker_id()
    while not stop.is_set():
        report = await run_worker(ctx, mail, stop, worker_id=worker_id, now=clock)
        for status, count in report.counts.items():
            process_metrics().digests.labels(status).inc(count)
        if report.counts:
            log.info("drained", extra=fields(**report.counts))
        if report.paused:
            log.error("sending paused: %s", report.paused, extra=fields(reason=report.paused))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=tick)
