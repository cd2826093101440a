"""The one module that knows the whole flow: rank -> render -> record -> deliver.

Every digest is written to the ledger before any mail traffic, claimed under a lease, marked `sending` a
window at a time and marked sent together with its papers in one transaction; a date already done is
never sent again. The engine lives in `worker` (the drain loop), `batch` (rank, render, MIME) and
`digest.store.ledger` (the ledger); this module keeps the entry points the command line and the demo call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime

from digest.context import Context
from digest.delivery.batch import pick_papers, render_digest
from digest.delivery.report import DigestPicks, Outcome, SendReport
from digest.delivery.worker import default_worker_id, run_worker
from digest.errors import InterestError
from digest.mail.transports import Transport
from digest.records import RenderedEmail
from digest.schedule.times import local_today
from digest.store.db import transaction
from digest.store.papers import papers_by_id
from digest.store.schedule import due_digests
from digest.store.subscribers import get_subscriber


async def send_due(
    ctx: Context,
    transport: Transport,
    now: datetime,
    *,
    digest_date: date | None = None,
    dry_run: bool = False,
) -> SendReport:
    """Build and deliver every digest due at `now`; never twice for one subscriber and date."""
    if dry_run:
        return _dry_run(ctx, now, digest_date)
    return await run_worker(
        ctx, transport, asyncio.Event(), worker_id=default_worker_id(), now=lambda: now,
        digest_date=digest_date, keep_outcomes=True,
    )  # fmt: skip


def _dry_run(ctx: Context, now: datetime, digest_date: date | None) -> SendReport:
    report = SendReport()
    with transaction(ctx.sessions) as session:
        pairs = due_digests(session, now, digest_date)
        picks = pick_papers(ctx, session, [subscriber for subscriber, _ in pairs], now)
    for subscriber, day in pairs:
        chosen = picks.get(subscriber.id)
        if chosen is None:
            report.add(Outcome(subscriber.email, day, "failed", error="interests do not parse"))
        else:
            report.add(Outcome(subscriber.email, day, "dry-run", chosen.ranked))
    return report


@dataclass(frozen=True, slots=True)
class PreviewPaper:
    """What a preview says of each pick besides its scores: which paper it is."""

    title: str
    url: str
    arxiv_id: str | None
    authors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    email: str
    digest_date: date
    picks: DigestPicks
    rendered: RenderedEmail
    papers: dict[int, PreviewPaper]


def preview(ctx: Context, email: str, now: datetime, digest_date: date | None = None) -> Preview:
    """Rank and render one subscriber's digest without sending or recording anything."""
    with transaction(ctx.sessions) as session:
        subscriber = get_subscriber(session, email)
        day = digest_date or local_today(now, subscriber.timezone)
        picks = pick_papers(ctx, session, [subscriber], now)
        if subscriber.id not in picks:
            raise InterestError(
                f"the interests of {email} do not parse; set them again with `digest interests`"
            )
        rendered, _ = render_digest(ctx, session, subscriber, day, picks[subscriber.id])
        rows = papers_by_id(session, [pick.paper_id for pick in picks[subscriber.id].ranked])
        papers = {
            pid: PreviewPaper(row.title, row.url, row.arxiv_id, tuple(row.authors))
            for pid, row in rows.items()
        }
    return Preview(email, day, picks[subscriber.id], rendered, papers)
