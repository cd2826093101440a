"""Many processes, one PostgreSQL: four real worker processes share 5,000 digests through SKIP LOCKED
claims and leases; a worker killed with SIGKILL halfway loses its lease and the others take its batch over.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import make_settings
from smtp_sink import SmtpSink
from test_crash import add_subscribers, assert_exactly_once_except_unknown, load_papers, start_sender

from digest.config import DeliverySettings
from digest.context import Context
from digest.store.db import upgrade

COUNT = 5000
# model_construct: a lease far below the floor operators may set (5 s), so that the test takes seconds
OPTIONS = DeliverySettings.model_construct(concurrency=2, lease_seconds=4.0, batch_size=100)
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _prepared(database_url: str, tmp_path: Path) -> Context:
    ctx = Context.open(make_settings(database_url, tmp_path, digest={"max_papers": 3}))  # small, fast digests
    upgrade(ctx.engine)
    load_papers(ctx)
    add_subscribers(ctx, COUNT)
    return ctx


def _finish(processes: list[subprocess.Popen[str]]) -> list[int]:
    sent = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        if process.returncode == -signal.SIGKILL:
            continue
        assert process.returncode == 0, err
        sent.append(json.loads(out.strip().splitlines()[-1])["sent"])
    return sent


def test_four_workers_share_the_sending_and_each_subscriber_gets_one_digest(
    database_url: str, tmp_path: Path
) -> None:
    ctx = _prepared(database_url, tmp_path)
    with SmtpSink() as sink:
        workers = [start_sender(ctx.settings, sink.port, OPTIONS, until_empty=True) for _ in range(4)]
        sent = _finish(workers)
    assert sum(sent) == COUNT
    assert sum(1 for n in sent if n > 0) >= 3  # the work really was shared
    assert_exactly_once_except_unknown(ctx, sink, COUNT, max_unknown=0)
    assert max(Counter(r.recipients[0] for r in sink.received).values()) == 1
    ctx.close()


def test_a_worker_killed_halfway_loses_its_batch_to_the_others_and_nothing_is_lost(
    database_url: str, tmp_path: Path
) -> None:
    ctx = _prepared(database_url, tmp_path)
    with SmtpSink() as sink:
        workers = [start_sender(ctx.settings, sink.port, OPTIONS, until_empty=True) for _ in range(4)]
        while len(sink.received) < COUNT // 2 and workers[0].poll() is None:
            time.sleep(0.01)
        workers[0].send_signal(signal.SIGKILL)
        sent = _finish(workers)
    assert len(sent) == 3  # the three survivors finished the day, the victim's leased rows included
    assert_exactly_once_except_unknown(ctx, sink, COUNT, max_unknown=OPTIONS.in_flight)
    ctx.close()
