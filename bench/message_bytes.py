"""The bytes the send path builds for the daily-cycle population, hashed: a check that a refactoring
changed nothing on the wire.

    python bench/message_bytes.py [--subscribers 2000] [--papers 2000] [--out FILE]

Builds bench/population.py's subscribers and papers in a temporary SQLite file and drains them through
`run_worker` (one process, no helper, so that the fixed values below hold everywhere) into a transport that
keeps every message. The clock, the secret and the multipart boundary are fixed: tokens carry the wall
clock's second and the boundary is random, so without that no two runs would match. Prints the message
count and the sha256 of all messages sorted by recipient; `--out` writes them too, for a diff.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Keep:
    """A transport that keeps what it is handed."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        self.messages.append((recipient, message))

    async def close(self) -> None:
        return None


def build(subscribers: int, papers: int) -> list[tuple[str, bytes]]:
    time.time = NOW.timestamp  # the tokens' timestamp
    secrets.randbelow = lambda _: 12345  # the multipart boundary
    from daily_cycle import settings_for
    from population import add_subscribers, load_papers

    from digest.context import Context
    from digest.delivery.worker import run_worker
    from digest.store.db import upgrade

    work = Path(tempfile.mkdtemp(prefix="digest-bytes-"))
    ctx = Context.open(settings_for(f"sqlite:///{work / 'bytes.db'}", 25, work, 0))
    upgrade(ctx.engine)
    add_subscribers(ctx, subscribers, load_papers(ctx, papers, NOW), NOW)
    keep = Keep()
    asyncio.run(run_worker(ctx, keep, asyncio.Event(), worker_id="bytes", now=lambda: NOW))
    ctx.close()
    return sorted(keep.messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    messages = build(args.subscribers, args.papers)
    digest = hashlib.sha256()
    for recipient, message in messages:
        digest.update(recipient.encode())
        digest.update(message)
    print(len(messages), digest.hexdigest())
    if args.out:
        args.out.write_bytes(b"\n=====\n".join(message for _, message in messages))


if __name__ == "__main__":
    main()
