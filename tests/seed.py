"""A small population the send-path and ledger tests share: the recorded Hugging Face papers, confirmed
subscribers, and the ledger's states."""

from __future__ import annotations

from datetime import date, datetime

from conftest import FIXTURES, NOW
from sqlalchemy import select

from digest import sources
from digest.context import Context
from digest.rank import parse_interests
from digest.store.db import transaction
from digest.store.models import Delivery
from digest.store.papers import upsert_papers
from digest.store.subscribers import add_subscriber

TODAY = date(2026, 11, 28)


def load_papers(ctx: Context, at: datetime = NOW) -> None:
    parsed = sources.parse("hf_daily", (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes())
    with transaction(ctx.sessions) as session:
        upsert_papers(session, parsed.papers, at)


def subscribe(ctx: Context, email_address: str, query: str, hour: int = 0, zone: str = "UTC") -> int:
    with transaction(ctx.sessions) as session:
        row = add_subscriber(
            session,
            email_address,
            parse_interests(query),
            send_hour=hour,
            timezone=zone,
            now=NOW,
            confirmed=True,
        )
        return row.id


def ledger_states(ctx: Context) -> dict[tuple[int, date], str]:
    with transaction(ctx.sessions) as session:
        return {(d.subscriber_id, d.digest_date): d.status for d in session.scalars(select(Delivery))}
