"""bench/admin_pages.py keeps working (its figures are the README's): a tiny population, every page 200."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "admin_pages.py"


def test_the_dashboard_benchmark_times_every_page() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--subscribers", "60", "--days", "2", "--requests", "2", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["deliveries"] == 120
    assert set(result["pages"]) >= {"overview", "deliveries", "subscribers", "sources"}
    assert all(page["p50_ms"] > 0 for page in result["pages"].values())
