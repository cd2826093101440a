"""`digest demo`: the whole pipeline on embedded defaults, live sources when reachable.

Offline (or when the live sources bring nothing), it loads the bundled snapshot of real responses in
digest/snapshot/ (see digest/snapshot/SOURCES.md), so a fresh clone works without a network.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from digest.context import Context
from digest.delivery.batch import pick_papers, render_digest
from digest.delivery.report import Outcome
from digest.delivery.worker import deliver_one
from digest.embedding.model import effective_method
from digest.embedding.vectors import store_shipped_vectors
from digest.ingest import SourceReport, ingest_file, ingest_sources, select_sources
from digest.mail.transports import MaildirTransport
from digest.rank import parse_interests
from digest.resources import resource_path
from digest.schedule.times import local_today
from digest.store.db import transaction, upgrade
from digest.store.papers import papers_by_id
from digest.store.schedule import reschedule
from digest.store.subscribers import add_subscriber, delete_subscriber, find_subscriber, subscriber_by_id

LIVE_TIMEOUT = 8.0  # seconds: offline, fall back to the snapshot quickly
DEMO_SUBSCRIBERS = {
    "ada@example.org": 'large language models; reasoning; "speculative decoding"',
    "grace@example.org": "robot manipulation; reinforcement learning; image segmentation -medical",
}
SNAPSHOT = (("hf_daily.json", "hf_daily"), ("arxiv_rss.xml", "arxiv_rss"))

Echo = Callable[[str], None]


def run_demo(ctx: Context, now: datetime, echo: Echo, *, offline: bool = False) -> list[Outcome]:
    upgrade(ctx.engine)
    ctx.secret_key  # noqa: B018 - generated before any write transaction that signs (see cli.common)
    echo(f"database: {ctx.engine.url.render_as_string(hide_password=True)}")
    _load_papers(ctx, now, echo, offline)
    subscribers = _reset_demo_subscribers(ctx, now)
    maildir = Path(ctx.settings.mail.maildir)
    outcomes = asyncio.run(_send(ctx, subscribers, maildir, now, echo))
    echo(f"\nmessages are in {maildir.resolve() / 'new'}")
    return outcomes


def _load_papers(ctx: Context, now: datetime, echo: Echo, offline: bool) -> None:
    reports = [] if offline else _live(ctx, now)
    if reports and any(r.new or r.updated for r in reports if not r.error):
        echo("sources: live")
    else:
        reason = "; ".join(f"{r.name}: {r.error or r.note or 'nothing new'}" for r in reports) or "timed out"
        why = "--offline" if offline else f"the live sources were not usable ({_cut(reason)})"
        echo(f"sources: {why}; using the bundled snapshot")
        reports = _load_snapshot(ctx, now)
    for report in reports:
        state = f"error: {report.error}" if report.error else f"{report.new} new, {report.updated} updated"
        echo(f"  {Path(report.name).name}: {state}")


def _load_snapshot(ctx: Context, now: datetime) -> list[SourceReport]:
    """The bundled snapshot, with the vectors shipped beside it: embedding its 1,500 papers would take
    minutes on one core. Papers the file has no vector for are embedded when they are ranked."""
    folder = resource_path("snapshot")
    ranking = ctx.settings.ranking.model_copy(update={"method": "lexical"})  # store without embedding
    unembedded = Context(ctx.settings.model_copy(update={"ranking": ranking}), ctx.engine, ctx.sessions)
    reports = [ingest_file(unembedded, folder / name, kind, now) for name, kind in SNAPSHOT]
    if effective_method(ctx.settings.ranking.method) == "hybrid":
        with transaction(ctx.sessions) as session:
            store_shipped_vectors(session, folder / "vectors.npz")
    return reports


def _live(ctx: Context, now: datetime) -> list[SourceReport]:
    async def fetch() -> list[SourceReport]:
        chosen = select_sources(ctx.settings.sources, ())
        return await asyncio.wait_for(ingest_sources(ctx, chosen, now, use_validators=False), LIVE_TIMEOUT)

    # The demo reports unusable sources in its own summary line; the per-source warnings would repeat it.
    ingest_log = logging.getLogger("digest.ingest")
    level = ingest_log.level
    ingest_log.setLevel(logging.ERROR)
    try:
        return asyncio.run(fetch())
    except TimeoutError:
        return []
    finally:
        ingest_log.setLevel(level)


def _reset_demo_subscribers(ctx: Context, now: datetime) -> list[int]:
    """Create the two demo subscribers afresh, so every run shows a full digest."""
    ids = []
    with transaction(ctx.sessions) as session:
        for email, query in DEMO_SUBSCRIBERS.items():
            old = find_subscriber(session, email, missing_ok=True)
            if old is not None:
                delete_subscriber(session, old)
            subscriber = add_subscriber(
                session, email, parse_interests(query), send_hour=0, timezone="UTC", now=now, confirmed=True
            )
            reschedule(subscriber, now)
            ids.append(subscriber.id)
    return ids


async def _send(ctx: Context, ids: list[int], maildir: Path, now: datetime, echo: Echo) -> list[Outcome]:
    transport = MaildirTransport(maildir)
    outcomes = []
    with transaction(ctx.sessions) as session:
        subscribers = [s for i in ids if (s := subscriber_by_id(session, i)) is not None]
        picks = pick_papers(ctx, session, subscribers, now)
    for subscriber in subscribers:
        day = local_today(now, subscriber.timezone)
        outcome = await deliver_one(ctx, transport, subscriber, day, picks[subscriber.id], now)
        outcomes.append(outcome)
        with transaction(ctx.sessions) as session:
            rendered, _ = render_digest(ctx, session, subscriber, day, picks[subscriber.id])
            titles = {
                i: p.title for i, p in papers_by_id(session, [r.paper_id for r in outcome.papers]).items()
            }
        _show(subscriber.email, outcome, titles, echo)
        preview = maildir / f"preview-{subscriber.email.split('@')[0]}.html"
        preview.write_text(rendered.html, encoding="utf-8")
        echo(f"  HTML preview: {preview.resolve()}")
    await transport.close()
    return outcomes


def _show(email: str, outcome: Outcome, titles: dict[int, str], echo: Echo) -> None:
    echo(f"\n{email} ({DEMO_SUBSCRIBERS[email]}): {outcome.status}, {len(outcome.papers)} papers")
    for index, pick in enumerate(outcome.papers, 1):
        echo(f"  {index:2d}. {_cut(titles[pick.paper_id], 100)}")
        echo(f"      {pick.explanation}")


def _cut(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
