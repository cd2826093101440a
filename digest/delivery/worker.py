"""The drain loop: claim a batch of due digests, build them, send them a window at a time, repeat.

Any number of these run against one PostgreSQL (`digest worker`); on SQLite one process sends. The ledger
is the only shared state: see store_ledger for the claim, lease and window rules, and claims for what each
SMTP answer leads to.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from digest.config import DeliverySettings
from digest.context import Context
from digest.delivery.batch import Job, RunCache, build_job
from digest.delivery.batch_ahead import (
    BatchBuilder,
    Prepared,
    batch_sizes,
    can_prepare_ahead,
    prepare_here,
    start_for_the_day,
)
from digest.delivery.policy import ErrorBrake, decide
from digest.delivery.report import DigestPicks, Outcome, SendReport
from digest.errors import DeliveryError
from digest.mail.headers import Sender
from digest.mail.mime_template import MessageTemplate
from digest.mail.transports import Transport
from digest.store.db import in_memory_sqlite, transaction
from digest.store.ledger import (
    Claimed,
    Result,
    claim_batch,
    enqueue,
    expire_leases,
    record_results,
    release,
    renew_lease,
    skip_inactive,
)
from digest.store.ledger_bulk import start_sending
from digest.store.models import DeliveryStatus, Subscriber
from digest.store.schedule import due_pairs

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_worker(
    ctx: Context,
    transport: Transport,
    stop: asyncio.Event,
    *,
    worker_id: str,
    now: Clock = utc_now,
    digest_date: date | None = None,
    options: DeliverySettings | None = None,
    keep_outcomes: bool = False,
    enqueue_due: bool = True,
) -> SendReport:
    """Write the ledger rows of every digest due at `now()`, then claim and send batches until none is
    claimable, `stop` is set (the window in flight is finished first) or the error brake trips.

    `now` is the schedule's clock (what is due, the Date header, retry times); leases always use the real
    clock, since they measure whether a process is alive. `enqueue_due=False` only drains rows already in
    the ledger (when another process, e.g. the scheduler, writes them).
    """
    engine = _Engine(ctx, transport, worker_id, options or ctx.settings.delivery, now)
    report = SendReport(keep=keep_outcomes)
    builder = None
    if enqueue_due and can_prepare_ahead(ctx.settings):
        builder = start_for_the_day(ctx, engine.now(), digest_date, engine.options.batch_size)
    try:
        if enqueue_due:
            with report.timed("enqueue"), transaction(ctx.sessions) as session:
                moment = now()
                enqueue(session, due_pairs(session, moment, digest_date), moment)
        await engine.drain(report, stop, builder)
    finally:
        if builder is not None:
            builder.close()
    return report


class _Engine:
    def __init__(
        self, ctx: Context, transport: Transport, worker_id: str, options: DeliverySettings, now: Clock
    ) -> None:
        self.ctx, self.transport, self.options, self.now = ctx, transport, options, now
        self.worker_id = worker_id
        self.cache = RunCache(MessageTemplate(Sender.from_settings(ctx.settings)))
        self.brake = ErrorBrake(options.max_consecutive_errors)
        self._in_memory = in_memory_sqlite(ctx.settings.database.url)
        self._renewed = time.monotonic()

    def _lease_until(self) -> datetime:
        return utc_now() + self.options.lease

    async def drain(
        self, report: SendReport, stop: asyncio.Event, builder: BatchBuilder | None = None
    ) -> None:
        """Claim and send batches until none is claimable, `stop` is set or the error brake trips.

        With `builder` (helpers already started), batches start small: see `batch_sizes`."""
        if stop.is_set():
            return
        sizes = batch_sizes(self.options.batch_size, ramp=builder is not None)
        with report.timed("ledger"):
            claimed = self.claim(limit=next(sizes))
        if (
            builder is None
            and len(claimed) >= self.options.batch_size
            and can_prepare_ahead(self.ctx.settings)
        ):
            builder = BatchBuilder(self.ctx.settings, self.ctx.settings.delivery.prepare_processes)
        if builder is not None and claimed:
            await self._drain_ahead(builder, sizes, claimed, report, stop)
            return
        while claimed:
            await self._send_prepared(
                claimed, prepare_here(self.ctx, self.cache, claimed, self.now()), report, stop
            )
            if stop.is_set() or report.paused is not None:
                return
            with report.timed("ledger"):
                claimed = self.claim()

    async def _drain_ahead(
        self,
        builder: BatchBuilder,
        sizes: Iterator[int],
        claimed: list[Claimed],
        report: SendReport,
        stop: asyncio.Event,
    ) -> None:
        """Like `drain`, with the next batches prepared by helper processes while one is sent.

        Batches are claimed before the ones ahead of them are sent, so a subscriber with rows in two (two
        missed dates) would be ranked against sent papers that lack the earlier batch's: such rows are
        given back and claimed again once no unsent batch holds that subscriber."""
        ahead: deque[tuple[list[Claimed], Future[Prepared]]] = deque()
        ahead.append((claimed, builder.submit(claimed, self.now(), keep_picks=report.keep)))
        try:
            while ahead:
                claimed, future = ahead.popleft()
                with report.timed("wait for helper"):
                    prepared = await builder.result(future)
                self._claim_ahead(builder, sizes, ahead, claimed, report, stop)
                await self._send_prepared(claimed, prepared, report, stop)
                if stop.is_set() or report.paused is not None:
                    with report.timed("ledger"), transaction(self.ctx.sessions) as session:
                        release(session, self.worker_id, [c.delivery_id for batch, _ in ahead for c in batch])
                    return
                if not ahead:  # rows held back because their subscriber was in the batch just sent
                    self._claim_ahead(builder, sizes, ahead, [], report, stop)
        finally:
            builder.close()

    def _claim_ahead(
        self,
        builder: BatchBuilder,
        sizes: Iterator[int],
        ahead: deque[tuple[list[Claimed], Future[Prepared]]],
        sending: list[Claimed],
        report: SendReport,
        stop: asyncio.Event,
    ) -> None:
        """Claim batches and hand them to the helpers until each helper has one to prepare."""
        while len(ahead) < builder.processes and not stop.is_set() and report.paused is None:
            busy = {c.subscriber_id for c in sending}
            busy.update(c.subscriber_id for batch, _ in ahead for c in batch)
            with report.timed("ledger"):
                batch = self.claim(busy=busy, limit=next(sizes))
            if not batch:
                return
            ahead.append((batch, builder.submit(batch, self.now(), keep_picks=report.keep)))

    def claim(
        self, only: int | None = None, busy: frozenset[int] | set[int] = frozenset(), limit: int | None = None
    ) -> list[Claimed]:
        """Lease a batch (of `limit` rows, default a whole batch); `busy` subscribers (in a batch not yet
        sent) are given back for a later claim."""
        clock = utc_now()
        with transaction(self.ctx.sessions) as session:
            expire_leases(session, clock, self.options.lease)
            claimed = claim_batch(
                session, self.worker_id, self.now(), clock, self._lease_until(),
                limit or self.options.batch_size, only,
            )  # fmt: skip
            claimed = skip_inactive(session, claimed, clock)
            # Two dates of one subscriber in a batch would be ranked against the same sent papers and
            # repeat them: keep the earliest, give the other back for a later batch.
            first: dict[int, Claimed] = {}
            for row in sorted(claimed, key=lambda c: c.digest_date):
                if row.subscriber_id not in busy:
                    first.setdefault(row.subscriber_id, row)
            extra = [c.delivery_id for c in claimed if first.get(c.subscriber_id) is not c]
            release(session, self.worker_id, extra)
        self._renewed = time.monotonic()
        return [c for c in claimed if first.get(c.subscriber_id) is c]

    async def _send_prepared(
        self, claimed: list[Claimed], prepared: Prepared, report: SendReport, stop: asyncio.Event
    ) -> None:
        report.add_stages(prepared.stages)
        days = {c.delivery_id: c.digest_date for c in claimed}
        for result in prepared.results:
            email = prepared.emails.get(result.delivery_id, "?")
            report.add(_outcome(email, days[result.delivery_id], result, None))
        await self.send_jobs(prepared.jobs, prepared.results, report, stop)

    async def send_jobs(
        self, jobs: Sequence[Job], pending: list[Result], report: SendReport, stop: asyncio.Event
    ) -> None:
        """Send a window at a time, each window starting while the one before is finishing, so that the
        connections never sit idle waiting for a window's slowest message. Each window's ledger transaction
        records the outcomes known so far; at most two windows are `sending` at once (what a crash can
        leave `unknown`)."""
        moment = self.now()
        size = self.options.window
        done = 0
        ahead: asyncio.Task[list[Result]] | None = None
        for start in range(0, len(jobs), size):
            if stop.is_set() or report.paused:
                break
            window = jobs[start : start + size]
            with report.timed("ledger"):
                # In a thread, so that the window ahead keeps its connections busy meanwhile; not with
                # in-memory SQLite, whose one connection belongs to this thread.
                if self._in_memory:
                    owned = self._mark_sending(pending, window, moment)
                else:
                    owned = await asyncio.to_thread(self._mark_sending, pending, window, moment)
            sending = asyncio.create_task(
                self._send_window([j for j in window if j.delivery_id in owned], report)
            )
            pending = []
            if ahead is not None:
                with report.timed("smtp"):
                    pending = await ahead
            ahead, done = sending, start + len(window)
        if ahead is not None:
            with report.timed("smtp"):
                pending += await ahead
        with report.timed("ledger"), transaction(self.ctx.sessions) as session:
            record_results(session, self.worker_id, pending, moment, self.options.bounce_limit)
            release(session, self.worker_id, [j.delivery_id for j in jobs[done:]])

    def _mark_sending(self, results: list[Result], window: Sequence[Job], moment: datetime) -> set[int]:
        """Record `results` and mark `window` as sending, in one transaction; the ids still ours to send."""
        with transaction(self.ctx.sessions) as session:
            record_results(session, self.worker_id, results, moment, self.options.bounce_limit)
            marks = [(j.delivery_id, j.message_id, j.paper_ids) for j in window]
            owned = start_sending(session, self.worker_id, marks, moment, self._lease_until())
            self._maybe_renew(session)
        return owned

    def _maybe_renew(self, session: Session) -> None:
        if time.monotonic() - self._renewed > self.options.lease_seconds / 3:
            renew_lease(session, self.worker_id, self._lease_until())
            self._renewed = time.monotonic()

    async def _send_window(self, jobs: Sequence[Job], report: SendReport) -> list[Result]:
        results = await asyncio.gather(*(self._send_one(job) for job in jobs))
        for job, result in zip(jobs, results, strict=True):
            self.brake.record(result.status == DeliveryStatus.SENT, result.error or "")
            report.add(_outcome(job.email, job.digest_date, result, job))
        reason = self.brake.tripped
        if reason and not report.paused:
            log.error("sending %s", reason)
            report.paused = reason
        return list(results)

    async def _send_one(self, job: Job) -> Result:
        paper_ids = job.paper_ids
        try:
            await self.transport.send(self.cache.template.sender.address, job.email, job.message)
        except DeliveryError as exc:
            decision = decide(exc, job.attempts + 1, self.options, self.now())
            log.warning("delivery %s to subscriber %s: %s (%s)", job.delivery_id, job.subscriber_id,
                        decision.status, exc)  # fmt: skip
            return Result(job.delivery_id, job.subscriber_id, decision.status, str(exc),
                          decision.next_attempt_at, paper_ids, decision.bounce)  # fmt: skip
        return Result(job.delivery_id, job.subscriber_id, DeliveryStatus.SENT, paper_ids=paper_ids)


def _outcome(email: str, day: date, result: Result, job: Job | None) -> Outcome:
    picks = job.picks if job is not None and result.status == DeliveryStatus.SENT else None
    papers = picks.ranked if picks is not None else ()
    return Outcome(email, day, str(result.status), papers, result.error)


async def deliver_one(
    ctx: Context, transport: Transport, subscriber: Subscriber, day: date, picks: DigestPicks, now: datetime,
    *, dry_run: bool = False,
) -> Outcome:  # fmt: skip
    """One subscriber's digest with picks already made, through the same ledger steps as a batch."""
    if dry_run:
        return Outcome(subscriber.email, day, "dry-run", picks.ranked)
    engine = _Engine(ctx, transport, default_worker_id(), ctx.settings.delivery, lambda: now)
    with transaction(ctx.sessions) as session:
        enqueue(session, [(subscriber.id, day)], now)
    claimed = [c for c in engine.claim(only=subscriber.id) if c.digest_date == day]
    if not claimed:
        return Outcome(subscriber.email, day, "done")
    report = SendReport()
    if not picks.ranked:
        result = Result(claimed[0].delivery_id, subscriber.id, DeliveryStatus.SKIPPED, "nothing matched")
        report.add(_outcome(subscriber.email, day, result, None))
        await engine.send_jobs([], [result], report, asyncio.Event())
        return report.outcomes[0]
    with ctx.sessions() as session:
        papers = engine.cache.papers_for(session, [r.paper_id for r in picks.ranked])
    try:
        job = build_job(ctx, engine.cache.template, papers, subscriber, claimed[0], picks, now)
    except DeliveryError as exc:
        result = Result(claimed[0].delivery_id, subscriber.id, DeliveryStatus.FAILED, str(exc))
        report.add(_outcome(subscriber.email, day, result, None))
        await engine.send_jobs([], [result], report, asyncio.Event())
        return report.outcomes[0]
    await engine.send_jobs([job], [], report, asyncio.Event())
    return report.outcomes[0]
