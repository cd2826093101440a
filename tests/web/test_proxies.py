"""Forwarded headers through `serve`'s real uvicorn on loopback: believed only from a named proxy.

uvicorn's own default trusts X-Forwarded-For from any loopback client, which let a client on the host
(or behind a proxy that passes the header on) pick a fresh address per request and pass the per-IP limit.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from conftest import make_settings

from digest.config import SchedulerSettings
from digest.context import Context
from digest.service import processes as service
from digest.store.db import upgrade

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LIMIT = 5  # subscribe_per_ip_per_hour
QUIET = SchedulerSettings.model_construct(tick_seconds=3600.0, wait_for_papers_minutes=0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _statuses_with_rotating_forwarded_for(database_url: str, tmp_path: Path, proxies: list[str]) -> list[int]:
    """Serve the real app and ask for manage links 2 x LIMIT times, each naming a new client address."""
    web = {"subscribe_per_ip_per_hour": LIMIT, "trusted_proxies": proxies}
    ctx = Context.open(make_settings(database_url, tmp_path, web=web, scheduler={}))
    upgrade(ctx.engine)
    port = _free_port()

    async def scenario() -> list[int]:
        stop = asyncio.Event()
        running = asyncio.create_task(
            service.serve(ctx, "127.0.0.1", port, stop=stop, options=QUIET, handle_signals=False)
        )
        statuses: list[int] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):  # until uvicorn listens
                try:
                    await client.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            for n in range(2 * LIMIT):
                body = {"email": f"reader{n}@example.org"}
                answer = await client.post(
                    "/api/manage-link", json=body, headers={"X-Forwarded-For": f"203.0.113.{n + 1}"}
                )
                statuses.append(answer.status_code)
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        return statuses

    try:
        return asyncio.run(scenario())
    finally:
        ctx.close()


def test_a_forwarded_for_header_is_ignored_unless_a_trusted_proxy_sends_it(
    database_url: str, tmp_path: Path
) -> None:
    statuses = _statuses_with_rotating_forwarded_for(database_url, tmp_path, proxies=[])
    assert statuses == [202] * LIMIT + [429] * LIMIT


def test_a_named_proxy_tells_its_clients_apart(database_url: str, tmp_path: Path) -> None:
    statuses = _statuses_with_rotating_forwarded_for(database_url, tmp_path, proxies=["127.0.0.1"])
    assert statuses == [202] * (2 * LIMIT)
