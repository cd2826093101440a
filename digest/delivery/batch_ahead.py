"""Build the next batch in a helper process while this one is being sent.

Sending one batch is mostly waiting for the SMTP server; ranking, rendering and building the next batch's
messages is all CPU. Done one after the other in one process, the machine's other core sits idle while the
server answers, and the server waits while the sender renders. A `BatchBuilder` runs `prepare_batch` in
helper processes (`delivery.prepare_processes`, default one; each with its own database connection and
`RunCache`, kept for the whole drain), so the sending process only claims, records and talks SMTP. The
helpers only read: every ledger write stays in the sender.

A drain of less than one batch never starts the helper (starting a Python process costs about a second), and
an in-memory SQLite database cannot be shared with another process, so both prepare in-process. When a
batch or more is due, `start_for_the_day` starts it before the enqueue, warm by the time the first batch
is claimed, and that drain's batches start small (`batch_sizes`).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime

from digest.config import Settings
from digest.context import Context
from digest.delivery.batch import Job, RunCache, prepare_batch
from digest.delivery.report import SendReport
from digest.logs import setup_logging
from digest.mail.headers import Sender
from digest.mail.mime_template import MessageTemplate
from digest.store.db import in_memory_sqlite
from digest.store.ledger import Claimed, Result
from digest.store.schedule import scheduled_count


@dataclass(frozen=True, slots=True)
class Prepared:
    """What `prepare_batch` returns, plus the seconds it spent per stage (for the run's report)."""

    jobs: list[Job]
    results: list[Result]
    emails: dict[int, str]
    stages: dict[str, float]


def prepare_here(ctx: Context, cache: RunCache, claimed: Sequence[Claimed], now: datetime) -> Prepared:
    timing = SendReport(keep=False)
    with ctx.sessions() as session:
        jobs, results, emails = prepare_batch(ctx, session, claimed, now, cache, timing)
    return Prepared(jobs, results, emails, timing.stages)


def can_prepare_ahead(settings: Settings) -> bool:
    return settings.delivery.prepare_processes > 0 and not in_memory_sqlite(settings.database.url)


def start_for_the_day(
    ctx: Context, now: datetime, digest_date: date | None, batch_size: int
) -> BatchBuilder | None:
    """Helpers started before the enqueue, when at least a batch is scheduled: their start (a new
    interpreter, the day's papers and index: 1.4 s of the 2.2 s the sender waited for its first batch at
    10,000 x 2,000) then overlaps the enqueue (0.7 s there). The count is an upper bound: the run after a
    day's sending still counts everyone until its enqueue moves them to the next day, and starts helpers
    for nothing once."""
    with ctx.sessions() as session:
        if scheduled_count(session, now, digest_date) < batch_size:
            return None
    return BatchBuilder(ctx.settings, ctx.settings.delivery.prepare_processes, now)


def batch_sizes(batch_size: int, *, ramp: bool) -> Iterator[int]:
    """Rows to claim for each batch of a drain. With `ramp`, an eighth of a batch, then each half as large
    again as the one before, then whole ones: the first messages go out once an eighth is built, and each
    batch is built while the one before is being sent. Building a message takes the helper about two
    thirds of the time sending one takes (0.75 against 1.15 ms at 100,000 x 2,000), so a batch half as
    large again is ready in time; one twice as large was not, and the sender waited at every step."""
    size = max(1, batch_size // 8) if ramp else batch_size
    while size < batch_size:
        yield size
        size += max(1, size // 2)
    yield from itertools.repeat(batch_size)


class BatchBuilder:
    """Helper processes that prepare batches, each batch in one of them."""

    def __init__(self, settings: Settings, processes: int = 1, warm_for: datetime | None = None) -> None:
        # spawn, not fork: the sender holds open database connections and a running event loop.
        self.processes = processes
        self._pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(settings, logging.getLogger().getEffectiveLevel()),
        )
        if warm_for is not None:
            # Starts a helper now, and has it load the day's papers and index before the first batch
            # (about a second at 2,000 papers, with the interpreter's start), while the sender enqueues.
            # A failure here shows again, and is reported, in the first batch.
            self._pool.submit(_warm, warm_for)

    def submit(
        self, claimed: Sequence[Claimed], now: datetime, *, keep_picks: bool = True
    ) -> Future[Prepared]:
        """`keep_picks=False`: the jobs come back without their picks (the paper ids only)."""
        return self._pool.submit(_prepare, list(claimed), now, keep_picks)

    @staticmethod
    async def result(future: Future[Prepared]) -> Prepared:
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# Once its first batch is built, the helper works ahead of the sender, and faster than the sender sends (it
# waits with a batch ready about a quarter of the time): at a lower priority it takes the CPU the sender
# and the SMTP server leave idle, instead of competing with them while it works and leaving the cores idle
# while it waits. Measured with two workers on PostgreSQL at 30,000 x 2,000: all cores busy 92-93% ->
# 97-98%, the full path's rate per unit of the sink's CPU (the machine's speed at the time) 5% higher.
# Its start and first batch, which the sender waits for, keep the sender's priority.
HELPER_NICENESS = 10

# The helper process's own context and cache, set once by `_start` (a process-wide slot: the pool's
# initializer can return nothing to the tasks it runs later).
_HELPER: dict[str, tuple[Context, RunCache]] = {}


def _start(settings: Settings, level: int) -> None:
    # A sender killed with SIGKILL cannot stop its helper, and the helper would wait for work forever
    # (holding the sender's stdout open, among others): leave when the parent is gone.
    threading.Thread(target=_exit_with_parent, name="exit-with-parent", daemon=True).start()
    setup_logging(level)
    ctx = Context.open(settings)
    _HELPER["state"] = (ctx, RunCache(MessageTemplate(Sender.from_settings(ctx.settings))))


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def _warm(now: datetime) -> None:
    ctx, cache = _HELPER["state"]
    with ctx.sessions() as session:
        cache.warm(ctx, session, now)


@functools.cache  # once per helper process: niceness only ever goes up
def _work_ahead() -> None:
    os.nice(HELPER_NICENESS)  # raising it needs no privilege


def _prepare(claimed: list[Claimed], now: datetime, keep_picks: bool = True) -> Prepared:
    """One batch, with the cyclic garbage collector kept out of the way (measured at 30k x 2,000: helper
    CPU 1.05 -> 0.95 ms a message with the freeze after each batch, -> 0.87 with no collection during it).

    What the helper keeps for the whole drain (candidates, the stem index, paper cards, the line memo...)
    grows over its first batches to hundreds of thousands of objects, which every full collection would walk
    again while later batches allocate: frozen after each batch, they are left out. During a batch nearly
    everything is freed by reference counting, so the collector only runs once, at its end, before the
    freeze (no garbage is frozen; frozen objects are still freed when their last reference goes)."""
    ctx, cache = _HELPER["state"]
    gc.disable()
    try:
        prepared = prepare_here(ctx, cache, claimed, now)
    finally:
        gc.enable()
    gc.collect()
    gc.freeze()
    _work_ahead()
    if keep_picks:
        return prepared
    return replace(prepared, jobs=[replace(job, picks=None) for job in prepared.jobs])
