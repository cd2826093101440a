"""The ledger's cost per window of 16 digests, as a sender pays it: one transaction that records the window
before (outcomes and sent papers) and marks the next one `sending` (`digest.delivery.worker._Engine`).

    python bench/ledger_window.py [--rows 16000] [--database URL]

Builds a fresh database with `--rows` subscribers, each with a pending row claimed by one worker, then
runs the windows one after another and prints, a window: the client's CPU, the wall time and, for a
PostgreSQL on this machine, the server's CPU (every postgres process, from /proc).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from daily_cycle import postgres_cpu_seconds, scratch_context
from population import add_subscribers, load_papers

from digest.context import Context
from digest.store.db import transaction
from digest.store.ledger import Result, claim_batch, enqueue, record_results
from digest.store.ledger_bulk import start_sending
from digest.store.models import DeliveryStatus

WINDOW = 16
PAPERS_A_DIGEST = 10


def run(ctx: Context, rows: int) -> dict[str, float]:
    now = datetime.now(UTC)
    papers = load_papers(ctx, 300, now)
    add_subscribers(ctx, rows, papers, now)
    lease = now + timedelta(hours=1)
    with transaction(ctx.sessions) as session:
        enqueue(session, [(i, now.date()) for i in range(1, rows + 1)], now)
        claimed = claim_batch(session, "bench", now, now, lease, rows)
    paper_ids = tuple(range(1, PAPERS_A_DIGEST + 1))
    pending: list[Result] = []
    server, cpu, wall = postgres_cpu_seconds(), time.process_time(), time.perf_counter()
    for start in range(0, len(claimed), WINDOW):
        window = claimed[start : start + WINDOW]
        marks = [(c.delivery_id, f"<{c.delivery_id}@bench>", paper_ids) for c in window]
        with transaction(ctx.sessions) as session:
            record_results(session, "bench", pending, now, 3)
            assert len(start_sending(session, "bench", marks, now, lease)) == len(window)
        pending = [
            Result(c.delivery_id, c.subscriber_id, DeliveryStatus.SENT, paper_ids=paper_ids) for c in window
        ]
    windows = -(-len(claimed) // WINDOW)
    return {
        "windows": windows,
        "client_cpu_ms": 1000 * (time.process_time() - cpu) / windows,
        "wall_ms": 1000 * (time.perf_counter() - wall) / windows,
        "server_cpu_ms": 1000 * (postgres_cpu_seconds() - server) / windows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=16_000)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with scratch_context(args.database) as ctx:
        result = run(ctx, args.rows)
    where = "postgresql" if args.database else "sqlite"
    server = f", server CPU {result['server_cpu_ms']:.2f} ms" if args.database else ""
    print(f"{result['windows']:,} windows of {WINDOW} on {where}, a window: client CPU "
          f"{result['client_cpu_ms']:.2f} ms, wall {result['wall_ms']:.2f} ms{server}")  # fmt: skip


if __name__ == "__main__":
    main()
