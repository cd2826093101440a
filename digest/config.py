"""Typed settings: defaults in code, a TOML file, then DIGEST_* environment overrides.

Precedence, lowest first: the defaults below, the TOML file (`--config`, else $DIGEST_CONFIG, else
./config.toml when present), then environment variables named `DIGEST_<SECTION>__<KEY>` (for example
`DIGEST_SMTP__HOST`, `DIGEST_DATABASE__URL`). A key ending in `_file` in the environment
(`DIGEST_SMTP__PASSWORD_FILE`) reads the secret from that file. Any bad value stops the program with
one line naming the key.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from digest.errors import ConfigError

ENV_PREFIX = "DIGEST_"
EXAMPLE_SECRET = "change-me"  # noqa: S105 - an old example value, refused like any placeholder
MIN_SECRET_BYTES = 32  # 256 bits: a shorter key is guessable offline from one token in a mail
# Values published in this repository (its example file and docker-compose's old fallback), compared
# stripped and case-folded: anyone can sign links with them.
PLACEHOLDER_SECRETS = frozenset({EXAMPLE_SECRET, "changeme", "please-set-digest_secret_key", "secret"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///digest.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value


class MailSettings(_Section):
    transport: Literal["maildir", "smtp"] = "maildir"
    maildir: str = "outbox"
    from_address: str = "digest@localhost"
    from_name: str = "Paper Digest"
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None
    list_id: str = "Paper Digest <digest.localhost>"
    postal_address: str = "Paper Digest, 1 Example Street, Example City"

    @field_validator("from_address")
    @classmethod
    def _has_domain(cls, value: str) -> str:
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError("must be an email address such as digest@example.org")
        return value


class SmtpSettings(_Section):
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["plain", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = Field(default=60.0, gt=0)
    validate_certs: bool = True


class SourceSettings(_Section):
    name: str
    kind: Literal["hf_daily", "arxiv_rss", "arxiv_api", "feed"]
    url: str | None = None  # None: the kind's default URL (built from categories / query)
    categories: list[str] = Field(default_factory=list)
    query: str | None = None
    announce_types: list[str] = Field(default_factory=lambda: ["new", "cross"])
    interval_hours: float = Field(default=24.0, gt=0)
    enabled: bool = True

    @model_validator(mode="after")
    def _feed_needs_url(self) -> SourceSettings:
        if self.kind == "feed" and not self.url:
            raise ValueError(f"source {self.name!r} of kind feed needs a url")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"source {self.name!r}: only http and https URLs are fetched")
        unknown = set(self.announce_types) - {"new", "cross", "replace", "replace-cross"}
        if unknown:
            raise ValueError(f"unknown announce type(s) {', '.join(sorted(unknown))}")
        return self


def _default_sources() -> list[SourceSettings]:
    return [
        SourceSettings(name="huggingface", kind="hf_daily"),
        SourceSettings(name="arxiv", kind="arxiv_rss", categories=["cs.CL", "cs.LG", "cs.AI", "cs.CV"]),
    ]


class FetchSettings(_Section):
    contact: str = "digest-operator@localhost"  # goes into the User-Agent, as arXiv and HF ask
    timeout: float = Field(default=30.0, gt=0)
    max_bytes: int = Field(default=20_000_000, gt=0)
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_api_max_results: int = Field(default=200, ge=1, le=2000)  # per arxiv_api source and fetch
    fill_in_limit: int = Field(default=200, ge=0)  # papers named only by arXiv id, completed per run


class DigestSettings(_Section):
    max_papers: int = Field(default=10, ge=1, le=50)
    catchup_days: int = Field(default=3, ge=1, le=30)
    # A weekly digest holds the papers stored since the reader's previous one, looking back at most this far.
    weekly_max_days: int = Field(default=10, ge=7, le=30)
    on_no_match: Literal["trending", "skip"] = "trending"
    default_send_hour: int = Field(default=7, ge=0, le=23)
    default_timezone: str = "UTC"

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)


class RankingSettings(_Section):
    """How papers are ranked; `digest.rank.RankSettings` adds `[digest] max_papers` to it."""

    # On the hybrid ranker's scale: on the demo's day, the best matches of a topic score 0.2-0.33, clearly
    # relevant ones 0.15 and up, and interests that match nothing (medieval basket weaving) top out near 0.11.
    # With 0.3 (the lexical ranker's threshold) most readers got only the trending fallback.
    min_score: float = Field(default=0.15, ge=0, le=1)
    title_weight: float = Field(default=2.0, ge=0)
    keywords_weight: float = Field(default=1.0, ge=0)
    upvotes_weight: float = Field(default=1.0, ge=0)
    comments_weight: float = Field(default=0.25, ge=0)
    stars_weight: float = Field(default=0.5, ge=0)
    freshness_weight: float = Field(default=1.0, ge=0)
    freshness_half_life_days: float = Field(default=2.0, gt=0)
    trending_boost: float = Field(default=0.5, ge=0)
    category_boost: float = Field(default=1.5, ge=1)
    category_score: float = Field(default=0.5, ge=0, le=1)
    feedback_weight: float = Field(default=0.5, ge=0, lt=1)
    other_topics_weight: float = Field(default=0.3, ge=0, le=1)
    # "hybrid" (words and sentence embeddings, digest/rank/hybrid.py) needs the `semantic` extra; without
    # it ranking falls back to "lexical" (digest.embedding.model.effective_method).
    method: Literal["lexical", "hybrid"] = "hybrid"
    semantic_weight: float = Field(default=0.6, ge=0, le=1)
    semantic_floor: float = Field(default=0.2, ge=0, lt=1)
    interests_weight: float = Field(default=0.9, ge=0, le=1)
    # A topic's best papers are guaranteed a place in the digest only when their relevance to that topic
    # reaches this (and min_score): a good match, not merely the least bad one.
    topic_quota_score: float = Field(default=0.4, ge=0, le=1)


class DeliverySettings(_Section):
    concurrency: int = Field(default=4, ge=1, le=100)
    rate_per_second: float = Field(default=0.0, ge=0)  # 0 = unpaced
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_backoff_minutes: float = Field(default=10.0, gt=0)
    bounce_limit: int = Field(default=1, ge=1)
    max_consecutive_errors: int = Field(default=50, ge=0)  # 0 = never pause
    lease_seconds: float = Field(default=300.0, ge=5)  # keep above window/concurrency x smtp.timeout
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    # Helper processes that build the next batches while one is sent (runs of more than one batch);
    # 0 builds them in the sending process, between batches.
    prepare_processes: int = Field(default=1, ge=0, le=16)

    @property
    def window(self) -> int:
        """Messages marked `sending` per ledger transaction. Two windows overlap (worker.send_jobs), so a
        crash can leave at most `in_flight` rows `unknown`."""
        return max(8, 4 * self.concurrency)

    @property
    def in_flight(self) -> int:
        return 2 * self.window

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


class SchedulerSettings(_Section):
    tick_seconds: float = Field(default=60.0, ge=1, le=3600)
    fetch_lead_hours: float = Field(default=1.0, ge=0, le=12)
    wait_for_papers_minutes: float = Field(default=30.0, ge=0, le=240)
    retention_days: int = Field(default=180, ge=31)  # > catchup_days, weekly_max_days (30): drops sent_papers
    pending_expiry_days: float = Field(default=3.0, gt=0)
    max_missed_digests: int = Field(default=3, ge=1, le=30)
    misfire_grace_hours: float = Field(default=6.0, ge=1)


class WebSettings(_Section):
    base_url: str = "http://localhost:8000"
    # None: the first command that needs one generates a key and keeps it in the database (store/secrets).
    secret_key: str | None = None
    subscribe_per_ip_per_hour: int = Field(default=10, ge=1)
    subscribe_per_address_per_hour: int = Field(default=3, ge=1)
    preview_per_ip_per_minute: int = Field(default=30, ge=1)
    max_body_bytes: int = Field(default=65536, ge=8192, le=10_000_000)
    # Proxies (addresses or networks) whose X-Forwarded-For / -Proto are believed; none by default, so a
    # client cannot pick its own address (and dodge the per-IP limits) by sending the header itself.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network such as 10.0.0.0/8") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: str | None) -> str | None:
        return None if value is None else check_secret_key(value)


class AdminSettings(_Section):
    """The operator's dashboard at /admin: off (404) until `digest admin set-password` gives a hash."""

    password_hash: str | None = None
    session_hours: float = Field(default=12.0, gt=0, le=720)
    login_per_ip_per_minute: int = Field(default=5, ge=1, le=100)


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    mail: MailSettings = MailSettings()
    smtp: SmtpSettings = SmtpSettings()
    delivery: DeliverySettings = DeliverySettings()
    fetch: FetchSettings = FetchSettings()
    digest: DigestSettings = DigestSettings()
    ranking: RankingSettings = RankingSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    web: WebSettings = WebSettings()
    admin: AdminSettings = AdminSettings()
    sources: list[SourceSettings] = Field(default_factory=_default_sources)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[SourceSettings]) -> list[SourceSettings]:
        names = [source.name for source in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
    return value


def check_secret_key(value: str) -> str:
    """A configured key as it is, or ValueError: forged links must not be one guess away."""
    if value.strip().casefold() in PLACEHOLDER_SECRETS:
        raise ValueError("is a placeholder published with digest; " + _KEY_ADVICE)
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ValueError(f"is shorter than {MIN_SECRET_BYTES} bytes; " + _KEY_ADVICE)
    return value


_KEY_ADVICE = (
    "set a random one (python -c 'import secrets; print(secrets.token_hex(32))') "
    "or leave it unset to have one generated"
)


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read, or None for built-in defaults."""
    if explicit:
        return Path(explicit)
    if environ.get("DIGEST_CONFIG"):
        return Path(environ["DIGEST_CONFIG"])
    local = Path("config.toml")
    return local if local.is_file() else None


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge and validate the settings; raise ConfigError with one line on any problem."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = _read_toml(path) if path else {}
    _merge_environment(data, env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _merge_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        setting = value
        if key.endswith("_file"):
            key, setting = key[: -len("_file")], _read_secret(name, value)
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: [{section}] is not a table of settings")
        table[key] = setting


def _read_secret(name: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None


def _describe(exc: ValidationError, path: Path | None) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    where = f" in {path}" if path else ""
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"bad setting {key}{where}: {message}{more}"
