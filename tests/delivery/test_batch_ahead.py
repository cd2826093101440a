"""Batches built ahead by a helper process (digest.prepare_ahead): the same digests, each sent once, no paper
repeated to a subscriber whose two dates fall in consecutive batches, and no helper left behind.

Everything here is real: the helper is a spawned process with its own database connection (SQLite file or
PostgreSQL), and the messages go to an aiosmtpd sink on loopback.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import gc
import itertools
import os
import pickle
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import NOW, make_settings
from seed import TODAY, ledger_states, load_papers, subscribe
from smtp_sink import SmtpSink
from sqlalchemy import select

from digest.config import DeliverySettings
from digest.context import Context
from digest.delivery import batch_ahead as prepare_ahead
from digest.delivery import worker
from digest.delivery.batch import Job, RunCache, prepare_batch
from digest.delivery.batch_ahead import BatchBuilder, Prepared, batch_sizes, can_prepare_ahead
from digest.delivery.report import DigestPicks, SendReport
from digest.mail.headers import Sender
from digest.mail.mime_template import MessageTemplate
from digest.mail.transports import SmtpTransport
from digest.records import Ranked, pickled_by_fields
from digest.store.db import transaction, upgrade
from digest.store.ledger import Claimed, Result, enqueue
from digest.store.models import Delivery, DeliveryStatus, Paper, SentPaper


class CountingBuilder(BatchBuilder):
    """The real helper process; counts what was submitted to it, to show the path was taken."""

    submitted: ClassVar[list[int]] = []
    kept_picks: ClassVar[set[bool]] = set()

    def submit(
        self, claimed: Sequence[Claimed], now: datetime, *, keep_picks: bool = True
    ) -> Future[Prepared]:
        CountingBuilder.submitted.append(len(claimed))
        CountingBuilder.kept_picks.add(keep_picks)
        return super().submit(claimed, now, keep_picks=keep_picks)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    CountingBuilder.submitted = []
    CountingBuilder.kept_picks = set()
    monkeypatch.setattr(worker, "BatchBuilder", CountingBuilder)
    monkeypatch.setattr(prepare_ahead, "BatchBuilder", CountingBuilder)
    return CountingBuilder.submitted


def _drain(
    ctx: Context, sink: SmtpSink, options: DeliverySettings, *, enqueue_due: bool = True, keep: bool = True
) -> SendReport:
    async def go() -> SendReport:
        transport = SmtpTransport(sink.host, sink.port, security="plain")
        try:
            return await worker.run_worker(
                ctx, transport, asyncio.Event(), worker_id="w", now=lambda: NOW, options=options,
                digest_date=TODAY, keep_outcomes=keep, enqueue_due=enqueue_due,
            )  # fmt: skip
        finally:
            await transport.close()

    return asyncio.run(go())


def _without_tokens(message: bytes) -> list[str]:
    """The headers and the decoded parts, with each signed token masked: a token carries the second it was
    made in (itsdangerous reads the wall clock), so two builds of one digest differ there when they straddle
    one."""
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    parts = [part.get_content() for part in parsed.walk() if not part.is_multipart()]
    assert len(parts) == 2 and all("/unsubscribe/" in part for part in parts)
    texts = [f"{name}: {value}" for name, value in parsed.items()] + parts
    return [re.sub(r"[\w-]+\.[\w-]+\.[\w-]{20,}", "TOKEN", text) for text in texts]  # payload.time.mac


def _papers_in(message: bytes) -> set[str]:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(("plain",))
    assert text is not None
    return set(re.findall(r"^Abstract: (\S+)", text.get_content(), re.MULTILINE))


def test_a_run_of_several_batches_is_built_by_the_helper_and_sends_each_digest_once(
    ctx: Context, counting: list[int]
) -> None:
    load_papers(ctx)
    for i in range(23):
        subscribe(ctx, f"s{i}@example.org", "language models; agents")
    with SmtpSink() as sink:
        report = _drain(ctx, sink, DeliverySettings(concurrency=2, batch_size=8))
    # Every batch went through the helper process, started before the enqueue, so batches start small.
    assert counting == [1, 2, 3, 4, 6, 7]
    assert report.counts == {"sent": 23}
    assert all(outcome.papers for outcome in report.outcomes)  # kept outcomes keep their picks
    assert {"rank", "render", "mime"} <= report.stages.keys()  # the helper's timings reach the report
    copies = Counter(r.recipients[0] for r in sink.received)
    assert copies == Counter({f"s{i}@example.org": 1 for i in range(23)})
    assert all(_papers_in(r.data) for r in sink.received)  # real digests, with papers
    assert set(ledger_states(ctx).values()) == {DeliveryStatus.SENT}


def test_a_sender_that_keeps_no_outcomes_gets_paper_ids_only_and_records_what_each_message_holds(
    ctx: Context, counting: list[int]
) -> None:
    load_papers(ctx)
    ids = {
        subscribe(ctx, f"s{i}@example.org", "language models; agents"): f"s{i}@example.org" for i in range(12)
    }
    with SmtpSink() as sink:
        report = _drain(ctx, sink, DeliverySettings(concurrency=2, batch_size=4), keep=False)
    assert CountingBuilder.kept_picks == {False} and len(counting) > 1
    assert report.counts == {"sent": 12} and report.outcomes == []
    with ctx.sessions() as session:
        sent = select(Paper.url).join(SentPaper, SentPaper.paper_id == Paper.id)
        recorded = {ids[s]: set(session.scalars(sent.where(SentPaper.subscriber_id == s))) for s in ids}
    assert recorded == {r.recipients[0]: _papers_in(r.data) for r in sink.received}


def _one_claimed(ctx: Context) -> list[Claimed]:
    """The papers, one subscriber and their ledger row for today, claimed."""
    load_papers(ctx)
    subscriber = subscribe(ctx, "s@example.org", "language models")
    with transaction(ctx.sessions) as session:
        enqueue(session, [(subscriber, TODAY)], NOW)
        return [Claimed(session.scalars(select(Delivery.id)).one(), subscriber, TODAY, 0)]


def test_the_helper_drops_the_picks_only_when_asked(ctx: Context) -> None:
    claimed = _one_claimed(ctx)
    builder = BatchBuilder(ctx.settings)
    try:
        kept = builder.submit(claimed, NOW).result()
        dropped = builder.submit(claimed, NOW, keep_picks=False).result()
    finally:
        builder.close()
    assert kept.jobs[0].picks is not None
    assert kept.jobs[0].paper_ids == tuple(r.paper_id for r in kept.jobs[0].picks.ranked)
    assert dropped.jobs[0].picks is None and dropped.jobs[0].paper_ids == kept.jobs[0].paper_ids
    assert _without_tokens(dropped.jobs[0].message) == _without_tokens(kept.jobs[0].message)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_helper_works_ahead_at_a_lower_priority_once_its_first_batch_is_built(ctx: Context) -> None:
    claimed = _one_claimed(ctx)
    builder = BatchBuilder(ctx.settings)
    try:
        # os.nice(0) reads a process's niceness
        first = builder._pool.submit(os.nice, 0).result()
        builder.submit(claimed, NOW).result()
        builder.submit(claimed, NOW).result()
        after = builder._pool.submit(os.nice, 0).result()
    finally:
        builder.close()
    ours = os.nice(0)
    assert first == ours and after == min(19, ours + prepare_ahead.HELPER_NICENESS) > ours


def test_a_subscriber_due_twice_in_consecutive_batches_is_never_sent_a_paper_twice(
    ctx: Context, counting: list[int]
) -> None:
    load_papers(ctx)
    ids = [subscribe(ctx, f"s{i}@example.org", "language models; agents; reasoning") for i in range(9)]
    yesterday = TODAY - timedelta(days=1)
    # Batch 1 holds s0's missed date; batch 2, claimed while batch 1 is sent, would hold s0's date today.
    rows: list[tuple[int, date]] = [(i, yesterday) for i in ids[:5]] + [(ids[0], TODAY)]
    rows += [(i, yesterday) for i in ids[5:]]
    with transaction(ctx.sessions) as session:
        enqueue(session, rows, NOW)
    with SmtpSink() as sink:
        report = _drain(ctx, sink, DeliverySettings(concurrency=2, batch_size=5), enqueue_due=False)
    assert counting[:2] == [5, 4]  # s0's second row was given back, then claimed once batch 1 was recorded
    first, second = (_papers_in(r.data) for r in sink.received if r.recipients[0] == "s0@example.org")
    assert first and second and not first & second
    assert report.counts == {"sent": 10}


def test_batches_start_small_only_when_the_helper_was_started_ahead() -> None:
    assert list(itertools.islice(batch_sizes(1000, ramp=True), 8)) == [
        125,
        187,
        280,
        420,
        630,
        945,
        1000,
        1000,
    ]
    assert list(itertools.islice(batch_sizes(5, ramp=True), 5)) == [1, 2, 3, 4, 5]
    assert list(itertools.islice(batch_sizes(1000, ramp=False), 2)) == [1000, 1000]
    assert list(itertools.islice(batch_sizes(1, ramp=True), 2)) == [1, 1]


def test_an_in_memory_database_or_the_setting_keeps_preparation_in_process(tmp_path: Path) -> None:
    assert can_prepare_ahead(make_settings(f"sqlite:///{tmp_path}/d.db", tmp_path))
    assert can_prepare_ahead(make_settings("postgresql+psycopg://postgres@127.0.0.1/test", tmp_path))
    assert not can_prepare_ahead(make_settings("sqlite://", tmp_path))
    assert not can_prepare_ahead(make_settings("sqlite:///:memory:", tmp_path))
    off = make_settings(f"sqlite:///{tmp_path}/d.db", tmp_path, delivery={"prepare_processes": 0})
    assert not can_prepare_ahead(off)


def test_a_single_batch_never_starts_the_helper(ctx: Context, counting: list[int]) -> None:
    load_papers(ctx)
    for i in range(3):
        subscribe(ctx, f"s{i}@example.org", "language models")
    with SmtpSink() as sink:
        report = _drain(ctx, sink, DeliverySettings(concurrency=2, batch_size=5))
    assert counting == [] and report.counts == {"sent": 3}


def test_warming_fills_the_cache_that_the_first_batch_then_uses(ctx: Context) -> None:
    load_papers(ctx)
    ids = [subscribe(ctx, f"s{i}@example.org", "language models") for i in range(3)]
    with transaction(ctx.sessions) as session:
        enqueue(session, [(i, TODAY) for i in ids], NOW)
    cache = RunCache(MessageTemplate(Sender.from_settings(ctx.settings)))
    with ctx.sessions() as session:
        cache.warm(ctx, session, NOW)
    candidates, index = cache.candidates, cache.stems.last
    assert candidates and index is not None
    unused = SmtpTransport("127.0.0.1", 1, security="plain")  # claiming sends nothing
    claimed = worker._Engine(ctx, unused, "w", DeliverySettings(), lambda: NOW).claim()
    with ctx.sessions() as session:
        jobs, _, _ = prepare_batch(ctx, session, claimed, NOW, cache, SendReport())
    assert len(jobs) == 3
    assert cache.candidates is candidates and cache.stems.last is index  # nothing was loaded or built again


def test_a_batch_leaves_the_collector_on_and_what_it_kept_frozen_even_when_it_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(*_: object) -> Prepared:
        assert not gc.isenabled()  # no collection during a batch
        raise RuntimeError("the database went away")

    monkeypatch.setitem(prepare_ahead._HELPER, "state", (None, None))
    monkeypatch.setattr(prepare_ahead, "prepare_here", failing)
    frozen = gc.get_freeze_count()
    try:
        with pytest.raises(RuntimeError):
            prepare_ahead._prepare([], NOW)
        assert gc.isenabled()
        monkeypatch.setattr(prepare_ahead, "prepare_here", lambda *_: Prepared([], [], {}, {}))
        assert prepare_ahead._prepare([], NOW) == Prepared([], [], {}, {})
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()


HOLDER = """
import sys, time
from digest.config import Settings
from digest.delivery.batch_ahead import BatchBuilder
builder = BatchBuilder(Settings.model_validate({"database": {"url": sys.argv[1]}}))
assert builder._pool.submit(int, "7").result() == 7  # the helper is up
print("ready", flush=True)
time.sleep(120)
"""


def test_the_helper_leaves_when_its_sender_is_killed(tmp_path: Path) -> None:
    sender = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"sqlite:///{tmp_path}/h.db"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert sender.stdout is not None
    assert sender.stdout.readline().strip() == "ready"
    sender.send_signal(signal.SIGKILL)
    # The helper inherited the sender's stdout: end of file means it is gone too (else TimeoutExpired).
    out, _ = sender.communicate(timeout=30)
    assert out == "" and sender.returncode == -signal.SIGKILL


def test_prepared_batches_pickle_as_they_cross_processes() -> None:
    ranked = (Ranked(7, 0.5, "agents", ("agent",), 'matched "agent" in title', {"lexical": 0.5}),)
    job = Job(
        1, 2, "a@example.org", date(2026, 11, 28), 0, "<1@x>", b"bytes", (7,), DigestPicks(ranked, 12, True)
    )
    result = Result(3, 4, DeliveryStatus.RETRY, "451", datetime(2026, 11, 28, tzinfo=UTC), (7,), True)
    prepared = Prepared([job], [result], {1: "a@example.org"}, {"rank": 0.5})
    back = pickle.loads(pickle.dumps(prepared))
    assert (
        back == prepared and back.jobs[0].picks is not None and type(back.jobs[0].picks.ranked[0]) is Ranked
    )
    claimed = Claimed(5, 6, date(2026, 11, 27), 1)
    assert pickle.loads(pickle.dumps(claimed)) == claimed


def test_only_dataclasses_built_from_all_their_fields_pickle_by_fields() -> None:
    @dataclass(frozen=True, slots=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

    with pytest.raises(TypeError, match="Derived: every field must be an __init__ argument"):
        pickled_by_fields(Derived)


def test_an_in_memory_database_sends_every_batch_in_one_process_and_thread(
    tmp_path: Path, counting: list[int]
) -> None:
    # In-memory SQLite is one connection in one thread: no helper process, no ledger thread.
    ctx = Context.open(make_settings("sqlite://", tmp_path))
    upgrade(ctx.engine)
    load_papers(ctx)
    for i in range(12):
        subscribe(ctx, f"s{i}@example.org", "language models; agents")
    with SmtpSink() as sink:
        report = _drain(ctx, sink, DeliverySettings(concurrency=2, batch_size=5))
    assert counting == [] and report.counts == {"sent": 12} and len(sink.received) == 12
    ctx.close()
