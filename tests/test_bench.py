"""The send benchmarks run end to end on a tiny population (they are what the README's figures come from,
so they must keep working): real sink process, real helper process, and their own checks pass."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from digest.mail.headers import Sender
from digest.mail.mime_template import MessageTemplate
from digest.records import RenderedEmail

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    "command",
    [
        ["send.py", "--messages", "30", "--batch-size", "10", "--json"],
        ["daily_cycle.py", "--subscribers", "30", "--batch-size", "10", "--papers", "300", "--json"],
    ],
)
def test_a_send_benchmark_runs_and_checks_every_digest(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / command[0]), *command[1:]], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["received"] == 30 and result["valid"] == 30
    assert result["msgs_per_s"] > 0 and result["floor_msgs_per_s"] > 0
    if command[0] == "send.py":  # issue 5's floor (one connection), and the one over the same connections
        assert result["floor_same_connections_msgs_per_s"] > 0 and result["ratio_same_connections"] > 0
    if command[0] == "daily_cycle.py" and Path("/proc/stat").exists():
        assert result["cpu_ms_per_msg"]["sink_full"] > 0 and 0 < result["machine_busy"]["full"] <= 1


def test_the_sent_history_benchmark_loads_only_what_ranking_can_use_and_prunes_a_day() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "sent_history.py"), "--subscribers", "20", "--days", "12"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    every, recent, prune = done.stdout.strip().splitlines()[-3:]
    assert "2,400 sent_papers rows" in done.stdout and " 2,400 rows" in every  # 20 x 12 digests x 10 papers
    assert " 600 rows" in recent  # the last 3 digests' papers, which are among the candidates
    assert "20 deliveries, 200 sent_papers rows" in prune  # the oldest day's, with their papers


def test_the_ledger_window_benchmark_runs_every_window() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "ledger_window.py"), "--rows", "40"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("3 windows of 16 on sqlite, a window: client CPU ")


def test_the_message_bytes_check_gives_the_same_hash_twice_and_writes_each_message(tmp_path: Path) -> None:
    def run(out: Path) -> str:
        command = [sys.executable, str(BENCH / "message_bytes.py"), "--subscribers", "12", "--papers", "60"]
        done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second and first.startswith("12 ")
    messages = (tmp_path / "a").read_bytes().split(b"\n=====\n")
    assert len(messages) == 12 and all(b"List-Unsubscribe-Post" in m for m in messages)


def _sink() -> Any:
    spec = importlib.util.spec_from_file_location("bench_sink", BENCH / "sink.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _delivered(tally: Any, message: bytes, *recipients: str) -> None:
    envelope = SimpleNamespace(original_content=message, rcpt_tos=list(recipients))
    asyncio.run(tally.handle_DATA(None, None, envelope))


def test_the_sinks_deferred_check_counts_only_whole_digests_for_their_recipient() -> None:
    sink = _sink()
    template = MessageTemplate(
        Sender(address="digest@example.org", name="Digest", list_id="Digest <d.example.org>")
    )
    when = datetime(2026, 11, 28, 7, tzinfo=UTC)

    def digest(to: str) -> bytes:
        rendered = RenderedEmail("Subject", "text\n", "<p>html</p>\n")
        unsubscribe = "https://example.org/unsubscribe/t"
        return template.build(rendered, to=to, message_id=f"<1.{to}>", unsubscribe_url=unsubscribe, when=when)

    tally = sink.Tally()
    _delivered(tally, digest("a@example.org"), "a@example.org")
    _delivered(tally, digest("b@example.org"), "c@example.org")  # To is not the envelope recipient
    no_one_click = digest("d@example.org").replace(b"List-Unsubscribe-Post:", b"X-Unsubscribe-Post:")
    _delivered(tally, no_one_click, "d@example.org")
    _delivered(tally, digest("e@example.org").replace(b"text/html", b"text/xml"), "e@example.org")
    _delivered(tally, digest("a@example.org"), "a@example.org")  # a duplicate
    _delivered(tally, b"Subject: x\r\n\r\nbody\r\n", "f1@floor.invalid")  # the bare loop's, counted apart
    summary = tally.summary()
    assert (summary["received"], summary["valid"], summary["duplicates"]) == (5, 2, 1)
    assert (summary["distinct_recipients"], summary["floor_received"]) == (4, 1)
