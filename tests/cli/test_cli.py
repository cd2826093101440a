"""The command line as DESIGN.md promises it.

Most commands run in-process through click's runner (a subprocess costs a second of imports each); the
demo and the exit statuses also run as a user would, `python -m digest ...` in a subprocess.
"""

from __future__ import annotations

import email
import json
import mailbox
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES
from loopback_http import LoopbackServer, Reply

from digest.cli.main import main
from digest.rank import parse_interests

HF = FIXTURES / "hf-daily-papers_2026-06_30papers.json"
RSS = FIXTURES / "arxiv-rss_all-archives_2024-11-28.xml"


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def digest(
    cwd: Path, *args: str, config: Path | None = None, check: bool = True, subprocess_: bool = False
) -> Ran:
    extra = ["--config", str(config)] if config else []
    if subprocess_:
        done = subprocess.run(
            [sys.executable, "-m", "digest", *args, *extra],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        result = Ran(done.returncode, done.stdout, done.stderr)
    else:
        previous = Path.cwd()
        os.chdir(cwd)
        try:
            outcome = CliRunner().invoke(main, [*args, *extra], catch_exceptions=False)
        finally:
            os.chdir(previous)
        result = Ran(outcome.exit_code, outcome.stdout, outcome.stderr)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n[mail]\nmaildir = "{tmp_path / "outbox"}"\n'
        '[ranking]\nmethod = "lexical"\n'  # as conftest.make_settings: no embedding of every fixture
        '[[sources]]\nname = "nowhere"\nkind = "feed"\nurl = "http://127.0.0.1:9/feed"\n'
    )
    digest(tmp_path, "db", "upgrade", config=path)
    return path


def _words(query: str) -> set[str]:
    return {word for topic in parse_interests(query).topics for word in (*topic.words, *topic.phrases)}


def _check_demo_output(cwd: Path, stdout: str) -> None:
    from digest.cli.demo import DEMO_SUBSCRIBERS

    for address, query in DEMO_SUBSCRIBERS.items():
        section = stdout.split(f"{address} (")[1].split("HTML preview:", maxsplit=1)[0]
        titles = re.findall(r"^\s+\d+\. (.+)$", section, flags=re.MULTILINE)
        words = {w.lower() for w in _words(query)}
        matching = [t for t in titles if any(w.split()[0][:5] in t.lower() for w in words)]
        assert len(titles) >= 3 and len(matching) >= 3, section
    messages = [email.message_from_bytes(bytes(m)) for m in mailbox.Maildir(cwd / "outbox").values()]
    assert len(list((cwd / "outbox" / "new").iterdir())) == 2
    for message in messages:
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.get_payload()] == ["text/plain", "text/html"]  # type: ignore[union-attr]
        assert all(message[h] for h in ("Subject", "From", "To", "Date", "Message-ID"))


def test_demo_offline_falls_back_to_the_bundled_snapshot(tmp_path: Path) -> None:
    # The default sources point at the internet; tests never go there: a closed loopback port stands in.
    (tmp_path / "config.toml").write_text(
        '[[sources]]\nname = "down"\nkind = "hf_daily"\nurl = "http://127.0.0.1:9/"\n'
    )
    result = digest(tmp_path, "demo", subprocess_=True)
    assert "using the bundled snapshot" in result.stdout
    assert (tmp_path / "digest.db").exists()
    _check_demo_output(tmp_path, result.stdout)
    preview = re.search(r"HTML preview: (\S+)", result.stdout)
    assert preview and Path(preview.group(1)).read_text().startswith("<!DOCTYPE html>")


def test_demo_uses_live_sources_when_they_answer(tmp_path: Path) -> None:
    with LoopbackServer() as server:
        server.routes["/hf"] = Reply(body=HF.read_bytes(), headers={"Content-Type": "application/json"})
        server.routes["/rss"] = Reply(body=RSS.read_bytes(), headers={"Content-Type": "application/rss+xml"})
        (tmp_path / "config.toml").write_text(
            f'[[sources]]\nname = "hf"\nkind = "hf_daily"\nurl = "{server.url("/hf")}"\n'
            f'[[sources]]\nname = "arxiv"\nkind = "arxiv_rss"\nurl = "{server.url("/rss")}"\n'
        )
        result = digest(tmp_path, "demo")
    assert "sources: live" in result.stdout
    _check_demo_output(tmp_path, result.stdout)


