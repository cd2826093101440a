"""SQLAlchemy 2.0 typed models: the data and its invariants, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from digest.schedule.cadence import CADENCES, DAILY

# Stable constraint names, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no time zone, and mixing both breaks comparisons."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[int]: JSON,
    }


class SubscriberStatus(StrEnum):
    PENDING = "pending"  # waiting for the double opt-in
    ACTIVE = "active"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCING = "bouncing"  # permanent failures reached the limit: no more mail


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the connection died after the data was handed over: it may have arrived
    SKIPPED = "skipped"  # nothing to send that day (no match and on_no_match = "skip")


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_fetch_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(20))  # ok, not_modified, error, empty
    last_error: Mapped[str | None] = mapped_column(Text)
    last_new: Mapped[int] = mapped_column(default=0)
    last_updated: Mapped[int] = mapped_column(default=0)
    next_fetch_at: Mapped[datetime | None]


class Paper(Base):
    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # arxiv:<id> | doi:<doi> | url:<url>
    arxiv_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    doi: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list[str]] = mapped_column(default=list)
    categories: Mapped[list[str]] = mapped_column(default=list)
    keywords: Mapped[list[str]] = mapped_column(default=list)
    url: Mapped[str] = mapped_column(Text)
    pdf_url: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None]
    announce_type: Mapped[str | None] = mapped_column(String(20))
    upvotes: Mapped[int | None]
    comments: Mapped[int | None]
    github_repo: Mapped[str | None] = mapped_column(Text)
    github_stars: Mapped[int | None]
    project_page: Mapped[str | None] = mapped_column(Text)
    ai_summary: Mapped[str | None] = mapped_column(Text)
    seen_in: Mapped[list[str]] = mapped_column(default=list)  # source kinds that reported it
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 vector of title + abstract
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        CheckConstraint("send_hour >= 0 AND send_hour <= 23", name="send_hour"),
        CheckConstraint("cadence IN (" + ", ".join(f"'{c}'" for c in CADENCES) + ")", name="cadence"),
        CheckConstraint("papers IS NULL OR (papers >= 1 AND papers <= 50)", name="papers"),
        Index("ix_subscribers_status_next_send_at", "status", "next_send_at"),  # the dashboard's counts
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=SubscriberStatus.PENDING)
    send_hour: Mapped[int] = mapped_column(Integer, default=7)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    cadence: Mapped[str] = mapped_column(String(16), default=DAILY, server_default=DAILY)
    papers: Mapped[int | None]  # how many papers a digest holds; None: the `[digest] max_papers` setting
    token_version: Mapped[int] = mapped_column(default=1)
    bounce_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    # The database is the schedule: when this subscriber's next digest falls due (UTC).
    next_send_at: Mapped[datetime | None] = mapped_column(index=True)
    confirm_sent_at: Mapped[datetime | None]  # the last confirmation mail: at most one a day
    interests: Mapped[list[Interest]] = relationship(
        back_populates="subscriber", order_by="Interest.position", cascade="all, delete-orphan"
    )


class Interest(Base):
    """One topic of a subscriber's interests, as they wrote it (parsed again when ranking)."""

    __tablename__ = "interests"
    __table_args__ = (UniqueConstraint("subscriber_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    position: Mapped[int]
    query: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 vector of the topic text
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    subscriber: Mapped[Subscriber] = relationship(back_populates="interests")


class Delivery(Base):
    """The ledger: one row per subscriber and digest date, written before any SMTP traffic."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "digest_date"),
        Index("ix_deliveries_status", "status"),
        Index("ix_deliveries_digest_date_status", "digest_date", "status"),  # the dashboard's days
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    digest_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    message_id: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    paper_ids: Mapped[list[int]] = mapped_column(default=list)  # the ranked papers, best first
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))  # the worker holding the lease
    lease_until: Mapped[datetime | None]  # past this, a `sending` row's worker is presumed dead
    next_attempt_at: Mapped[datetime | None]  # a `retry` row waits until then


class SentPaper(Base):
    """Which papers each subscriber has been sent: the never-twice rule of the ranking.

    A row lives and dies with the delivery that sent it (which lives and dies with its subscriber): that
    one foreign key, with its index, is what deletes rows when the ledger is pruned or a subscriber leaves.
    Until the seventh session the subscriber and paper columns had their own: each of the ~10 rows written
    a digest then locked a subscriber and a paper row (the hot papers shared by every sender), about a
    quarter of the database's CPU for a ledger window, for no row they could keep (a paper is never
    deleted, and a subscriber's rows go with their deliveries); and without an index on `delivery_id` each
    pruned delivery made the database scan the whole table.
    """

    __tablename__ = "sent_papers"

    subscriber_id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)


class Feedback(Base):
    """A subscriber's "more like this" (+1) or "less like this" (-1) on a paper."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("vote IN (-1, 1)", name="vote"),)

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    vote: Mapped[int]
    created_at: Mapped[datetime]


class Run(Base):
    """One ingest or send run, for `digest status`."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class InstanceSecret(Base):
    """A secret this installation made for itself: the link-signing key when none is configured. Kept in
    the database so every command and every host of one installation finds the same one."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
