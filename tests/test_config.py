from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from digest.config import Settings, load_settings
from digest.errors import ConfigError

ROOT = Path(__file__).parent.parent


def _defaults(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def test_the_example_file_lists_every_setting_with_its_default() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    defaults = _defaults(Settings())
    assert set(example) == set(defaults), "config.example.toml and Settings name different sections"
    for section, values in defaults.items():
        if isinstance(values, dict):
            assert example[section] == {k: v for k, v in values.items() if v is not None}, section
    assert example["sources"] == [{k: v for k, v in s.items() if v is not None} for s in defaults["sources"]]


def test_every_optional_setting_is_documented_as_a_comment() -> None:
    text = (ROOT / "config.example.toml").read_text()
    for section, values in _defaults(Settings()).items():
        if isinstance(values, dict):
            for key, value in values.items():
                if value is None:
                    assert f"# {key} = " in text, f"{section}.{key} is not documented"


def test_defaults_need_no_file(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    assert settings.database.url == "sqlite:///digest.db"
    assert settings.mail.transport == "maildir"
    assert settings.mail.maildir == "outbox"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[smtp]\nhost = "relay.example.org"\nport = 465\n')
    settings = load_settings(path, environ={"DIGEST_SMTP__PORT": "2525", "DIGEST_MAIL__TRANSPORT": "smtp"})
    assert settings.smtp.host == "relay.example.org"
    assert settings.smtp.port == 2525
    assert settings.mail.transport == "smtp"


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    settings = load_settings(None, environ={"DIGEST_SMTP__PASSWORD_FILE": str(secret)})
    assert settings.smtp.password == "s3cret"


@pytest.mark.parametrize(
    ("content", "environ", "message"),
    [
        ('[smtp]\nport = "many"\n', {}, "bad setting smtp.port"),
        ("[smtp]\nport = 70000\n", {}, "bad setting smtp.port"),
        ('[digest]\ndefault_timezone = "Mars/Olympus"\n', {}, "unknown time zone 'Mars/Olympus'"),
        ('[mail]\ntransport = "pigeon"\n', {}, "bad setting mail.transport"),
        ("[mail]\nfrom_adress = 'x@y.z'\n", {}, "bad setting mail.from_adress"),
        ("", {"DIGEST_DATABASE__URL": "mysql://x"}, "must be a sqlite:/// or postgresql:// URL"),
        ("[smtp\n", {}, "is not valid TOML"),
        ('[[sources]]\nname = "j"\nkind = "feed"\n', {}, "source 'j' of kind feed needs a url"),
        ('[[sources]]\nname = "j"\nkind = "feed"\nurl = "file:///etc/passwd"\n', {}, "only http and https"),
        (
            '[[sources]]\nname = "a"\nkind = "arxiv_rss"\nannounce_types = ["old"]\n',
            {},
            "unknown announce type",
        ),
    ],
)
def test_a_bad_value_is_refused_with_one_line_naming_the_key(
    tmp_path: Path, content: str, environ: dict[str, str], message: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_command_line_exits_2_on_bad_configuration(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[smtp]\nport = 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "digest", "status", "--config", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("digest: configuration error: bad setting smtp.port")
    assert len(result.stderr.strip().splitlines()) == 1


# Every value the issue forged links with or recovered in a few guesses, and the published placeholders.
WEAK_KEYS = [
    "",
    "a",
    "secret",
    "change-me",
    "CHANGE-ME",
    "change-me ",
    " Change-Me\t",
    "please-set-DIGEST_SECRET_KEY",
]
WEAK_KEYS += ["x" * 31, "é" * 15]  # 31 and 30 bytes


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_a_weak_or_published_secret_key_is_refused_with_one_line(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"DIGEST_WEB__SECRET_KEY": key})
    assert str(caught.value).startswith("bad setting web.secret_key: ")
    assert "\n" not in str(caught.value)


def test_a_long_random_secret_key_is_kept_and_none_is_the_default(tmp_path: Path) -> None:
    assert load_settings(None, environ={}).web.secret_key is None
    key = tmp_path / "key"
    key.write_text("k" * 32 + "\n")
    assert load_settings(None, environ={"DIGEST_WEB__SECRET_KEY_FILE": str(key)}).web.secret_key == "k" * 32


@pytest.mark.parametrize("command", [["status"], ["send", "--dry-run"], ["preview", "a@b.org"], ["demo"]])
def test_every_command_exits_2_on_a_placeholder_secret_key(tmp_path: Path, command: list[str]) -> None:
    environ = {**os.environ, "DIGEST_WEB__SECRET_KEY": "change-me"}
    result = subprocess.run(
        [sys.executable, "-m", "digest", *command], cwd=tmp_path, capture_output=True, text=True, env=environ
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "digest: configuration error: bad setting web.secret_key: is a placeholder"
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "digest.db").exists()  # refused before anything was opened
