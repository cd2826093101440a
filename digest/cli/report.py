"""How the command line shows reports: aligned text on a terminal, one JSON document with --json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from digest.context import Context
from digest.delivery.report import SendReport
from digest.ingest import SourceReport
from digest.store.db import transaction
from digest.store.ledger import backlog, status_counts
from digest.store.models import Subscriber
from digest.store.papers import count_papers
from digest.store.runs import last_runs
from digest.store.schedule import due_pairs, next_due
from digest.store.sources import list_sources
from digest.store.subscribers import interests_text


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=str, ensure_ascii=False))


def _when(moment: object) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if isinstance(moment, datetime) else "never"


def print_sources(reports: Sequence[SourceReport]) -> None:
    for report in reports:
        if report.error:
            click.echo(f"{report.name}: error: {report.error}")
            continue
        note = f" ({report.note})" if report.note else ""
        click.echo(
            f"{report.name}: {report.new} new, {report.updated} updated, {report.skipped} skipped{note}"
        )


def print_subscribers(rows: Sequence[Subscriber], *, as_json: bool) -> None:
    data = [
        {"email": s.email, "status": s.status, "send_hour": s.send_hour, "timezone": s.timezone,
         "interests": interests_text(s), "created_at": s.created_at.isoformat()}
        for s in rows
    ]  # fmt: skip
    if as_json:
        print_json({"subscribers": data})
        return
    for item in data:
        topics = "; ".join(str(item["interests"]).splitlines())
        hour = f"{item['send_hour']:02d}:00"
        click.echo(f"{item['email']:<32} {item['status']:<12} {hour} {item['timezone']:<20} {topics}")
    click.echo(f"{len(data)} subscriber(s)")


def print_outcomes(report: SendReport, *, as_json: bool) -> None:
    if as_json:
        deliveries = [o.as_json() for o in report.outcomes]
        print_json({"counts": report.counts, "paused": report.paused, "deliveries": deliveries})
        return
    for outcome in report.outcomes:
        error = f": {outcome.error}" if outcome.error else ""
        click.echo(
            f"{outcome.email} {outcome.digest_date}: {outcome.status}, {len(outcome.papers)} papers{error}"
        )
    counts = ", ".join(f"{count} {name}" for name, count in sorted(report.counts.items())) or "nothing due"
    click.echo(f"send: {counts}")
    if report.paused:
        click.echo(f"send {report.paused}")


def unfinished(ctx: Context, report: SendReport) -> str | None:
    """One line when the run stopped before its work was done (the error brake), saying what is left."""
    if not report.paused:
        return None
    with transaction(ctx.sessions) as session:
        left = backlog(session)
    retries = f", retries from {_when(left.next_retry)}" if left.retry else ""
    return (
        f"sending {report.paused}; left: {left.pending} pending, {left.retry} retry; "
        f"next try: the pending at the next `digest send` (or scheduler tick){retries}"
    )


def print_source_rows(ctx: Context, *, as_json: bool) -> None:
    with transaction(ctx.sessions) as session:
        rows = [
            {"name": s.name, "kind": s.kind, "url": s.url, "last_fetch_at": s.last_fetch_at,
             "outcome": s.last_outcome, "error": s.last_error, "new": s.last_new, "updated": s.last_updated,
             "next_fetch_at": s.next_fetch_at}
            for s in list_sources(session)
        ]  # fmt: skip
    configured = {source.name for source in ctx.settings.sources}
    rows += [{"name": n, "outcome": "never fetched"} for n in sorted(configured - {r["name"] for r in rows})]
    if as_json:
        print_json({"sources": rows})
        return
    for row in rows:
        detail = row.get("error") or f"{row.get('new', 0)} new, {row.get('updated', 0)} updated"
        click.echo(
            f"{row['name']:<16} last {_when(row.get('last_fetch_at'))}: {row['outcome']} ({detail}); "
            f"next {_when(row.get('next_fetch_at'))}"
        )


def print_status(ctx: Context, now: datetime, *, as_json: bool) -> None:
    # due_pairs moves each schedule past dates already done; status only looks, so nothing is committed.
    with ctx.sessions() as session:
        due_now = len(due_pairs(session, now))
        counts = status_counts(session)
        runs: list[dict[str, Any]] = [
            {
                "kind": r.kind,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "summary": r.summary,
            }
            for r in last_runs(session)
        ]
        upcoming = [
            {"email": n.email, "due_at": n.due_at, "date": n.digest_date.isoformat(), "timezone": n.timezone}
            for n in next_due(session, 5)
        ]
        document = {"papers": count_papers(session), "due_now": due_now, "deliveries": counts}
        session.rollback()
    if as_json:
        print_json({**document, "next_due": upcoming, "runs": runs})
        return
    deliveries = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none yet"
    click.echo(f"papers stored: {document['papers']}")
    click.echo(f"digests due now: {document['due_now']}")
    click.echo(f"deliveries: {deliveries}")
    for item in upcoming:
        click.echo(f"next: {item['email']} {item['date']} at {_when(item['due_at'])} ({item['timezone']})")
    for run in runs:
        click.echo(f"run {run['kind']:<7} {_when(run['started_at'])} -> {_when(run['finished_at'])}")
