"""Crash safety: a real sender process killed with SIGKILL at random points, restarted, loses nothing and
sends nothing twice except rows it recorded `unknown` (at most two windows in flight per kill).

The sender is a real subprocess running the production path (run_worker: ledger claims, ranking, rendering,
MIME, a pool of two SMTP connections) against a real SQLite file and a real aiosmtpd sink in this process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from conftest import FIXTURES, NOW, make_settings
from smtp_sink import SmtpSink
from sqlalchemy import insert, select

from digest import sources
from digest.config import DeliverySettings, Settings
from digest.context import Context
from digest.store.db import transaction, upgrade
from digest.store.models import Delivery, DeliveryStatus, Interest, Subscriber, SubscriberStatus
from digest.store.papers import upsert_papers

TODAY = date(2026, 11, 28)
TOPICS = ("language models", "agents", "video generation", "reasoning", "diffusion; robotics")
# model_construct: a lease far below the floor operators may set (5 s), so that the test takes seconds
OPTIONS = DeliverySettings.model_construct(concurrency=2, lease_seconds=1.0, batch_size=100)
SENDER = """
import asyncio, json, os, sys
from datetime import date, datetime
from digest.config import DeliverySettings
from digest.config import Settings
from digest.context import Context
from digest.mail.transports import PooledTransport, SmtpTransport
from digest.store.models import Delivery
from digest.delivery.worker import run_worker
from sqlalchemy import func, select

settings = Settings.model_validate(json.loads(sys.argv[1]))
port, now, day = int(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), date.fromisoformat(sys.argv[4])
options = DeliverySettings.model_construct(**json.loads(sys.argv[5]))
until_empty = sys.argv[6] == "until-empty"  # like a `digest worker` polling until the day is done

async def main():
    ctx = Context.open(settings)
    pool = PooledTransport(lambda: SmtpTransport("127.0.0.1", port, security="plain"), options.concurrency)
    sent, first = 0, True
    try:
        while True:
            report = await run_worker(ctx, pool, asyncio.Event(), worker_id=f"pid-{os.getpid()}",
                                      now=lambda: now, digest_date=day, options=options, enqueue_due=first)
            first = False
            sent += report.counts.get("sent", 0)
            with ctx.sessions() as session:
                left = session.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.status.in_(["pending", "retry", "sending"])))
            if not until_empty or not left:
                break
            await asyncio.sleep(0.2)
    finally:
        await pool.close()
    print(json.dumps({"sent": sent}))

asyncio.run(main())
"""


def load_papers(ctx: Context) -> None:
    parsed = sources.parse("hf_daily", (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes())
    with transaction(ctx.sessions) as session:
        upsert_papers(session, parsed.papers, NOW)


def add_subscribers(ctx: Context, count: int) -> None:
    """Active subscribers written in bulk (the signup path is not what these tests are about)."""
    people = [
        {"id": i, "email": f"s{i}@example.org", "status": SubscriberStatus.ACTIVE, "send_hour": 0,
         "timezone": "UTC", "token_version": 1, "bounce_count": 0, "created_at": NOW, "confirmed_at": NOW}
        for i in range(1, count + 1)
    ]  # fmt: skip
    topics = [
        {"subscriber_id": i, "position": 0, "query": TOPICS[i % len(TOPICS)]} for i in range(1, count + 1)
    ]
    with transaction(ctx.sessions) as session:
        session.execute(insert(Subscriber), people)
        session.execute(insert(Interest), topics)


def start_sender(
    settings: Settings, port: int, options: DeliverySettings = OPTIONS, *, until_empty: bool = False
) -> subprocess.Popen[str]:
    fields = {name: getattr(options, name) for name in ("concurrency", "lease_seconds", "batch_size")}
    args = [json.dumps(settings.model_dump(mode="json")), str(port), NOW.isoformat(), TODAY.isoformat()]
    return subprocess.Popen(
        [sys.executable, "-c", SENDER, *args, json.dumps(fields), "until-empty" if until_empty else "once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def ledger(ctx: Context) -> dict[int, str]:
    with transaction(ctx.sessions) as session:
        return {
            row.subscriber_id: row.status
            for row in session.execute(select(Delivery.subscriber_id, Delivery.status))
        }


def assert_exactly_once_except_unknown(ctx: Context, sink: SmtpSink, count: int, max_unknown: int) -> None:
    states = ledger(ctx)
    copies = Counter(r.recipients[0] for r in sink.received)
    assert len(states) == count  # every subscriber has a ledger row
    assert set(states.values()) <= {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}, Counter(states.values())
    unknown = [s for s, state in states.items() if state == DeliveryStatus.UNKNOWN]
    assert len(unknown) <= max_unknown
    for subscriber, state in states.items():
        got = copies[f"s{subscriber}@example.org"]
        assert got == 1 if state == DeliveryStatus.SENT else got <= 1, (subscriber, state, got)


def test_a_sender_killed_at_random_points_and_restarted_delivers_each_digest_once(tmp_path: Path) -> None:
    count, kills = 2000, 6
    settings = make_settings(f"sqlite:///{tmp_path / 'digest.db'}", tmp_path)
    ctx = Context.open(settings)
    upgrade(ctx.engine)
    load_papers(ctx)
    add_subscribers(ctx, count)
    rng = random.Random(os.environ.get("CRASH_SEED", "7"))
    with SmtpSink() as sink:
        killed = 0
        while killed < kills:
            before = len(sink.received)
            process = start_sender(settings, sink.port)
            # A random point: some while starting, claiming or ranking (by time), most while sending.
            target = before + rng.randint(1, 250) if killed % 3 else before + 10**6
            deadline = time.monotonic() + (rng.uniform(0.3, 3.0) if killed % 3 == 0 else 60.0)
            while len(sink.received) < target and time.monotonic() < deadline and process.poll() is None:
                time.sleep(rng.uniform(0, 0.01))
            if process.poll() is not None:
                break  # finished before this kill point
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed += 1
            time.sleep(OPTIONS.lease_seconds + 0.2)  # the dead sender's lease runs out
        final = start_sender(settings, sink.port)
        _, err = final.communicate(timeout=120)
        assert final.returncode == 0, err
    assert killed >= 3  # the kills really happened mid-run
    assert_exactly_once_except_unknown(ctx, sink, count, max_unknown=killed * OPTIONS.in_flight)
    print(f"kills: {killed}, ledger: {dict(Counter(ledger(ctx).values()))}, received: {len(sink.received)}")
    assert any(state == DeliveryStatus.SENT for state in ledger(ctx).values())
    ctx.close()
