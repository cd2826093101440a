"""The operator dashboard's reads and its few writes: counts for the overview, one day's troubled
deliveries, a page of subscribers, and the actions (pause, resume, unsubscribe, resend, fetch now).

Aggregates are computed by the database (GROUP BY) and only their rows cross into Python: at 100,000
subscribers, loading the rows themselves would be the whole cost of a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session, selectinload

from digest.store.db import among
from digest.store.models import Delivery, DeliveryStatus, Source, Subscriber, SubscriberStatus
from digest.store.schedule import reschedule
from digest.store.subscribers import unsubscribe

TROUBLED = (DeliveryStatus.FAILED, DeliveryStatus.RETRY, DeliveryStatus.UNKNOWN)


def subscribers_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
    return dict(rows.all())


def deliveries_by_day(session: Session, first: date, last: date) -> dict[date, dict[str, int]]:
    """digest date -> {status: count}, for the dates in [first, last] that have rows."""
    query = (
        select(Delivery.digest_date, Delivery.status, func.count())
        .where(Delivery.digest_date >= first, Delivery.digest_date <= last)
        .group_by(Delivery.digest_date, Delivery.status)
    )
    days: dict[date, dict[str, int]] = {}
    for day, status, count in session.execute(query):
        days.setdefault(day, {})[status] = count
    return days


def sends_by_moment(session: Session, now: datetime, horizon: timedelta) -> dict[datetime, int]:
    """Active subscribers due in [now, now + horizon), counted per due moment (a few dozen distinct ones:
    each subscriber is due on the hour of their zone)."""
    query = (
        select(Subscriber.next_send_at, func.count())
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .where(Subscriber.next_send_at >= now, Subscriber.next_send_at < now + horizon)
        .group_by(Subscriber.next_send_at)
    )
    return {moment: count for moment, count in session.execute(query) if moment is not None}


def overdue_count(session: Session, now: datetime) -> int:
    """Active subscribers whose digest fell due and has not been taken yet."""
    query = select(func.count()).where(
        Subscriber.status == SubscriberStatus.ACTIVE, Subscriber.next_send_at < now
    )
    return session.scalar(query) or 0


@dataclass(frozen=True, slots=True)
class TroubledDelivery:
    id: int
    email: str
    status: str
    attempts: int
    last_error: str | None
    updated_at: datetime
    next_attempt_at: datetime | None


def troubled_on(session: Session, day: date, limit: int) -> list[TroubledDelivery]:
    """That day's failed, retry and unknown digests (unknown first: they are the ones to decide on)."""
    order = {DeliveryStatus.UNKNOWN.value: 0, DeliveryStatus.RETRY.value: 1, DeliveryStatus.FAILED.value: 2}
    query = (
        select(Delivery, Subscriber.email)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.digest_date == day, Delivery.status.in_([s.value for s in TROUBLED]))
        .order_by(Delivery.id)
        .limit(limit)
    )
    rows = [
        TroubledDelivery(d.id, email, d.status, d.attempts, d.last_error, d.updated_at, d.next_attempt_at)
        for d, email in session.execute(query)
    ]
    return sorted(rows, key=lambda row: (order.get(row.status, 3), row.id))


def day_counts(session: Session, day: date) -> dict[str, int]:
    return deliveries_by_day(session, day, day).get(day, {})


def resend_unknown(session: Session, delivery_ids: Sequence[int], now: datetime) -> int:
    """Put `unknown` rows back to `pending`, so the next send takes them. Those messages may have arrived
    already: the operator decides that a duplicate is better than a missing digest."""
    if not delivery_ids:
        return 0
    done = session.execute(
        update(Delivery)
        .where(among(session, Delivery.id, delivery_ids), Delivery.status == DeliveryStatus.UNKNOWN)
        .values(
            status=DeliveryStatus.PENDING,
            claimed_by=None,
            lease_until=None,
            next_attempt_at=None,
            updated_at=now,
        )
    )
    return int(getattr(done, "rowcount", 0) or 0)


def unknown_ids_on(session: Session, day: date) -> list[int]:
    query = select(Delivery.id).where(Delivery.digest_date == day, Delivery.status == DeliveryStatus.UNKNOWN)
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    id: int
    email: str
    status: str
    topics: tuple[str, ...]
    bounce_count: int
    last_digest: date | None
    next_send_at: datetime | None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_subscribers(
    session: Session, address: str, status: str | None, offset: int, limit: int
) -> tuple[int, list[SubscriberRow]]:
    """(how many match, one page of them by id) for a part of the address and an optional state."""
    where: list[ColumnElement[bool]] = []
    if address:  # addresses are stored lower-cased (normalise_address)
        where.append(Subscriber.email.like(_like_pattern(address.lower()), escape="\\"))
    if status:
        where.append(Subscriber.status == status)
    query = (
        select(Subscriber)
        .where(*where)
        .options(selectinload(Subscriber.interests))
        .order_by(Subscriber.id)
        .offset(offset)
        .limit(limit)
    )
    people = list(session.scalars(query))
    if len(people) < limit and (people or offset == 0):  # the last page: no second scan to count
        total = offset + len(people)
    else:
        total = session.scalar(select(func.count()).select_from(Subscriber).where(*where)) or 0
    last = _last_sent(session, [person.id for person in people])
    rows = [
        SubscriberRow(
            p.id,
            p.email,
            p.status,
            tuple(i.query for i in p.interests),
            p.bounce_count,
            last.get(p.id),
            p.next_send_at,
        )
        for p in people
    ]
    return total, rows


def _last_sent(session: Session, ids: Sequence[int]) -> dict[int, date]:
    if not ids:
        return {}
    query = (
        select(Delivery.subscriber_id, func.max(Delivery.digest_date))
        # `status || ''`: a plain `status =` let SQLite walk ix_deliveries_status (every sent row: 0.95 s
        # at 3 M rows) instead of each subscriber's few rows by the (subscriber_id, digest_date) key.
        .where(among(session, Delivery.subscriber_id, ids), Delivery.status.concat("") == DeliveryStatus.SENT)
        .group_by(Delivery.subscriber_id)
    )
    return dict(session.execute(query).all())


def change_state(session: Session, subscriber_id: int, action: str, now: datetime) -> bool:
    """Pause an active subscriber, resume a paused one, or unsubscribe anyone; False when the action does
    not apply to their state (or there is no such subscriber)."""
    person = session.get(Subscriber, subscriber_id)
    if person is None:
        return False
    if action == "pause" and person.status == SubscriberStatus.ACTIVE:
        person.status = SubscriberStatus.PAUSED
    elif action == "resume" and person.status == SubscriberStatus.PAUSED:
        person.status = SubscriberStatus.ACTIVE
    elif action == "unsubscribe" and person.status != SubscriberStatus.UNSUBSCRIBED:
        unsubscribe(person)
    else:
        return False
    reschedule(person, now)  # as the manage page does: resumed, due from today on, never a day sent
    return True


def sources_by_name(session: Session) -> dict[str, Source]:
    return {row.name: row for row in session.scalars(select(Source))}


def fetch_now(session: Session, name: str, now: datetime) -> bool:
    """Make the source due now: the scheduler fetches it on its next tick. False for an unknown row
    (a configured source without a row has never been fetched, so it is due already)."""
    row = session.scalar(select(Source).where(Source.name == name))
    if row is None:
        return False
    row.next_fetch_at = now
    return True
