"""Queries that answer "what is due now?": the database is the schedule.

`subscribers.next_send_at` is when a subscriber's next digest falls due; the ledger says whether a date is
done. `due_digests` walks each subscriber past the dates the ledger has finished, so a stored schedule can
never make a date go out twice, and the pipeline needs no extra call after sending.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, object_session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from digest.models import Delivery, Source, Subscriber, SubscriberStatus
from digest.schedule import digest_date_of, due_dates, first_send_at, next_send_after, send_time_from
from digest.store_ledger import DONE, finished_dates
from digest.store_subscribers import list_subscribers

MAX_MISSED_DIGESTS = 3  # after an outage, at most this many missed dates go out per subscriber
_CHUNK = 500  # bound the size of IN (...) lists


def due_digests(
    session: Session,
    now: datetime,
    digest_date: date | None = None,
    *,
    max_missed: int = MAX_MISSED_DIGESTS,
    with_interests: bool = True,
) -> list[tuple[Subscriber, date]]:
    """Active subscribers whose digest is due at `now` (or for `digest_date`) and not yet done.

    Without `digest_date`, each subscriber appears at most once, with the oldest date still owed: after an
    outage the next call brings the next date, so one subscriber never gets two digests ranked alike.
    `with_interests=False` skips loading their interests, for callers that only write ledger rows (at
    100,000 subscribers that load is most of the enqueue step).
    """
    if digest_date is not None:
        subscribers = list_subscribers(session, [SubscriberStatus.ACTIVE])
        done = finished_dates(session, [s.id for s in subscribers], [digest_date])
        return [(s, digest_date) for s in subscribers if (s.id, digest_date) not in done]
    subscribers = _scheduled_by(session, now, with_interests)
    pairs: list[tuple[Subscriber, date]] = []
    for start in range(0, len(subscribers), _CHUNK):  # one ledger query per chunk, not per subscriber
        pairs += _owed(session, subscribers[start : start + _CHUNK], now, max_missed)
    return pairs


def scheduled_count(session: Session, now: datetime, digest_date: date | None = None) -> int:
    """How many subscribers `due_digests` would look at: at least as many as it returns, and cheap."""
    query = select(func.count()).select_from(Subscriber).where(Subscriber.status == SubscriberStatus.ACTIVE)
    if digest_date is None:
        query = query.where(_scheduled(now))
    return session.scalar(query) or 0


def _scheduled(now: datetime) -> ColumnElement[bool]:
    return or_(Subscriber.next_send_at.is_(None), Subscriber.next_send_at <= now)


def _scheduled_by(session: Session, now: datetime, with_interests: bool) -> list[Subscriber]:
    query = (
        select(Subscriber)
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .where(_scheduled(now))
        .order_by(Subscriber.next_send_at, Subscriber.id)
    )
    if with_interests:
        query = query.options(selectinload(Subscriber.interests))
    return list(session.scalars(query))


def _owed(
    session: Session, subscribers: list[Subscriber], now: datetime, max_missed: int
) -> list[tuple[Subscriber, date]]:
    """Each subscriber's oldest date still owed; moves `next_send_at` past the finished and dropped ones."""
    days: dict[int, list[date]] = {}
    for subscriber in subscribers:
        if subscriber.next_send_at is None:  # activated by code that did not call reschedule()
            reschedule(subscriber, now)
        assert subscriber.next_send_at is not None
        days[subscriber.id] = due_dates(
            subscriber.next_send_at, now, subscriber.timezone, subscriber.send_hour, max_missed
        )
    done = finished_dates(session, list(days), [day for dates in days.values() for day in dates])
    pairs: list[tuple[Subscriber, date]] = []
    for subscriber in subscribers:
        zone, hour, due = subscriber.timezone, subscriber.send_hour, days[subscriber.id]
        owed = [day for day in due if (subscriber.id, day) not in done]
        if owed:
            moment = send_time_from(owed[0], zone, hour)
            pairs.append((subscriber, owed[0]))
        elif due:
            moment = next_send_after(send_time_from(due[-1], zone, hour), zone, hour)
        else:  # the stored moment is no send time (hour or zone changed without reschedule())
            moment = next_send_after(now, zone, hour)
        # Usually unchanged (today's date, still owed): left clean, the session has nothing to flush for
        # it before the next chunk's query (at 30,000 subscribers, most of a second of the enqueue).
        if subscriber.next_send_at != moment:
            subscriber.next_send_at = moment
    return pairs


