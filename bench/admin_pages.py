"""How long each dashboard page takes at the daily cycle's scale.

    python bench/admin_pages.py [--subscribers 100000] [--days 1] [--database URL] [--requests 20] [--json]

Builds a fresh database (a temporary SQLite file, or a new schema in the PostgreSQL given) with the daily
cycle's population (bench/population.py: real papers, N active subscribers) and a ledger: every
subscriber's digest for each of the last `--days` days, mostly sent, with 0.5 % failed, 0.2 % retry and
0.1 % unknown (SMTP replies included); everyone is next due tomorrow and every 50th subscriber is paused.
Then, through the real app in a TestClient (the ASGI stack, middleware and templates; no socket), logs in,
asks each page twice to warm up (the first, cold, is reported), then `--requests` times, and reports the
median (p50) and the slowest. Target: p50 under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daily_cycle import fresh_database
from population import ZONES, add_subscribers, load_papers, settle
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from digest.config import Settings
from digest.context import Context
from digest.store import ledger
from digest.store.db import transaction, upgrade
from digest.store.models import Delivery, DeliveryStatus, Source, Subscriber, SubscriberStatus
from digest.web import create_app
from digest.web.admin.passwords import hash_password

TARGET_MS = 300.0
PASSWORD = "bench passphrase"
ERRORS = {
    DeliveryStatus.FAILED: (200, "550 5.1.1 Recipient address rejected: User unknown"),
    DeliveryStatus.RETRY: (500, "451 4.7.1 Greylisted, please try again later"),
    DeliveryStatus.UNKNOWN: (1000, "the connection closed after DATA was sent"),
}  # status: (every n-th delivery, its SMTP reply)


def settings_for(url: str, workdir: Path) -> Settings:
    return Settings.model_validate({
        "database": {"url": url},
        "mail": {"maildir": str(workdir / "outbox")},
        "web": {"base_url": "https://digest.example.org", "secret_key": "bench-" + "0123456789" * 3},
        "admin": {"password_hash": hash_password(PASSWORD, n=2**10)},  # login cost is not measured
    })  # fmt: skip


def write_ledger(ctx: Context, count: int, days: int, now: datetime) -> None:
    """Each subscriber's digest for each day, through the ledger's own bulk enqueue, then outcomes."""
    today = now.date()
    for back in range(days):
        day = today - timedelta(days=back)
        with transaction(ctx.sessions) as session:
            ledger.enqueue(session, [(i, day) for i in range(1, count + 1)], now)
        with transaction(ctx.sessions) as session:
            session.execute(
                update(Delivery).where(Delivery.digest_date == day)
                .values(status=DeliveryStatus.SENT, attempts=1, sent_at=now)
            )  # fmt: skip
            for status, (every, reply) in ERRORS.items():
                session.execute(
                    update(Delivery)
                    .where(Delivery.digest_date == day, Delivery.subscriber_id % every == 7)
                    .values(status=status, last_error=reply, sent_at=None)
                )  # fmt: skip
    with transaction(ctx.sessions) as session:
        for zone in ZONES:  # today's digests are done: each zone is next due at the same hour tomorrow
            local = now.astimezone(ZoneInfo(zone)).replace(minute=0, second=0, microsecond=0)
            tomorrow = (local + timedelta(days=1)).astimezone(UTC)
            session.execute(
                update(Subscriber).where(Subscriber.timezone == zone).values(next_send_at=tomorrow)
            )
        session.execute(
            update(Subscriber)
            .where(Subscriber.id % 50 == 0)
            .values(status=SubscriberStatus.PAUSED, next_send_at=None)
        )
        session.add(Source(name="arxiv", kind="arxiv_rss", url="https://rss.arxiv.org/rss/cs.CL",
                           last_fetch_at=now, last_outcome="ok", last_new=1504,
                           next_fetch_at=now + timedelta(hours=24)))  # fmt: skip


def pages(today: date) -> dict[str, str]:
    return {
        "overview": "/admin",
        "deliveries": f"/admin/deliveries?day={today.isoformat()}",
        "subscribers": "/admin/subscribers",
        "subscribers, search": "/admin/subscribers?q=reader9999",
        "subscribers, paused, page 10": "/admin/subscribers?status=paused&page=10",
        "sources": "/admin/sources",
    }


def time_pages(ctx: Context, now: datetime, requests: int) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    with TestClient(create_app(ctx, clock=lambda: now), base_url="https://digest.example.org") as client:
        form = client.get("/admin/login").text
        token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        login = client.post(  # not followed: the overview's first visit is measured below, cold
            "/admin/login", data={"csrf_token": token, "password": PASSWORD}, follow_redirects=False
        )
        assert login.status_code == 303, login.status_code
        for name, path in pages(now.date()).items():
            start = time.perf_counter()
            assert client.get(path).status_code == 200, path
            first = (time.perf_counter() - start) * 1000  # cold: nothing remembered yet
            assert client.get(path).status_code == 200, path
            times = []
            for _ in range(requests):
                start = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                assert answer.status_code == 200, path
            figures[name] = {"first_ms": round(first, 1), "p50_ms": round(statistics.median(times), 1),
                             "max_ms": round(max(times), 1), "bytes": len(answer.content)}  # fmt: skip
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="digest-bench-admin-"))
    url, cleanup = fresh_database(args.database, workdir)
    ctx = Context.open(settings_for(url, workdir))
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        upgrade(ctx.engine)
        started = time.perf_counter()
        add_subscribers(ctx, args.subscribers, load_papers(ctx, None, now), now)
        write_ledger(ctx, args.subscribers, args.days, now)
        settle(ctx)
        with ctx.sessions() as session:
            rows = session.scalar(select(func.count()).select_from(Delivery)) or 0
        build = time.perf_counter() - started
        figures = time_pages(ctx, now, args.requests)
    finally:
        ctx.close()
        cleanup()
        shutil.rmtree(workdir, ignore_errors=True)  # a 100,000-subscriber SQLite file is ~50 MB
    backend = "postgresql" if args.database else "sqlite"
    return {"backend": backend, "subscribers": args.subscribers, "deliveries": rows, "days": args.days,
            "build_s": round(build, 1), "requests": args.requests, "pages": figures}  # fmt: skip


def check(result: dict[str, Any]) -> list[str]:
    return [
        f"{name}: p50 {page['p50_ms']} ms is over {TARGET_MS:.0f} ms"
        for name, page in result["pages"].items()
        if page["p50_ms"] > TARGET_MS
    ]


def show(result: dict[str, Any]) -> None:
    print(f"{result['backend']}: {result['subscribers']:,} subscribers, {result['deliveries']:,} deliveries "
          f"over {result['days']} day(s) (built in {result['build_s']} s); "
          f"{result['requests']} requests a page")  # fmt: skip
    for name, page in result["pages"].items():
        print(f"  {name:<30} first {page['first_ms']:7.1f} ms   p50 {page['p50_ms']:7.1f} ms   "
              f"max {page['max_ms']:7.1f} ms   {page['bytes']:,} B")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=1, help="ledger days, each one digest per subscriber")
    parser.add_argument("--database", default=None, help="a PostgreSQL URL; default: a temporary SQLite file")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    problems = check(result)
    result["ok"] = not problems
    print(json.dumps(result)) if args.json else show(result)
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
