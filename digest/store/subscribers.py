"""Queries about subscribers, their interests and their feedback."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import inspect, or_, select, update
from sqlalchemy.orm import Session, object_session, selectinload

from digest.errors import DigestError, NotFound
from digest.schedule.cadence import DAILY
from digest.store.db import among
from digest.store.models import Feedback, Interest, Subscriber, SubscriberStatus


class _Topic(Protocol):
    @property
    def text(self) -> str: ...


class Interests(Protocol):
    """Parsed interests (`digest.rank.Interests`), as far as storing them goes: the topics' texts."""

    @property
    def topics(self) -> Sequence[_Topic]: ...


def add_subscriber(
    session: Session,
    email: str,
    interests: Interests,
    *,
    send_hour: int,
    timezone: str,
    now: datetime,
    confirmed: bool,
    cadence: str = DAILY,
    papers: int | None = None,
) -> Subscriber:
    if find_subscriber(session, email, missing_ok=True) is not None:
        raise DigestError(f"{email} is already subscribed; use `digest interests` to change their interests")
    subscriber = Subscriber(
        email=email,
        status=SubscriberStatus.ACTIVE if confirmed else SubscriberStatus.PENDING,
        send_hour=send_hour,
        timezone=timezone,
        cadence=cadence,
        papers=papers,
        created_at=now,
        confirmed_at=now if confirmed else None,
    )
    session.add(subscriber)
    set_interests(subscriber, interests)
    session.flush()
    return subscriber


def set_interests(subscriber: Subscriber, interests: Interests) -> None:
    session = object_session(subscriber)
    if session is not None and inspect(subscriber).persistent:
        _lock_interests(session, subscriber)
    # A topic that stays keeps its vector: embedding is the slow part of the hybrid ranker.
    kept = {row.query: (row.embedding, row.embedding_model) for row in subscriber.interests}
    subscriber.interests.clear()
    if session is not None:  # delete the old topics first: the unit of work inserts before it deletes
        session.flush()
    for index, topic in enumerate(interests.topics):
        vector, model = kept.get(topic.text, (None, None))
        subscriber.interests.append(
            Interest(position=index, query=topic.text, embedding=vector, embedding_model=model)
        )


def _lock_interests(session: Session, subscriber: Subscriber) -> None:
    """Hold the subscriber's row until commit, then read their topics again.

    Two saves of one manage page at once each deleted the topics they had read and inserted positions
    0..n: on PostgreSQL the second insert then met the first's rows (UniqueViolation
    uq_interests_subscriber_id, 21 of 30 double clicks). Behind the row lock the second save waits for the
    first to commit and replaces what it wrote. SQLite has no FOR UPDATE (SQLAlchemy leaves it out); there
    `transaction()` already holds the database's write lock from BEGIN IMMEDIATE."""
    session.execute(select(Subscriber.id).where(Subscriber.id == subscriber.id).with_for_update())
    session.refresh(subscriber, ["interests"])


def interests_text(subscriber: Subscriber) -> str:
    """The subscriber's interests, one topic a line, as `parse_interests` reads them."""
    return "\n".join(interest.query for interest in subscriber.interests)


def find_subscriber(session: Session, email: str, *, missing_ok: bool = False) -> Subscriber | None:
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.email == email).options(selectinload(Subscriber.interests))
    )
    if subscriber is None and not missing_ok:
        raise NotFound(f"no subscriber {email}")
    return subscriber


def get_subscriber(session: Session, email: str) -> Subscriber:
    subscriber = find_subscriber(session, email)
    assert subscriber is not None  # find_subscriber raised otherwise
    return subscriber


def list_subscribers(session: Session, statuses: Iterable[str] | None = None) -> list[Subscriber]:
    query = select(Subscriber).options(selectinload(Subscriber.interests)).order_by(Subscriber.id)
    if statuses is not None:
        query = query.where(Subscriber.status.in_(list(statuses)))
    return list(session.scalars(query))


def unsubscribe(subscriber: Subscriber) -> None:
    """Stop all mail to the address, at once and for good (idempotent)."""
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.token_version += 1  # old manage links stop working; unsubscribe links still say "done"


def record_feedback(session: Session, subscriber_id: int, paper_id: int, vote: int, now: datetime) -> None:
    """Remember "more like this" (+1) or "less like this" (-1); a new vote replaces the old one."""
    if vote not in (-1, 1):
        raise ValueError("vote must be +1 or -1")
    row = session.get(Feedback, (subscriber_id, paper_id))
    if row is None:
        session.add(Feedback(subscriber_id=subscriber_id, paper_id=paper_id, vote=vote, created_at=now))
    else:
        row.vote, row.created_at = vote, now
    session.flush()


def feedback_for(session: Session, subscriber_ids: Iterable[int]) -> dict[int, dict[int, int]]:
    """subscriber id -> {paper id: vote}."""
    votes: dict[int, dict[int, int]] = {}
    ids = list(subscriber_ids)
    if not ids:
        return votes
    for row in session.scalars(select(Feedback).where(among(session, Feedback.subscriber_id, ids))):
        votes.setdefault(row.subscriber_id, {})[row.paper_id] = row.vote
    return votes


def subscriber_by_id(session: Session, subscriber_id: int) -> Subscriber | None:
    return session.scalar(
        select(Subscriber).where(Subscriber.id == subscriber_id).options(selectinload(Subscriber.interests))
    )


def claim_mail_slot(session: Session, subscriber_id: int, now: datetime, cooldown: timedelta) -> bool:
    """Take the address's one web-initiated mail per `cooldown`; False when one went out more recently.

    A conditional UPDATE, so two requests racing for the same address cannot both send.
    """
    result = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber_id,
            or_(Subscriber.confirm_sent_at.is_(None), Subscriber.confirm_sent_at <= now - cooldown),
        )
        .values(confirm_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def release_mail_slot(session: Session, subscriber_id: int, taken_at: datetime) -> None:
    """Give the slot back when the mail could not be handed over, so the person can try again."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.confirm_sent_at == taken_at)
        .values(confirm_sent_at=None)
        .execution_options(synchronize_session=False)
    )


def load_subscribers(session: Session, ids: Iterable[int]) -> dict[int, Subscriber]:
    """id -> subscriber, interests loaded, for these ids."""
    query = select(Subscriber).where(among(session, Subscriber.id, sorted(set(ids))))
    query = query.options(selectinload(Subscriber.interests))
    return {row.id: row for row in session.scalars(query)}


def send_times(session: Session, emails: Iterable[str]) -> dict[str, tuple[str, int]]:
    """email -> (time zone, send hour) of these subscribers."""
    query = select(Subscriber.email, Subscriber.timezone, Subscriber.send_hour)
    return {
        email: (zone, hour)
        for email, zone, hour in session.execute(query.where(Subscriber.email.in_(list(emails))))
    }


def delete_subscriber(session: Session, subscriber: Subscriber) -> None:
    """Forget a subscriber with everything of theirs (interests, feedback, ledger rows cascade)."""
    session.delete(subscriber)
    session.flush()
