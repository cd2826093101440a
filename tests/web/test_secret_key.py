"""With no secret key configured, `digest send` and the web app sign and check links with the same key.

The commands run as a user runs them (separate processes); the app is served by a real uvicorn on
loopback over the same database, and the links are followed out of the mail `digest send` wrote.
"""

from __future__ import annotations

import mailbox
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import FIXTURES
from live_server import LiveServer
from web_helpers import csrf_of, link_in, mail_text

from digest.config import load_settings
from digest.context import Context
from digest.web import create_app

HF = FIXTURES / "hf-daily-papers_2026-06_30papers.json"
FEEDBACK = re.compile(r"https?://[^\s\"<>]+/feedback/[A-Za-z0-9_.\-]+\?paper=\d+&vote=more")
GENERATED = "generated a random key and stored it in the database"


def _digest(cwd: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args, "--config", str(config)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def unconfigured(database_url: str, tmp_path: Path) -> Path:
    """A settings file that names the database and the Maildir, and no secret key."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'sources = []\n[database]\nurl = "{database_url}"\n[mail]\nmaildir = "{tmp_path / "outbox"}"\n'
    )
    assert _digest(tmp_path, path, "db", "upgrade").returncode == 0
    return path


@pytest.fixture
def sent_mail(unconfigured: Path, tmp_path: Path) -> bytes:
    """The digest `digest send` mailed, before the app ever ran."""
    said = ""
    for args in (
        ("ingest", "--file", str(HF), "--kind", "hf_daily"),
        ("subscribe", "ada@example.org", "--interests", "language models", "--confirmed"),
        ("send", "--date", "2026-11-28"),
    ):
        done = _digest(tmp_path, unconfigured, *args)
        assert done.returncode == 0, done.stderr
        said += done.stderr
    # Said once, by the first command that opened the database (`db upgrade` does not need a key).
    assert said.count(GENERATED) == 1, said
    [message] = mailbox.Maildir(tmp_path / "outbox").values()
    return bytes(message)


@pytest.fixture
def client(unconfigured: Path, sent_mail: bytes) -> Iterator[httpx.Client]:
    """The app built as `digest serve` builds it, over the same database, on a real loopback server."""
    ctx = Context.open(load_settings(unconfigured, environ={}))
    with LiveServer() as server:
        server.serve(create_app(ctx))
        with httpx.Client(base_url=server.url, timeout=10) as http:
            yield http
    ctx.close()


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_links_sent_by_digest_send_work_on_the_app_when_no_key_is_configured(
    unconfigured: Path, sent_mail: bytes, client: httpx.Client, tmp_path: Path
) -> None:
    mail = sent_mail
    manage = client.get(_path(link_in(mail, "manage")))
    assert manage.status_code == 200 and "ada@example.org" in manage.text
    feedback_url = FEEDBACK.search(mail_text(mail))
    assert feedback_url is not None
    page = client.get(_path(feedback_url.group(0)))
    assert page.status_code == 200
    voted = client.post(_path(feedback_url.group(0)), data={"csrf_token": csrf_of(page.text)})
    assert voted.status_code == 200
    left = client.post(_path(link_in(mail, "unsubscribe")), data={"List-Unsubscribe": "One-Click"})
    assert left.status_code == 200
    listed = _digest(tmp_path, unconfigured, "subscribers", "--json")
    assert '"unsubscribed"' in listed.stdout


def test_a_second_context_reads_the_key_the_first_generated(unconfigured: Path) -> None:
    first = Context.open(load_settings(unconfigured, environ={}))
    second = Context.open(load_settings(unconfigured, environ={}))
    try:
        assert first.secret_key == second.secret_key and len(first.secret_key) >= 43
    finally:
        first.close()
        second.close()