def test_the_subscriber_commands_round_trip(config: Path, tmp_path: Path) -> None:
    digest(tmp_path, "subscribe", "Ada@Example.org", "--interests", "diffusion; cat:cs.CV", "--confirmed",
           "--send-hour", "8", "--timezone", "Europe/Paris", config=config)  # fmt: skip
    assert digest(tmp_path, "interests", "ada@example.org", config=config).stdout.splitlines() == [
        "diffusion",
        "cat:cs.CV",
    ]
    digest(tmp_path, "interests", "ada@example.org", '"speculative decoding"', config=config)
    listed = json.loads(digest(tmp_path, "subscribers", "--json", config=config).stdout)["subscribers"]
    assert [(s["email"], s["status"], s["send_hour"], s["timezone"]) for s in listed] == [
        ("ada@example.org", "active", 8, "Europe/Paris")
    ]
    assert listed[0]["interests"] == '"speculative decoding"'
    digest(tmp_path, "unsubscribe", "ada@example.org", config=config)
    listed = json.loads(digest(tmp_path, "subscribers", "--json", config=config).stdout)["subscribers"]
    assert listed[0]["status"] == "unsubscribed"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["subscribe", "not-an-address", "--interests", "x"], 1, "is not a valid email address"),
        (["subscribe", "a@example.org", "--interests", "cat:cs.XX"], 1, "not an arXiv category"),
        (
            ["subscribe", "a@example.org", "--interests", "x", "--timezone", "Nowhere/City"],
            2,
            "unknown time zone",
        ),
        (["interests", "nobody@example.org"], 1, "no subscriber nobody@example.org"),
        (["ingest", "--file", str(RSS)], 2, "--file and --kind go together"),
        (["ingest", "--source", "missing"], 1, "no source named missing"),
        (["send", "--now", "yesterday"], 2, "is not an ISO 8601 moment"),
    ],
)
def test_bad_input_gets_one_clear_line_and_the_documented_status(
    config: Path, tmp_path: Path, args: list[str], status: int, message: str
) -> None:
    result = digest(tmp_path, *args, config=config, check=False, subprocess_=status == 2)
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_ingest_preview_send_and_status_speak_json(config: Path, tmp_path: Path) -> None:
    ingested = json.loads(
        digest(tmp_path, "ingest", "--file", str(HF), "--kind", "hf_daily", "--json", config=config).stdout
    )
    assert ingested["sources"][0]["new"] == 30 and ingested["sources"][0]["error"] is None
    again = json.loads(
        digest(tmp_path, "ingest", "--file", str(HF), "--kind", "hf_daily", "--json", config=config).stdout
    )
    assert again["sources"][0]["new"] == 0
    digest(
        tmp_path,
        "subscribe",
        "ada@example.org",
        "--interests",
        "language models",
        "--confirmed",
        config=config,
    )
    shown = json.loads(digest(tmp_path, "preview", "ada@example.org", "--json", config=config).stdout)
    assert shown["papers"] and all(p["explanation"] and "score" in p for p in shown["papers"])
    first = json.loads(digest(tmp_path, "send", "--date", "2026-11-28", "--json", config=config).stdout)
    second = json.loads(digest(tmp_path, "send", "--date", "2026-11-28", "--json", config=config).stdout)
    assert first["counts"] == {"sent": 1} and second["counts"] == {}
    status = json.loads(digest(tmp_path, "status", "--json", config=config).stdout)
    assert status["papers"] == 30 and status["deliveries"] == {"sent": 1}
    assert [run["kind"] for run in status["runs"]][:3] == ["send", "send", "ingest"]


def test_a_preview_says_which_papers_it_picked(config: Path, tmp_path: Path) -> None:
    digest(tmp_path, "ingest", "--file", str(HF), "--kind", "hf_daily", config=config)
    digest(
        tmp_path,
        "subscribe",
        "ada@example.org",
        "--interests",
        "language models",
        "--confirmed",
        config=config,
    )
    shown = json.loads(digest(tmp_path, "preview", "ada@example.org", "--json", config=config).stdout)
    recorded = {item["paper"]["id"]: item for item in json.loads(HF.read_text())}
    assert shown["papers"]
    for pick in shown["papers"]:
        assert pick["arxiv_id"] in recorded, pick
        paper = recorded[pick["arxiv_id"]]["paper"]
        assert pick["title"] == " ".join(paper["title"].split())
        assert pick["url"] == f"https://arxiv.org/abs/{pick['arxiv_id']}"
        assert pick["authors"] == [a["name"] for a in paper["authors"]]
    text = digest(tmp_path, "preview", "ada@example.org", config=config).stdout
    assert shown["papers"][0]["title"] in text
    assert "paper " + str(shown["papers"][0]["paper_id"]) + ":" not in text


def test_a_failing_source_is_recorded_and_shown(config: Path, tmp_path: Path) -> None:
    result = digest(tmp_path, "ingest", "--json", config=config, check=False)
    assert result.returncode == 1
    report = json.loads(result.stdout)["sources"][0]
    assert report["name"] == "nowhere" and "127.0.0.1:9" in report["error"]
    shown = json.loads(digest(tmp_path, "sources", "--json", config=config).stdout)["sources"][0]
    assert shown["outcome"] == "error" and shown["error"] == report["error"]


