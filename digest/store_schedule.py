"""Queries that answer "what is due now?": the database is the schedule."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from digest.models import Subscriber, SubscriberStatus
from digest.schedule import local_digest_date
from digest.store_ledger import finished_dates
from digest.store_subscribers import list_subscribers


def due_digests(
    session: Session, now: datetime, digest_date: date | None = None
) -> list[tuple[Subscriber, date]]:
    """Active subscribers whose digest is due at `now` (or for `digest_date`) and not yet done."""
    subscribers = list_subscribers(session, [SubscriberStatus.ACTIVE])
    pairs: list[tuple[Subscriber, date]] = []
    for subscriber in subscribers:
        day = digest_date or local_digest_date(now, subscriber.timezone, subscriber.send_hour)
        if day is not None:
            pairs.append((subscriber, day))
    done = finished_dates(session, [s.id for s, _ in pairs], [d for _, d in pairs])
    return [(s, d) for s, d in pairs if (s.id, d) not in done]
