"""Load on a running web front: a mix of GET /, POST /subscribe and manage-page saves, over C connections.

    python bench/web_load.py http://127.0.0.1:8000 --requests 2000 --concurrency 20 --config c.toml [--json]

Loopback only (127.0.0.0/8, localhost, ::1): it writes subscribers and would be a flood anywhere else.
With --config (the server's settings: same database, same secret key, generated or not) it first adds
--subscribers confirmed subscribers and signs their manage links; without it there are no manage saves.
Every request kind is dealt round-robin: half GET /, the rest POST /subscribe (a new address each) and, for
manage saves, GET /manage/<token> (for the form's CSRF token) then POST with new interests. Several
workers save the same few subscribers at once, as two clicks on "Save" do. Redirects are not followed
(303 is the answer). Prints p50/p99 per route, the status counts, the answers that were not 2xx/3xx and
the connections dropped (refused, reset, closed mid-answer or timed out). The server's rate limits apply:
raise [web] subscribe_per_ip_per_hour for a load run, or the subscribes come back 429.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 200


@dataclass
class Tally:
    times: dict[str, list[float]] = field(default_factory=dict)  # route -> seconds
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def add(self, route: str, seconds: float, status: int | None) -> None:
        if status is None:
            self.dropped[route] = self.dropped.get(route, 0) + 1
            return
        self.times.setdefault(route, []).append(seconds)
        counts = self.statuses.setdefault(route, {})
        counts[status] = counts.get(status, 0) + 1

    def report(self, wall: float) -> dict[str, object]:
        routes = {}
        for route in sorted(set(self.times) | set(self.dropped)):
            times = sorted(self.times.get(route, [])) or [0.0]
            routes[route] = {
                "requests": len(self.times.get(route, [])) + self.dropped.get(route, 0),
                "p50_ms": round(1000 * statistics.median(times), 1),
                "p99_ms": round(1000 * times[min(len(times) - 1, int(0.99 * len(times)))], 1),
                "statuses": {str(k): v for k, v in sorted(self.statuses.get(route, {}).items())},
                "dropped": self.dropped.get(route, 0),
            }
        bad = sum(n for c in self.statuses.values() for s, n in c.items() if not 200 <= s < 400)
        fivexx = sum(n for c in self.statuses.values() for s, n in c.items() if s >= 500)
        total = sum(r["requests"] for r in routes.values())  # type: ignore[misc]
        return {"requests": total, "wall_s": round(wall, 2), "non_2xx_3xx": bad, "5xx": fivexx,
                "dropped": sum(self.dropped.values()), "routes": routes}  # fmt: skip


def check_loopback(url: str) -> str:
    """The URL without a trailing slash, or SystemExit unless its host is this machine."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise SystemExit(f"web_load: {url!r} is not an http(s) URL")
    if host != "localhost":
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise SystemExit(f"web_load: refusing {host!r}: loopback addresses only") from None
        if not address.is_loopback:
            raise SystemExit(f"web_load: refusing {host!r}: loopback addresses only")
    return url.rstrip("/")


def manage_tokens(config: Path, count: int) -> list[str]:
    """Manage-link tokens of `count` new confirmed subscribers, made as the app makes them."""
    from digest.config import load_settings
    from digest.context import Context
    from digest.rank import parse_interests
    from digest.store.db import transaction
    from digest.store.subscribers import add_subscriber
    from digest.tokens import Purpose

    ctx = Context.open(load_settings(config))
    run, now, tokens = uuid.uuid4().hex[:8], datetime.now(UTC), []
    with transaction(ctx.sessions) as session:
        for index in range(count):
            row = add_subscriber(session, f"load-{run}-{index}@example.org", parse_interests("graphs"),
                                 send_hour=7, timezone="UTC", now=now, confirmed=True)  # fmt: skip
            tokens.append(ctx.tokens.make(Purpose.MANAGE, row.id, row.token_version))
    ctx.close()
    return tokens


