"""The web front under concurrent writes, on a real uvicorn on loopback, on SQLite and PostgreSQL.

On SQLite every second concurrent write used to answer 500 "database is locked", and two clicks on a
manage page's Save collided on PostgreSQL (UniqueViolation) and SQLite alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import NOW, make_settings
from live_server import LiveServer
from web_helpers import csrf_of

from digest.context import Context
from digest.rank import parse_interests
from digest.store.db import transaction, upgrade
from digest.store.subscribers import add_subscriber, interests_text, subscriber_by_id
from digest.tokens import Purpose
from digest.web import WebLimits, create_app

BENCH = Path(__file__).parent.parent.parent / "bench" / "web_load.py"
OPEN = WebLimits(subscribe_per_ip_per_hour=10**6, subscribe_per_address_per_hour=10**6)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Context, Path]]:
    """(URL, context, settings file) of the app on loopback; its links and cookies name that URL."""
    with LiveServer() as server:
        settings = make_settings(database_url, tmp_path, web={"base_url": server.url})
        config = tmp_path / "config.toml"
        key = settings.web.secret_key
        config.write_text(f'sources = []\n[database]\nurl = "{database_url}"\n[web]\nsecret_key = "{key}"\n')
        ctx = Context.open(settings)
        upgrade(ctx.engine)
        server.serve(create_app(ctx, limits=OPEN))
        yield server.url, ctx, config
        ctx.close()


def test_a_mixed_load_gets_no_5xx_and_no_dropped_connection(served: tuple[str, Context, Path]) -> None:
    url, _, config = served
    done = subprocess.run(
        [sys.executable, str(BENCH), url, "--requests", "200", "--concurrency", "10", "--config", str(config),
         "--subscribers", "2", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["5xx"] == 0 and result["dropped"] == 0, result
    routes = result["routes"]
    assert routes["POST /subscribe"]["statuses"] == {"303": routes["POST /subscribe"]["requests"]}
    assert routes["POST /manage/{token}"]["statuses"].get("303", 0) > 0, routes


def _subscriber(ctx: Context) -> tuple[int, str]:
    with transaction(ctx.sessions) as session:
        row = add_subscriber(session, "ada@example.org", parse_interests("graphs"),
                             send_hour=7, timezone="UTC", now=NOW, confirmed=True)  # fmt: skip
        return row.id, ctx.tokens.make(Purpose.MANAGE, row.id, row.token_version)


def _save_twice(url: str, token: str, wishes: tuple[str, str]) -> list[int]:
    """Both saves posted at the same moment, each from its own browser (cookie and CSRF token)."""
    clients = [httpx.Client(base_url=url, timeout=30) for _ in wishes]
    forms = [
        {"csrf_token": csrf_of(c.get(f"/manage/{token}").text), "interests": wish, "send_hour": "7",
         "timezone": "UTC", "action": "save"}
        for c, wish in zip(clients, wishes, strict=True)
    ]  # fmt: skip
    start, statuses = threading.Barrier(len(wishes)), [0] * len(wishes)

    def post(index: int) -> None:
        start.wait()
        statuses[index] = clients[index].post(f"/manage/{token}", data=forms[index]).status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(wishes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    return statuses


def test_two_saves_at_once_both_apply_in_turn_and_never_fail(served: tuple[str, Context, Path]) -> None:
    url, ctx, _ = served
    subscriber_id, token = _subscriber(ctx)
    for attempt in range(15):
        wishes = (f"proteins; chemistry; graphs {attempt}", f"speech; vision {attempt}")
        statuses = _save_twice(url, token, wishes)
        assert all(s < 500 for s in statuses), statuses
        assert all(s == 303 for s in statuses) or sorted(s // 100 for s in statuses) == [3, 4], statuses
        with transaction(ctx.sessions) as session:
            saved = subscriber_by_id(session, subscriber_id)
            assert saved is not None
            assert interests_text(saved) in {_topics(wish) for wish in wishes}


def _topics(wish: str) -> str:
    return "\n".join(topic.text for topic in parse_interests(wish).topics)
