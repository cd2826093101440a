"""The never-twice lookup of a list that has been running for months: what ranking loads per batch.

    python bench/sent_history.py [--subscribers 1000] [--days 180] [--database URL]

Builds a fresh database with the day's candidate papers and, below them, older papers; gives each subscriber
`--days` sent digests of ten papers, the last three of candidates and the others of older papers (180 is
the default `retention_days`: 1.8 M rows for 1,000 subscribers, a batch), then times `sent_paper_ids` for
the whole batch as ranking calls it (from the lowest candidate id) and as it did until the sixth session
(every sent paper), and the daily prune of the oldest day.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta

from daily_cycle import scratch_context
from population import load_papers
from sqlalchemy import func, insert, select

from digest.context import Context
from digest.store.db import transaction
from digest.store.ledger import sent_paper_ids
from digest.store.models import Delivery, DeliveryStatus, Paper, SentPaper, Subscriber, SubscriberStatus
from digest.store.schedule import prune_ledger

PER_DIGEST = 10
RECENT = 3  # digests whose papers are among the day's candidates (a catch-up window of 3 days)
FIRST = date(2026, 1, 1)  # the oldest digest's date


def build(ctx: Context, subscribers: int, days: int) -> int:
    """The database; returns the lowest candidate id."""
    now = datetime.now(UTC)
    load_papers(ctx, days * PER_DIGEST, now)  # the older papers, sent before
    with ctx.sessions() as session:
        lowest = (session.scalar(select(func.max(Paper.id))) or 0) + 1
    load_papers(ctx, days * PER_DIGEST + 2000, now, seed=3)  # the day's candidates, ingested after
    with ctx.sessions() as session:
        ids = list(session.scalars(select(Paper.id).order_by(Paper.id)))
    old, new = [i for i in ids if i < lowest], [i for i in ids if i >= lowest]
    people = [{"id": i, "email": f"reader{i}@example.org", "status": SubscriberStatus.ACTIVE, "send_hour": 7,
               "timezone": "UTC", "token_version": 1, "bounce_count": 0, "created_at": now}
              for i in range(1, subscribers + 1)]  # fmt: skip
    digests = [{"subscriber_id": i, "digest_date": FIRST + timedelta(days=d), "status": DeliveryStatus.SENT,
                "attempts": 1, "paper_ids": [], "created_at": now, "updated_at": now}
               for i in range(1, subscribers + 1) for d in range(days)]  # fmt: skip
    with transaction(ctx.sessions) as session:
        session.execute(insert(Subscriber), people)
        for start in range(0, len(digests), 20_000):
            session.execute(insert(Delivery), digests[start : start + 20_000])
        written = session.execute(select(Delivery.id, Delivery.subscriber_id, Delivery.digest_date))
        rows = [
            {
                "subscriber_id": who,
                "paper_id": _paper(old, new, (day - FIRST).days, days, j),
                "delivery_id": sent,
            }
            for sent, who, day in written
            for j in range(PER_DIGEST)
        ]
        for start in range(0, len(rows), 50_000):
            session.execute(insert(SentPaper), rows[start : start + 50_000])
    return lowest


def _paper(old: list[int], new: list[int], day: int, days: int, j: int) -> int:
    """The j-th paper of the digest sent `day` days into the history: the last RECENT digests are of the
    day's candidates (they are still in the catch-up window), the others of older papers."""
    if day >= days - RECENT:
        return new[((day - days + RECENT) * PER_DIGEST + j) % len(new)]
    return old[(day * PER_DIGEST + j) % len(old)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with scratch_context(args.database) as ctx:
        lowest = build(ctx, args.subscribers, args.days)
        ids = range(1, args.subscribers + 1)
        with ctx.sessions() as session:
            total = session.scalar(select(func.count()).select_from(SentPaper))
        print(f"{args.subscribers:,} subscribers x {args.days} sent digests: {total:,} sent_papers rows")
        for label, start in (
            ("every sent paper (until the sixth session)", 0),
            ("from the lowest candidate", lowest),
        ):
            cpu, wall = time.process_time(), time.perf_counter()
            with ctx.sessions() as session:
                found = sum(map(len, sent_paper_ids(session, ids, start).values()))
            print(f"{label:<45} {found:>10,} rows  {time.perf_counter() - wall:6.3f} s wall  "
                  f"{time.process_time() - cpu:6.3f} s CPU")  # fmt: skip
        prune_oldest_day(ctx, args.days)


def prune_oldest_day(ctx: Context, days: int) -> None:
    """The scheduler's daily `prune_ledger` once the history is `days` long: the oldest day's deliveries
    (one a subscriber) go, with their sent papers. Until the seventh session each deleted delivery made
    the database scan all of sent_papers for its rows (no index led with delivery_id)."""
    with transaction(ctx.sessions) as session:
        before = session.scalar(select(func.count()).select_from(SentPaper)) or 0
        wall = time.perf_counter()
        pruned = prune_ledger(session, FIRST + timedelta(days=days), days - 1)  # the first day only
        seconds = time.perf_counter() - wall
        after = session.scalar(select(func.count()).select_from(SentPaper)) or 0
    print(f"{'prune the oldest day':<45} {pruned:>10,} deliveries, {before - after:,} sent_papers rows  "
          f"{seconds:6.3f} s wall")  # fmt: skip


if __name__ == "__main__":
    main()