def plan(requests: int, tokens: list[str]) -> list[tuple[str, str]]:
    """(kind, argument) for every request: half home pages, the rest subscribes and manage saves."""
    kinds, run = [], uuid.uuid4().hex[:8]
    for index in range(requests):
        if index % 2 == 0:
            kinds.append(("home", ""))
        elif tokens and index % 4 == 3:
            kinds.append(("save", tokens[(index // 4) % len(tokens)]))
        else:
            kinds.append(("subscribe", f"new-{run}-{index}@example.org"))
    return kinds


async def _timed(tally: Tally, route: str, send: object) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response: httpx.Response = await send  # type: ignore[misc]
    except httpx.TransportError:  # refused, reset, closed mid-answer, timed out
        tally.add(route, time.perf_counter() - started, None)
        return None
    tally.add(route, time.perf_counter() - started, response.status_code)
    return response


def _csrf(response: httpx.Response | None) -> str:
    match = CSRF.search(response.text) if response is not None else None
    return match.group(1) if match else ""


async def _one(client: httpx.AsyncClient, tally: Tally, kind: str, arg: str, token: str) -> str:
    """Send one request of the plan; returns the CSRF token to use next (renewed by every page)."""
    if kind == "home":
        return _csrf(await _timed(tally, "GET /", client.get("/"))) or token
    if kind == "subscribe":
        form = {"csrf_token": token, "email": arg, "interests": "graph neural networks; diffusion",
                "send_hour": "7", "timezone": "UTC"}  # fmt: skip
        await _timed(tally, "POST /subscribe", client.post("/subscribe", data=form))
        return token
    page = await _timed(tally, "GET /manage/{token}", client.get(f"/manage/{arg}"))
    form = {"csrf_token": _csrf(page) or token, "interests": f"topic {uuid.uuid4().hex[:6]}; graphs",
            "send_hour": "8", "timezone": "UTC", "action": "save"}  # fmt: skip
    await _timed(tally, "POST /manage/{token}", client.post(f"/manage/{arg}", data=form))
    return token


async def _worker(base: str, queue: asyncio.Queue[tuple[str, str]], tally: Tally) -> None:
    # One client per worker: its own connection and its own CSRF cookie, as one browser.
    async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False) as client:
        token = ""
        while not queue.empty():
            kind, arg = queue.get_nowait()
            if not token and kind != "home":
                token = _csrf(await _timed(tally, "GET /", client.get("/")))
            token = await _one(client, tally, kind, arg, token)


async def load(base: str, requests: int, concurrency: int, tokens: list[str]) -> dict[str, object]:
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in plan(requests, tokens):
        queue.put_nowait(item)
    tally, started = Tally(), time.perf_counter()
    await asyncio.gather(*(_worker(base, queue, tally) for _ in range(concurrency)))
    return tally.report(time.perf_counter() - started)


def _print(result: dict[str, object]) -> None:
    print(f"{result['requests']} requests in {result['wall_s']} s: {result['non_2xx_3xx']} not 2xx/3xx "
          f"({result['5xx']} 5xx), {result['dropped']} dropped connections")  # fmt: skip
    for route, row in result["routes"].items():  # type: ignore[attr-defined]
        print(f"  {route:<22} {row['requests']:>6}  p50 {row['p50_ms']:>7.1f} ms"
              f"  p99 {row['p99_ms']:>7.1f} ms  {row['statuses']}  dropped {row['dropped']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the web front, on this machine, e.g. http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--config", type=Path, default=None, help="the server's settings (for manage saves)")
    parser.add_argument("--subscribers", type=int, default=10, help="subscribers whose pages are saved")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    base = check_loopback(args.url)
    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise SystemExit(f"web_load: --requests 1..{MAX_REQUESTS}, --concurrency 1..{MAX_CONCURRENCY}")
    tokens = manage_tokens(args.config, args.subscribers) if args.config else []
    result = asyncio.run(load(base, args.requests, args.concurrency, tokens))
    if args.json:
        print(json.dumps(result))
    else:
        _print(result)
    sys.exit(0)


if __name__ == "__main__":
    main()
