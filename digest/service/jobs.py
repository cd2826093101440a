"""APScheduler jobs that process whatever the database says is due: fetch, send, tidy.

The jobs hold no schedule of their own. Each tick asks the database (sources.next_fetch_at,
subscribers.next_send_at, the ledger) what is due, so a restart after any outage catches up from the
rows, and the in-memory job store losing its state on restart costs nothing. APScheduler 3 cannot share
a job store between processes; only the leader (leader.py) does the work, the others skip their ticks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from digest.config import SchedulerSettings
from digest.context import Context
from digest.delivery.report import SendReport
from digest.delivery.worker import default_worker_id, run_worker
from digest.ingest import ingest_sources, select_sources
from digest.logs import fields
from digest.mail.transports import Transport
from digest.metrics import Metrics
from digest.schedule.times import fetch_anchor, hold_for_papers, next_fetch_at, send_time
from digest.service.leader import Leadership
from digest.store.db import transaction
from digest.store.schedule import (
    expire_pending,
    fetch_due_at,
    prune_ledger,
    set_next_fetch,
    upcoming_send_times,
)
from digest.store.subscribers import send_times

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Jobs:
    """The three jobs. Each is idempotent: running it twice, or late, does no harm."""

    def __init__(
        self, ctx: Context, transport: Transport, leader: Leadership, metrics: Metrics,
        options: SchedulerSettings, clock: Clock = utcnow,
    ) -> None:  # fmt: skip
        self.ctx, self.transport, self.leader, self.metrics = ctx, transport, leader, metrics
        self.options, self.clock = options, clock
        self.worker_id = f"{default_worker_id()}:scheduler"
        self.stopping = asyncio.Event()
        self._running: set[asyncio.Task[Any]] = set()

    async def fetch(self) -> None:
        await self._guarded("fetch", self._fetch)

    async def send(self) -> None:
        await self._guarded("send", self._send)

    async def tidy(self) -> None:
        await self._guarded("tidy", self._tidy)

    async def drain(self) -> None:
        """Stop taking new work and wait for the jobs in progress (each stops between messages)."""
        self.stopping.set()
        running = [task for task in self._running if task is not asyncio.current_task()]
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def _guarded(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        if self.stopping.is_set() or not self._lead():
            return
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await body()
            self.metrics.job_runs.labels(name, "ok").inc()
        except Exception:
            # One failed tick must not stop the scheduler: the next tick retries from the database.
            self.metrics.job_runs.labels(name, "error").inc()
            log.exception("job %s failed", name, extra=fields(job=name))
        finally:
            if task is not None:
                self._running.discard(task)

    def _lead(self) -> bool:
        held = self.leader.try_acquire()
        self.metrics.leader.set(1 if held else 0)
        return held

    async def _fetch(self) -> None:
        now = self.clock()
        configured = select_sources(self.ctx.settings.sources, ())
        with transaction(self.ctx.sessions) as session:
            due = fetch_due_at(session, [s.name for s in configured], now)
            sends = upcoming_send_times(session, now, timedelta(days=1))
        chosen = [source for source in configured if source.name in due]
        if not chosen:
            return
        reports = await ingest_sources(self.ctx, chosen, now)
        anchor = fetch_anchor(sends, timedelta(hours=self.options.fetch_lead_hours))
        with transaction(self.ctx.sessions) as session:
            set_next_fetch(session, {s.name: next_fetch_at(now, s.interval_hours, anchor) for s in chosen})
        for report in reports:
            self.metrics.papers_fetched.labels(report.name, "new").inc(report.new)
            self.metrics.papers_fetched.labels(report.name, "updated").inc(report.updated)
            if report.error:
                self.metrics.fetch_errors.labels(report.name).inc()
            log.info("fetched", extra=fields(source=report.name, new=report.new, error=report.error))

    async def _send(self) -> None:
        now = self.clock()
        if self._holding(now):
            return
        # Each round sends at most one date per subscriber; after an outage the next round sends the next.
        for _ in range(self.options.max_missed_digests):
            if self.stopping.is_set():
                return
            report = await run_worker(
                self.ctx, self.transport, self.stopping, worker_id=self.worker_id, now=self.clock,
                keep_outcomes=True,
            )  # fmt: skip
            self._count(report, self.clock())
            if report.paused:  # the error brake: the next tick tries again
                log.error("sending paused: %s", report.paused, extra=fields(reason=report.paused))
                return
            if not any(outcome.status in ("sent", "skipped") for outcome in report.outcomes):
                return

    def _holding(self, now: datetime) -> bool:
        wait = timedelta(minutes=self.options.wait_for_papers_minutes)
        names = [source.name for source in select_sources(self.ctx.settings.sources, ())]
        with transaction(self.ctx.sessions) as session:
            due = fetch_due_at(session, names, now)
        overdue = [moment for moment in due.values() if moment is not None]
        if hold_for_papers(now, overdue, wait):
            log.info("holding digests for a fetch that is due", extra=fields(sources=sorted(due)))
            return True
        return False

    def _count(self, report: SendReport, finished: datetime) -> None:
        if not report.outcomes:
            return
        emails = [outcome.email for outcome in report.outcomes if outcome.status == "sent"]
        with transaction(self.ctx.sessions) as session:
            zones = send_times(session, emails)
        for outcome in report.outcomes:
            self.metrics.digests.labels(outcome.status).inc()
            if outcome.email in zones and outcome.status == "sent":
                zone, hour = zones[outcome.email]
                late = finished - send_time(outcome.digest_date, zone, hour)
                self.metrics.send_latency.observe(max(late.total_seconds(), 0.0))
            log.info(
                "digest", extra=fields(to=outcome.email, date=outcome.digest_date, status=outcome.status)
            )

    async def _tidy(self) -> None:
        now = self.clock()
        with transaction(self.ctx.sessions) as session:
            expired = expire_pending(session, now, timedelta(days=self.options.pending_expiry_days))
            pruned = prune_ledger(session, now.date(), self.options.retention_days)
        if expired or pruned:
            log.info("tidied", extra=fields(expired_pending=expired, pruned_deliveries=pruned))


def build_scheduler(
    jobs: Jobs, options: SchedulerSettings, *, start_at: datetime | None = None
) -> AsyncIOScheduler:
    """An AsyncIOScheduler with an in-memory store and every job option spelled out.

    coalesce: ticks missed while the loop was busy run once, not in a burst. max_instances=1: a slow send
    round is never joined by a second one. misfire_grace_time of hours: a late tick still runs (the
    default of 1 s silently drops it). None of this is what makes restarts safe; the database is.
    """
    grace = int(options.misfire_grace_hours * 3600)
    scheduler = AsyncIOScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        timezone=UTC,
    )
    first = start_at or utcnow()
    tick = IntervalTrigger(seconds=options.tick_seconds, timezone=UTC)
    tidy = IntervalTrigger(hours=1, timezone=UTC)
    for job_id, func, trigger in (
        ("fetch", jobs.fetch, tick),
        ("send", jobs.send, tick),
        ("tidy", jobs.tidy, tidy),
    ):
        scheduler.add_job(
            func, trigger, id=job_id, name=job_id, next_run_time=first,
            coalesce=True, max_instances=1, misfire_grace_time=grace, replace_existing=True,
        )  # fmt: skip
    return scheduler
