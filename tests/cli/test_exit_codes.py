"""A run that did not do its work exits 1, with one line saying what is left and when it is tried again."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import HF, config, digest  # noqa: F401 - config: the fixture, used by name

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _smtp_down(database_url: str, tmp_path: Path) -> Path:
    """Settings whose relay refuses every connection (a closed loopback port); the brake after 2 errors."""
    path = tmp_path / "down.toml"
    path.write_text(
        f'sources = []\n[database]\nurl = "{database_url}"\n'
        '[mail]\ntransport = "smtp"\nfrom_address = "digest@papers.example.org"\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 9\nsecurity = "plain"\ntimeout = 5.0\n'
        "[delivery]\nmax_consecutive_errors = 2\nconcurrency = 1\nprepare_processes = 0\n"
    )
    digest(tmp_path, "db", "upgrade", config=path)
    digest(tmp_path, "ingest", "--file", str(HF), "--kind", "hf_daily", config=path)
    for n in range(4):
        digest(tmp_path, "subscribe", f"r{n}@example.org", "--interests", "language models", "--confirmed",
               config=path)  # fmt: skip
    return path


def test_send_exits_1_when_the_error_brake_pauses_it_saying_what_is_left(
    database_url: str, tmp_path: Path
) -> None:
    down = _smtp_down(database_url, tmp_path)
    result = digest(tmp_path, "send", "--date", "2026-11-28", config=down, check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()
    assert len(last) == 1, result.stderr
    assert "sending paused after" in last[0] and "0 pending, 4 retry" in last[0]
    assert "next try: the pending at the next `digest send`" in last[0] and "retries from 20" in last[0]


def test_run_exits_1_when_every_source_failed(config: Path, tmp_path: Path) -> None:  # noqa: F811
    # The config fixture's one source is a closed loopback port; `digest ingest` already exits 1 for it.
    result = digest(tmp_path, "run", config=config, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["digest: no source could be ingested; nothing new to send"]