def reschedule(subscriber: Subscriber, now: datetime) -> None:
    """Set when the subscriber is next due; call when they become active or change hour or time zone.

    Not active: no schedule. Active: their own today's digest (at once if the hour has passed), never a
    date at or before the last one in their ledger.
    """
    if subscriber.status != SubscriberStatus.ACTIVE:
        subscriber.next_send_at = None
        return
    last = _last_ledger_date(subscriber)
    not_before = None if last is None else last + timedelta(days=1)
    subscriber.next_send_at = first_send_at(now, subscriber.timezone, subscriber.send_hour, not_before)


def _last_ledger_date(subscriber: Subscriber) -> date | None:
    session = object_session(subscriber)
    if session is None or subscriber.id is None:
        return None
    return session.scalar(
        select(func.max(Delivery.digest_date)).where(Delivery.subscriber_id == subscriber.id)
    )


@dataclass(frozen=True, slots=True)
class NextDue:
    email: str
    due_at: datetime
    digest_date: date
    timezone: str


def next_due(session: Session, limit: int = 10) -> list[NextDue]:
    """The next digests to fall due, soonest first, for `digest status`."""
    query = (
        select(Subscriber)
        .where(Subscriber.status == SubscriberStatus.ACTIVE, Subscriber.next_send_at.is_not(None))
        .order_by(Subscriber.next_send_at, Subscriber.id)
        .limit(limit)
    )
    return [
        NextDue(s.email, s.next_send_at, digest_date_of(s.next_send_at, s.timezone), s.timezone)
        for s in session.scalars(query)
        if s.next_send_at is not None
    ]


def upcoming_send_times(session: Session, now: datetime, horizon: timedelta) -> list[datetime]:
    """Distinct due moments in the next `horizon`: what the fetch anchor is computed from."""
    query = (
        select(Subscriber.next_send_at)
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .where(Subscriber.next_send_at.is_not(None), Subscriber.next_send_at < now + horizon)
        .distinct()
    )
    return [moment for moment in session.scalars(query) if moment is not None]


def fetch_due_at(session: Session, names: Sequence[str], now: datetime) -> dict[str, datetime | None]:
    """Configured sources whose fetch is due: name -> when it fell due (None: never fetched)."""
    rows = {s.name: s for s in session.scalars(select(Source).where(Source.name.in_(list(names))))}
    due: dict[str, datetime | None] = {}
    for name in names:
        row = rows.get(name)
        if row is None or row.next_fetch_at is None:
            due[name] = None
        elif row.next_fetch_at <= now:
            due[name] = row.next_fetch_at
    return due


def set_next_fetch(session: Session, moments: dict[str, datetime]) -> None:
    for row in session.scalars(select(Source).where(Source.name.in_(list(moments)))):
        row.next_fetch_at = moments[row.name]


def expire_pending(session: Session, now: datetime, max_age: timedelta) -> int:
    """Forget addresses that never confirmed within `max_age` (Mailman: 3 days): no mail, no data kept."""
    cutoff = now - max_age
    stale = select(Subscriber.id).where(
        Subscriber.status == SubscriberStatus.PENDING,
        func.coalesce(Subscriber.confirm_sent_at, Subscriber.created_at) < cutoff,
    )
    return _delete_ids(session, Subscriber, list(session.scalars(stale)))


def prune_ledger(session: Session, today: date, retention_days: int) -> int:
    """Delete finished ledger rows older than the retention. Their sent-paper rows go with them, which
    is safe only because retention is longer than any paper stays a candidate (settings enforce it)."""
    old = select(Delivery.id).where(
        Delivery.digest_date < today - timedelta(days=retention_days), Delivery.status.in_(DONE)
    )
    return _delete_ids(session, Delivery, list(session.scalars(old)))


def _delete_ids(session: Session, model: type[Subscriber] | type[Delivery], ids: Iterable[int]) -> int:
    chosen, count = list(ids), 0
    for start in range(0, len(chosen), 500):  # bound the IN (...) list
        chunk = chosen[start : start + 500]
        session.execute(delete(model).where(model.id.in_(chunk)).execution_options(synchronize_session=False))
        count += len(chunk)
    return count
