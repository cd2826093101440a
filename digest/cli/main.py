"""The `digest` command: thin wrappers that parse arguments, call pipeline/store, and print.

Exit status: 0 done, 1 the work failed (one line on stderr), 2 bad usage or bad configuration.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from digest import sources
from digest.cli import admin as cli_admin
from digest.cli import service as cli_service
from digest.cli import subscribers as cli_subscribers
from digest.cli.common import config_option, handles_errors, now_utc, open_context
from digest.cli.demo import run_demo
from digest.cli.report import (
    print_json,
    print_outcomes,
    print_source_rows,
    print_sources,
    print_status,
    unfinished,
)
from digest.cli.runs import recorded_run
from digest.context import Context
from digest.delivery.send import Preview, preview, send_due
from digest.errors import DigestError
from digest.ingest import ingest_file, ingest_sources, select_sources
from digest.mail.transports import make_transport
from digest.records import Ranked
from digest.store.db import shown_url, upgrade
from digest.subscribers.addresses import normalise_address


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
    ctx = open_context(check_schema=False)
    run_demo(ctx, now_utc(), echo=click.echo, offline=offline)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@config_option
@handles_errors
def db_upgrade() -> None:
    """Create or upgrade the schema (Alembic `upgrade head`)."""
    ctx = open_context(check_schema=False)
    upgrade(ctx.engine)
    click.echo(f"database {shown_url(ctx.engine.url)} is up to date")


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
    ctx, now = open_context(), now_utc()
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
    ctx = open_context()
    shown = preview(ctx, normalise_address(email), now_utc(), day.date() if day else None)
    if html_path is not None:
        html_path.write_text(shown.rendered.html, encoding="utf-8")
    if as_json:
        print_json(_preview_json(shown))
    elif as_text:
        click.echo(shown.rendered.text)
    else:
        click.echo(f"Subject: {shown.rendered.subject}")
        for pick in shown.picks.ranked:
            paper = shown.papers.get(pick.paper_id)
            click.echo(f"  {pick.score:7.3f}  {paper.title if paper else f'paper {pick.paper_id}'}")
            click.echo(f"           {pick.explanation}")


def _preview_json(shown: Preview) -> dict[str, Any]:
    def paper(pick: Ranked) -> dict[str, Any]:
        known = shown.papers.get(pick.paper_id)
        return {
            "paper_id": pick.paper_id,
            "title": known.title if known else None,
            "url": known.url if known else None,
            "arxiv_id": known.arxiv_id if known else None,
            "authors": list(known.authors) if known else [],
            "score": pick.score,
            "parts": pick.parts,
            "topic": pick.topic,
            "matched": list(pick.matched),
            "explanation": pick.explanation,
        }

    return {
        "email": shown.email,
        "date": shown.digest_date.isoformat(),
        "subject": shown.rendered.subject,
        "trending_only": shown.picks.trending_only,
        "new": shown.picks.new_count,
        "papers": [paper(pick) for pick in shown.picks.ranked],
    }


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
    ctx, now = open_context(), _parse_now(now_text)
    report = _send(ctx, now, day.date() if day else None, dry_run)
    print_outcomes(report, as_json=as_json)
    _fail_unless_done(ctx, report)


def _fail_unless_done(ctx: Context, report: Any) -> None:
    left = unfinished(ctx, report)
    if left:
        raise DigestError(left)
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
        return now_utc()
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
    ctx, now = open_context(), now_utc()
    with recorded_run(ctx, "ingest", now) as summary:
        reports = asyncio.run(ingest_sources(ctx, select_sources(ctx.settings.sources, ()), now))
        summary["sources"] = [report.as_json() for report in reports]
    report = _send(ctx, now_utc(), None, False)
    if as_json:
        print_json({"sources": summary["sources"], "deliveries": [o.as_json() for o in report.outcomes]})
    else:
        print_sources(reports)
        print_outcomes(report, as_json=False)
    _fail_unless_done(ctx, report)
    if reports and all(source.error for source in reports):
        raise DigestError("no source could be ingested; nothing new to send")


@main.command("sources")
@config_option
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def sources_command(as_json: bool) -> None:
    """Each source: last fetch, outcome, papers brought, next fetch."""
    print_source_rows(open_context(), as_json=as_json)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def status(as_json: bool) -> None:
    """What is due, pending, sending, sent, failed, unknown; the last runs."""
    print_status(open_context(), now_utc(), as_json=as_json)


for _command in (
    cli_subscribers.subscribe,
    cli_subscribers.interests,
    cli_subscribers.unsubscribe_command,
    cli_subscribers.subscribers,
    cli_service.serve,
    cli_service.worker,
    cli_admin.admin,
):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
