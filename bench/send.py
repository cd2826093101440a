"""Messages per second of the full send path against the bare aiosmtplib floor, in one run.

    python bench/send.py --messages 10000 --concurrency 4 [--database URL] [--json]

The sink (bench/sink.py) runs in another process. The full path is `digest.delivery.worker.run_worker`
(ledger -> claim -> rank -> render -> MIME -> SMTP) for N subscribers due now, over C connections. Two
floors, each a bare aiosmtplib loop sending the same bytes (real digests, built before it starts): over one
reused connection (issue 5's floor: `ratio`), and over the same C connections as the full path (the stricter
one that bench/daily_cycle.py reports: `ratio_same_connections`). This is bench/daily_cycle.py with one
worker, reporting the send rates; see that file for the details.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daily_cycle import check, run

from digest.config import DeliverySettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database", default=None, help="a PostgreSQL URL; default: a temporary SQLite file")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--helpers", type=int, default=DeliverySettings().prepare_processes,
                        help="batch-building helper processes (delivery.prepare_processes)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(argparse.Namespace(subscribers=args.messages, papers=None, database=args.database, workers=1,
                                    concurrency=args.concurrency, batch_size=args.batch_size,
                                    helpers=args.helpers, one_connection_floor=True))  # fmt: skip
    problems = check(result)
    summary = {key: result[key] for key in ("subscribers", "received", "valid", "mean_bytes", "msgs_per_s")}
    summary |= {
        "floor_msgs_per_s": result["floor_one_connection_msgs_per_s"],
        "ratio": result["ratio_one_connection"],
        "floor_same_connections_msgs_per_s": result["floor_msgs_per_s"],
        "ratio_same_connections": result["ratio"],
        "cpu_ms_per_msg": result["cpu_ms_per_msg"],
        "stages": result["stages"],
        "peak_rss_mb": result["peak_rss_mb"],
        "ok": not problems,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{args.messages:,} messages, {args.concurrency} connections, mean {result['mean_bytes']:,} bytes"
        )
        print(f"full path: {result['msgs_per_s']} msg/s (stages, seconds: {result['stages']})")
        print(f"bare aiosmtplib loop, one reused connection: {summary['floor_msgs_per_s']} msg/s")
        print(f"ratio: {summary['ratio']} (target 0.70)")
        print(f"bare aiosmtplib loop, {args.concurrency} connections: {result['floor_msgs_per_s']} msg/s; "
              f"ratio {result['ratio']}")  # fmt: skip
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