def test_subscribe_without_confirmed_mails_a_confirmation_and_waits(config: Path, tmp_path: Path) -> None:
    result = digest(tmp_path, "subscribe", "new@example.org", "--interests", "diffusion", config=config)
    assert "pending" in result.stdout
    [message] = [email.message_from_bytes(bytes(m)) for m in mailbox.Maildir(tmp_path / "outbox").values()]
    assert message["To"] == "new@example.org"
    body = message.get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index,union-attr]
    assert "/confirm/" in body
    listed = json.loads(digest(tmp_path, "subscribers", "--json", config=config).stdout)["subscribers"]
    assert listed[0]["status"] == "pending"


# Every recorded response, through the command line: (file, kind, papers, skipped, error fragment).
EVERY_FIXTURE = [
    ("arxiv-api_all-transformer-AND-cs.LG_max5_2026-06-14.xml", "arxiv_api", 5, 0, None),
    ("arxiv-api_cat-cs.LG-OR-cs.AI_max20_2026-04-30.xml", "arxiv_api", 20, 0, None),
    ("arxiv-api_legacy-2016_search_au-del_maestro.xml", "arxiv_api", 10, 0, None),
    ("arxiv-api_recorded_id-0000.0000_zero-results.json", "arxiv_api", 0, 0, None),
    ("arxiv-api_recorded_id-abc_HTTP400-error-entry.json", "arxiv_api", 0, 0, "incorrect id format for abc"),
    ("arxiv-api_recorded_q-testing_start0_max100_2026-04.json", "arxiv_api", 100, 0, None),
    ("arxiv-rss_all-archives_2024-11-28.xml", "arxiv_rss", 935, 569, None),
    ("arxiv-rss_empty-channel_test-archive_2024-11-28.xml", "arxiv_rss", 0, 0, None),
    ("arxiv-rss_error_bad-archive-astroph_2024-11-28.xml", "arxiv_rss", 0, 0, "Bad archive 'astroph'"),
    ("hf-daily-papers_2026-06_30papers.json", "hf_daily", 30, 0, None),
    ("hf-daily-papers_2026-07-31_5papers_pretty.json", "hf_daily", 5, 0, None),
    ("hf-papers-rss_takara-tldr_2026-04-30.xml", "feed", 50, 0, None),
    ("medrxiv-api_details_2026-09-15_trimmed.json", "feed", 3, 0, None),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_recorded_response_ingests_through_the_command_line(config: Path, tmp_path: Path) -> None:
    assert sorted(name for name, *_ in EVERY_FIXTURE) == sorted(
        p.name for p in FIXTURES.iterdir() if p.suffix in {".xml", ".json"}
    )
    for name, kind, new, skipped, error in EVERY_FIXTURE:
        args = ("ingest", "--file", str(FIXTURES / name), "--kind", kind, "--json")
        result = digest(tmp_path, *args, config=config, check=False)
        [report] = json.loads(result.stdout)["sources"]
        if error:
            assert result.returncode == 1 and error in report["error"], name
            continue
        assert result.returncode == 0, result.stderr
        # new or updated: a later file may bring papers an earlier one already stored (one row each)
        assert (report["new"] + report["updated"], report["error"]) == (new, None), name
        assert report["skipped"] == skipped, name
        again = json.loads(digest(tmp_path, *args, config=config).stdout)["sources"][0]
        assert again["new"] == 0, name  # the same response twice: one row per paper


def test_subscribe_and_interests_set_the_cadence_and_the_digest_size(config: Path, tmp_path: Path) -> None:
    added = digest(tmp_path, "subscribe", "ada@example.org", "--interests", "agents", "--confirmed",
                   "--cadence", "Weekly:FRI", "--papers", "5", config=config)  # fmt: skip
    assert (
        added.stdout.strip()
        == "subscribed ada@example.org: active; digest at 07:00 UTC, weekly on Fridays, 5 papers"
    )
    changed = digest(
        tmp_path, "interests", "ada@example.org", "--cadence", "weekdays", "--papers", "0", config=config
    )
    assert changed.stdout.splitlines() == ["digest: on weekdays, 10 papers (the setting)", "agents"]
    assert digest(tmp_path, "interests", "ada@example.org", config=config).stdout.splitlines() == ["agents"]
    for option, value in (("--cadence", "weekly"), ("--papers", "51")):
        refused = digest(tmp_path, "subscribe", "b@example.org", option, value, config=config, check=False)
        assert refused.returncode == 2, refused.stderr
    assert "unknown cadence" in digest(tmp_path, "interests", "ada@example.org", "--cadence", "hourly",
                                       config=config, check=False).stderr  # fmt: skip
