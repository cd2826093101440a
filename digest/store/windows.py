"""What a weekly digest covers: when each reader's previous digest went out, and when papers were stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.store.models import Delivery, DeliveryStatus, Paper

_CHUNK = 500  # bound the size of IN (...) lists


def last_sent_at(session: Session, subscriber_ids: Sequence[int]) -> dict[int, datetime]:
    """subscriber id -> when their latest sent digest went out (absent: none yet)."""
    found: dict[int, datetime] = {}
    for start in range(0, len(subscriber_ids), _CHUNK):
        query = (
            select(Delivery.subscriber_id, func.max(Delivery.sent_at))
            .where(
                Delivery.subscriber_id.in_(subscriber_ids[start : start + _CHUNK]),
                Delivery.status == DeliveryStatus.SENT,
            )
            .group_by(Delivery.subscriber_id)
        )
        found.update((subscriber_id, at) for subscriber_id, at in session.execute(query) if at is not None)
    return found


def first_seen_since(session: Session, since: datetime) -> list[tuple[datetime, int]]:
    """(first seen, paper id) of the papers stored at or after `since`, oldest first."""
    query = select(Paper.first_seen_at, Paper.id).where(Paper.first_seen_at >= since)
    return sorted((seen, paper_id) for seen, paper_id in session.execute(query))
