"""The `digest` command: thin wrappers that parse arguments, call pipeline/store, and print.

Exit status: 0 done, 1 the work failed (one line on stderr), 2 bad usage or bad configuration.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from digest import sources
from digest.addresses import normalise_address
from digest.cli_report import (
    print_json,
    print_outcomes,
    print_source_rows,
    print_sources,
    print_status,
    print_subscribers,
)
from digest.config import check_timezone, config_path, load_settings
from digest.context import Context
from digest.db import require_current_schema, transaction, upgrade
from digest.demo import run_demo
from digest.errors import ConfigError, DigestError
from digest.ingest import ingest_file, ingest_sources, select_sources
from digest.interests import parse_interests
from digest.pipeline import make_transport, preview, send_due
from digest.runs import recorded_run
from digest.store_subscribers import (
    add_subscriber,
    get_subscriber,
    interests_text,
    list_subscribers,
    set_interests,
    unsubscribe,
)

P = ParamSpec("P")
R = TypeVar("R")


def _now() -> datetime:
    return datetime.now(UTC)


def config_option(command: Callable[P, R]) -> Callable[P, R]:
    """Every command takes --config (else $DIGEST_CONFIG, else ./config.toml, else built-in defaults)."""
    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False), default=None, expose_value=False,
        is_eager=True, callback=_remember_config, help="Settings file (TOML).",
    )(command)  # fmt: skip


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def _context(*, check_schema: bool = True) -> Context:
    chosen = None
    click_ctx: click.Context | None = click.get_current_context()
    while click_ctx is not None:
        chosen = chosen or (click_ctx.obj or {}).get("config")
        click_ctx = click_ctx.parent
    settings = load_settings(config_path(chosen, os.environ))
    ctx = Context.open(settings)
    if check_schema:
        require_current_schema(ctx.engine)
    return ctx


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the package's errors into one line on stderr and the documented exit status."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"digest: configuration error: {exc}", err=True)
            sys.exit(2)
        except DigestError as exc:
            click.echo(f"digest: {exc}", err=True)
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.version_option(package_name="digest")
def main() -> None:
    """A personalised daily email of trending research papers."""
    # One line per event on stderr; stdout stays for reports and --json documents.
    logging.basicConfig(level=logging.WARNING, format="digest: %(levelname)s: %(message)s")


@main.command()
@config_option
@click.option("--offline", is_flag=True, help="Use the bundled snapshot without trying the live sources.")
@handles_errors
def demo(offline: bool) -> None:
    """Run the whole pipeline on embedded defaults and show what each demo subscriber got."""
    ctx = _context(check_schema=False)
    run_demo(ctx, _now(), echo=click.echo, offline=offline)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@config_option
@handles_errors
def db_upgrade() -> None:
    """Create or upgrade the schema (Alembic `upgrade head`)."""
    ctx = _context(check_schema=False)
    upgrade(ctx.engine)
    click.echo(f"database {ctx.engine.url!r} is up to date")


@main.command()
@config_option
@click.option("--source", "names", multiple=True, help="Only this configured source (repeatable).")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--kind", type=click.Choice(sources.KINDS), default=None, help="Kind of the saved response.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@handles_errors
def ingest(names: tuple[str, ...], file: Path | None, kind: str | None, as_json: bool) -> None:
    """Fetch configured sources (or load a saved response) and store their papers."""
    if (file is None) != (kind is None):
        raise click.UsageError("--file and --kind go together")
    ctx, now = _context(), _now()
    with recorded_run(ctx, "ingest", now) as summary:
        if file is not None and kind is not None:
            reports = [ingest_file(ctx, file, kind, now)]
        else:
            reports = asyncio.run(ingest_sources(ctx, select_sources(ctx.settings.sources, names), now))
        summary["sources"] = [report.as_json() for report in reports]
    if as_json:
        print_json({"sources": summary["sources"]})
    else:
        print_sources(reports)
    if reports and all(report.error for report in reports):
        raise DigestError("no source could be ingested")


@main.command()
@config_option
@click.argument("email")
@click.option(
    "--interests", "query", default=None, help='Interest topics, e.g. "diffusion models; cat:cs.CV".'
)
@click.option("--send-hour", type=click.IntRange(0, 23), default=None)
@click.option("--timezone", default=None, help="IANA time zone, e.g. Europe/Paris.")
@click.option(
    "--confirmed", is_flag=True, help="Skip the double opt-in (the operator vouches for the address)."
)
@handles_errors
def subscribe(
    email: str, query: str | None, send_hour: int | None, timezone: str | None, confirmed: bool
) -> None:
    """Add a subscriber."""
    ctx = _context()
    defaults = ctx.settings.digest
    address = normalise_address(email)
    interests = parse_interests(query or "")
    zone = _timezone(timezone or defaults.default_timezone)
    hour = defaults.default_send_hour if send_hour is None else send_hour
    with transaction(ctx.sessions) as session:
        add_subscriber(
            session, address, interests, send_hour=hour, timezone=zone, now=_now(), confirmed=confirmed
        )
    state = (
        "active" if confirmed else "pending confirmation (the confirmation email comes with the web front)"
    )
    click.echo(f"subscribed {address}: {state}; digest at {hour:02d}:00 {zone}")


def _timezone(name: str) -> str:
    try:
        return check_timezone(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timezone") from None


@main.command()
@config_option
@click.argument("email")
@click.argument("query", required=False)
@handles_errors
def interests(email: str, query: str | None) -> None:
    """Show, or replace, a subscriber's interests."""
    ctx = _context()
    parsed = parse_interests(query) if query is not None else None
    with transaction(ctx.sessions) as session:
        subscriber = get_subscriber(session, normalise_address(email))
        if parsed is not None:
            set_interests(subscriber, parsed)
            session.flush()
        click.echo(interests_text(subscriber))


