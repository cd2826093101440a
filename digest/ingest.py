"""Fetch the configured sources (or read saved responses) and store what they bring.

A failing source never stops the others: its error is recorded on its row and in the report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from digest import sources
from digest.config import SourceSettings
from digest.context import Context
from digest.embedding.vectors import embed_if_enabled
from digest.errors import DigestError, SourceError
from digest.schedule.times import next_fetch_at
from digest.sources import arxiv_paging
from digest.store.db import transaction
from digest.store.papers import arxiv_ids_missing_details, upsert_papers
from digest.store.sources import source_row

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceReport:
    name: str
    kind: str
    new: int = 0
    updated: int = 0
    skipped: int = 0
    error: str | None = None
    note: str | None = None
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data


FILL_IN = "arxiv details"  # the report's name for the fill-in step


def source_url(source: SourceSettings) -> str:
    if source.url:
        return source.url
    return sources.default_url(source.kind, categories=source.categories, query=source.query)


def select_sources(configured: Sequence[SourceSettings], names: Sequence[str]) -> list[SourceSettings]:
    """The enabled sources, or exactly those named (a name that is not configured is an error)."""
    if not names:
        return [source for source in configured if source.enabled]
    known = {source.name: source for source in configured}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DigestError(f"no source named {', '.join(unknown)}; configured: {', '.join(known) or 'none'}")
    return [known[name] for name in names]


async def ingest_sources(
    ctx: Context, chosen: Sequence[SourceSettings], now: datetime, *, use_validators: bool = True
) -> list[SourceReport]:
    """Fetch every chosen source concurrently with one client, store the papers, then fill in the
    details of papers that a source named only by arXiv id."""
    pacer = arxiv_paging.Pacer()  # one per run: every arXiv API call is spaced 3 s from the last
    async with sources.make_client(ctx.user_agent, timeout=ctx.settings.fetch.timeout) as client:
        jobs = [_ingest_one(ctx, client, source, now, use_validators, pacer) for source in chosen]
        reports = list(await asyncio.gather(*jobs))
        filled = await fill_in_details(ctx, client, now, pacer)
    return [*reports, filled] if filled else reports


async def fill_in_details(
    ctx: Context, client: httpx.AsyncClient, now: datetime, pacer: arxiv_paging.Pacer
) -> SourceReport | None:
    """Ask the arXiv API for the abstract, authors and categories of papers stored without them."""
    with transaction(ctx.sessions) as session:
        wanted = arxiv_ids_missing_details(session, ctx.settings.fetch.fill_in_limit)
    if not wanted:
        return None
    try:
        found = await arxiv_paging.lookup(
            client,
            wanted,
            pacer=pacer,
            base=ctx.settings.fetch.arxiv_api_url,
            max_bytes=ctx.settings.fetch.max_bytes,
        )
    except SourceError as exc:
        log.warning("filling in arXiv details failed: %s", exc)
        return SourceReport(FILL_IN, "arxiv_api", error=str(exc))
    return _store(ctx, FILL_IN, "arxiv_api", found, now)


async def _ingest_one(
    ctx: Context,
    client: httpx.AsyncClient,
    source: SourceSettings,
    now: datetime,
    use_validators: bool,
    pacer: arxiv_paging.Pacer,
) -> SourceReport:
    try:
        url = source_url(source)
    except SourceError as exc:
        return SourceReport(source.name, source.kind, error=str(exc))
    with transaction(ctx.sessions) as session:
        row = source_row(session, source.name, source.kind, url)
        etag, modified = (row.etag, row.last_modified) if use_validators else (None, None)
    request = sources.SourceRequest(
        source.name, source.kind, url, etag, modified, frozenset(source.announce_types)
    )
    if source.kind == "arxiv_api" and not source.url:
        outcome = await _search_arxiv(ctx, client, source, pacer)
    else:
        outcome = await sources.fetch_and_parse(client, request, max_bytes=ctx.settings.fetch.max_bytes)
    if outcome.error is not None:
        log.warning("source %s failed: %s", source.name, outcome.error)
        report = SourceReport(source.name, source.kind, error=outcome.error)
    elif outcome.result is None:  # 304: nothing changed since the last fetch
        report = SourceReport(source.name, source.kind, note="not modified since the last fetch")
    else:
        report = _store(ctx, source.name, source.kind, outcome.result, now)
    _record_fetch(ctx, source, url, report, outcome, now)
    return report


async def _search_arxiv(
    ctx: Context, client: httpx.AsyncClient, source: SourceSettings, pacer: arxiv_paging.Pacer
) -> sources.SourceOutcome:
    """An arxiv_api source is a search, read page by page (one fetch of one page would cut it short)."""
    query = source.query or " OR ".join(f"cat:{category}" for category in source.categories or ["cs.LG"])
    base = ctx.settings.fetch.arxiv_api_url
    try:
        found = await arxiv_paging.search(
            client,
            query,
            max_results=ctx.settings.fetch.arxiv_api_max_results,
            pacer=pacer,
            base=base,
            max_bytes=ctx.settings.fetch.max_bytes,
        )
    except SourceError as exc:
        return sources.SourceOutcome(source.name, base, None, None, None, None, error=str(exc))
    return sources.SourceOutcome(source.name, base, 200, found, None, None)


def _store(ctx: Context, name: str, kind: str, parsed: sources.ParseResult, now: datetime) -> SourceReport:
    for warning in parsed.warnings:
        log.warning("source %s: %s", name, warning)
    with transaction(ctx.sessions) as session:
        counts = upsert_papers(session, parsed.papers, now)
        # Vectors are computed once, when papers are stored (only with the hybrid ranker on).
        embed_if_enabled(session, ctx.settings.ranking.method, subscriber_ids=[])
    return SourceReport(
        name,
        kind,
        new=counts.new,
        updated=counts.updated,
        skipped=parsed.skipped + counts.unchanged,
        note=parsed.note,
        warnings=parsed.warnings,
    )


def _record_fetch(
    ctx: Context,
    source: SourceSettings,
    url: str,
    report: SourceReport,
    outcome: sources.SourceOutcome,
    now: datetime,
) -> None:
    with transaction(ctx.sessions) as session:
        row = source_row(session, source.name, source.kind, url)
        row.last_fetch_at = now
        row.next_fetch_at = next_fetch_at(now, source.interval_hours)
        row.last_error = report.error
        row.last_new, row.last_updated = report.new, report.updated
        row.last_outcome = _outcome(report, outcome)
        if outcome.result is not None:  # validators of a body we stored; a 304 keeps the old ones
            row.etag, row.last_modified = outcome.etag, outcome.last_modified


def _outcome(report: SourceReport, outcome: sources.SourceOutcome) -> str:
    if report.error:
        return "error"
    if outcome.result is None:
        return "not_modified"
    return "ok" if report.new or report.updated or report.skipped else "empty"


def ingest_file(ctx: Context, path: Path, kind: str, now: datetime) -> SourceReport:
    """Store the papers of a saved response of `kind`."""
    if kind not in sources.KINDS:
        raise DigestError(f"unknown kind {kind!r}; choose one of {', '.join(sources.KINDS)}")
    limit = ctx.settings.fetch.max_bytes
    try:
        with path.open("rb") as saved:
            # The network's cap, read as the network is: a FIFO or /dev/zero has no size to stat.
            body = saved.read(limit + 1)
    except OSError as exc:
        raise DigestError(f"cannot read {path}: {exc.strerror}") from None
    if len(body) > limit:
        return SourceReport(str(path), kind, error=f"{path}: file is over the {limit}-byte limit")
    try:
        parsed = sources.parse(kind, body)
    except SourceError as exc:
        return SourceReport(str(path), kind, error=str(exc))
    return _store(ctx, str(path), kind, parsed, now)
