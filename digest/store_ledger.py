"""The delivery ledger: one row per (subscriber, digest date), moved through its states by claims.

pending -> sending -> sent | retry | failed | unknown. Each move is a conditional UPDATE that checks the
state it comes from, so two senders can never both move the same row (rowcount tells who won).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.models import Delivery, DeliveryStatus, SentPaper

OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRY)  # states a sender may claim
DONE = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.SKIPPED)


def open_delivery(session: Session, subscriber_id: int, digest_date: date, now: datetime) -> Delivery | None:
    """The ledger row to work on for this subscriber and date, created if new; None when done or taken."""
    row = session.scalar(
        select(Delivery).where(Delivery.subscriber_id == subscriber_id, Delivery.digest_date == digest_date)
    )
    if row is None:
        row = Delivery(
            subscriber_id=subscriber_id, digest_date=digest_date, created_at=now, updated_at=now, paper_ids=[]
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another sender wrote it first: it is theirs
            return None
    return row if row.status in OPEN else None


def claim(
    session: Session, delivery_id: int, message_id: str, paper_ids: Sequence[int], now: datetime
) -> bool:
    """Move an open row to `sending`; False when another sender got there first."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(OPEN))
        .values(
            status=DeliveryStatus.SENDING,
            message_id=message_id,
            paper_ids=list(paper_ids),
            attempts=Delivery.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _one_row(result)


def mark_sent(
    session: Session, delivery_id: int, subscriber_id: int, paper_ids: Iterable[int], now: datetime
) -> None:
    """Record the digest as sent and its papers as sent to the subscriber, in one transaction."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.SENT, sent_at=now, updated_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    if not _one_row(result):
        raise RuntimeError(f"delivery {delivery_id} was not in the sending state")
    already = set(session.scalars(select(SentPaper.paper_id).where(SentPaper.subscriber_id == subscriber_id)))
    session.add_all(
        SentPaper(subscriber_id=subscriber_id, paper_id=paper_id, delivery_id=delivery_id)
        for paper_id in dict.fromkeys(paper_ids)
        if paper_id not in already
    )
    session.flush()


def mark_outcome(
    session: Session, delivery_id: int, status: DeliveryStatus, error: str | None, now: datetime
) -> None:
    """Move a `sending` (or open) row to retry, failed, unknown or skipped."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_((DeliveryStatus.SENDING, *OPEN)))
        .values(status=status, last_error=error, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def expire_stale_sending(session: Session, now: datetime, lease: timedelta) -> int:
    """Rows left in `sending` by a sender that died: the message may have gone out, so they become
    `unknown` (recorded, never retried silently)."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, Delivery.updated_at < now - lease)
        .values(status=DeliveryStatus.UNKNOWN, last_error="sender stopped while sending", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def sent_paper_ids(session: Session, subscriber_ids: Iterable[int]) -> dict[int, set[int]]:
    ids = list(subscriber_ids)
    sent: dict[int, set[int]] = {subscriber_id: set() for subscriber_id in ids}
    if ids:
        query = select(SentPaper.subscriber_id, SentPaper.paper_id).where(SentPaper.subscriber_id.in_(ids))
        for subscriber_id, paper_id in session.execute(query):
            sent[subscriber_id].add(paper_id)
    return sent


def finished_dates(
    session: Session, subscriber_ids: Iterable[int], dates: Iterable[date]
) -> set[tuple[int, date]]:
    """(subscriber, date) pairs whose digest needs no more work."""
    ids, days = list(subscriber_ids), list(set(dates))
    if not ids or not days:
        return set()
    query = select(Delivery.subscriber_id, Delivery.digest_date).where(
        Delivery.subscriber_id.in_(ids), Delivery.digest_date.in_(days), Delivery.status.not_in(OPEN)
    )
    return {(row[0], row[1]) for row in session.execute(query)}


def latest_sent(session: Session, subscriber_id: int) -> Delivery | None:
    return session.scalar(
        select(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == DeliveryStatus.SENT)
        .order_by(Delivery.digest_date.desc())
        .limit(1)
    )


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {str(status): int(count) for status, count in rows}


def _one_row(result: object) -> bool:
    return int(getattr(result, "rowcount", 0) or 0) == 1