@main.command("unsubscribe")
@config_option
@click.argument("email")
@handles_errors
def unsubscribe_command(email: str) -> None:
    """Stop all mail to that address."""
    ctx = _context()
    with transaction(ctx.sessions) as session:
        unsubscribe(get_subscriber(session, normalise_address(email)))
    click.echo(f"{email} will receive no more mail")


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def subscribers(as_json: bool) -> None:
    """List subscribers and their state."""
    ctx = _context()
    with transaction(ctx.sessions) as session:
        print_subscribers(list_subscribers(session), as_json=as_json)


@main.command("preview")
@config_option
@click.argument("email")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--text", "as_text", is_flag=True, help="Print the plain-text version.")
@click.option("--json", "as_json", is_flag=True, help="Ranked papers with scores, parts and explanations.")
@handles_errors
def preview_command(
    email: str, day: datetime | None, html_path: Path | None, as_text: bool, as_json: bool
) -> None:
    """Render a subscriber's digest without sending or recording anything."""
    ctx = _context()
    shown = preview(ctx, normalise_address(email), _now(), day.date() if day else None)
    if html_path is not None:
        html_path.write_text(shown.rendered.html, encoding="utf-8")
    if as_json:
        print_json(_preview_json(shown))
    elif as_text:
        click.echo(shown.rendered.text)
    else:
        click.echo(f"Subject: {shown.rendered.subject}")
        for pick in shown.picks.ranked:
            click.echo(f"  {pick.score:7.3f}  paper {pick.paper_id}: {pick.explanation}")


def _preview_json(shown: Any) -> dict[str, Any]:
    return {
        "email": shown.email,
        "date": shown.digest_date.isoformat(),
        "subject": shown.rendered.subject,
        "trending_only": shown.picks.trending_only,
        "new": shown.picks.new_count,
        "papers": [
            {"paper_id": p.paper_id, "score": p.score, "parts": p.parts, "topic": p.topic,
             "matched": list(p.matched), "explanation": p.explanation}
            for p in shown.picks.ranked
        ],
    }  # fmt: skip


@main.command()
@config_option
@click.option(
    "--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Send this date's digest."
)
@click.option("--now", "now_text", default=None, help="Pretend it is this moment (ISO 8601).")
@click.option("--dry-run", is_flag=True, help="Rank and render, record and send nothing.")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def send(day: datetime | None, now_text: str | None, dry_run: bool, as_json: bool) -> None:
    """Build and deliver every digest due now; never twice for one subscriber and date."""
    ctx, now = _context(), _parse_now(now_text)
    report = _send(ctx, now, day.date() if day else None, dry_run)
    print_outcomes(report, as_json=as_json)
    if report.counts.get("failed") and not report.counts.get("sent"):
        raise DigestError("no digest could be delivered")


def _send(ctx: Context, now: datetime, day: date | None, dry_run: bool) -> Any:
    async def go() -> Any:
        transport = make_transport(ctx.settings)
        try:
            return await send_due(ctx, transport, now, digest_date=day, dry_run=dry_run)
        finally:
            await transport.close()

    with recorded_run(ctx, "send", now, record=not dry_run) as summary:
        report = asyncio.run(go())
        summary["counts"] = report.counts
    return report


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return _now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 moment", param_hint="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def run(as_json: bool) -> None:
    """One daily cycle: ingest every enabled source, then send what is due."""
    ctx, now = _context(), _now()
    with recorded_run(ctx, "ingest", now) as summary:
        reports = asyncio.run(ingest_sources(ctx, select_sources(ctx.settings.sources, ()), now))
        summary["sources"] = [report.as_json() for report in reports]
    report = _send(ctx, _now(), None, False)
    if as_json:
        print_json({"sources": summary["sources"], "deliveries": [o.as_json() for o in report.outcomes]})
        return
    print_sources(reports)
    print_outcomes(report, as_json=False)


@main.command("sources")
@config_option
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def sources_command(as_json: bool) -> None:
    """Each source: last fetch, outcome, papers brought, next fetch."""
    print_source_rows(_context(), as_json=as_json)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def status(as_json: bool) -> None:
    """What is due, pending, sending, sent, failed, unknown; the last runs."""
    print_status(_context(), _now(), as_json=as_json)


if __name__ == "__main__":  # pragma: no cover
    main()
