"""Ingest speed: the 1,504-item arXiv RSS fixture, end to end into a fresh database; and the cost of
refusing a 1 MB billion-laughs feed.

    python bench/ingest.py [--repeat 3] [--database URL]

Prints parse and store seconds, papers per second end to end, and the refusal's time and peak memory.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from digest import sources
from digest.config import Settings
from digest.context import Context
from digest.errors import SourceError
from digest.store.db import transaction, upgrade
from digest.store.papers import upsert_papers

ROOT = Path(__file__).resolve().parent.parent
RSS = ROOT / "tests" / "fixtures" / "arxiv-rss_all-archives_2024-11-28.xml"
sys.path.insert(0, str(ROOT / "tests"))
from test_sources_feed import billion_laughs  # noqa: E402 - the same hostile document the tests refuse


def one_run(url: str) -> tuple[float, float, int]:
    ctx = Context.open(Settings.model_validate({"database": {"url": url}}))
    upgrade(ctx.engine)
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.begin() as connection:
            connection.execute(text("TRUNCATE papers CASCADE"))
    body = RSS.read_bytes()
    started = time.perf_counter()
    # Every announce type, so that all 1,504 items are stored.
    parsed = sources.parse("arxiv_rss", body, announce_types=sources.ANNOUNCE_TYPES)
    parsed_at = time.perf_counter()
    with transaction(ctx.sessions) as session:
        counts = upsert_papers(session, parsed.papers, datetime.now(UTC))
    stored_at = time.perf_counter()
    ctx.close()
    return parsed_at - started, stored_at - parsed_at, counts.new


def refusal() -> tuple[float, int]:
    body = billion_laughs(1_000_000)
    tracemalloc.start()
    started = time.perf_counter()
    with contextlib.suppress(SourceError):  # the refusal is what is measured
        sources.parse("arxiv_rss", body)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file per run")
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            runs.append(one_run(args.database or f"sqlite:///{folder}/bench.db"))
    parse_s = statistics.median(r[0] for r in runs)
    store_s = statistics.median(r[1] for r in runs)
    papers = runs[0][2]
    print(f"arXiv RSS fixture: {papers} papers stored (median of {args.repeat} runs)")
    print(f"  parse  {parse_s:6.3f} s")
    print(f"  store  {store_s:6.3f} s")
    print(f"  total  {parse_s + store_s:6.3f} s  = {papers / (parse_s + store_s):,.0f} papers/s end to end")
    elapsed, peak = refusal()
    print(
        f"billion laughs, 1 MB: refused in {elapsed * 1000:.2f} ms, peak traced memory {peak / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
