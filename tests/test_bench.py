"""The send benchmarks run end to end on a tiny population (they are what the README's figures come from,
so they must keep working): real sink process, real helper process, and their own checks pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
