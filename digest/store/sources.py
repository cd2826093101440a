"""The sources' rows: one per configured source, with what its last fetch said and when it is next due."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.store.models import Source


def source_row(session: Session, name: str, kind: str, url: str) -> Source:
    """The source's row, created on first use and kept in step with the settings."""
    row = session.scalar(select(Source).where(Source.name == name))
    if row is None:
        row = Source(name=name, kind=kind, url=url)
        session.add(row)
    elif (row.kind, row.url) != (kind, url):
        # A changed URL is another resource: its validators no longer apply.
        row.kind, row.url, row.etag, row.last_modified = kind, url, None, None
    session.flush()
    return row


def list_sources(session: Session) -> list[Source]:
    return list(session.scalars(select(Source).order_by(Source.name)))
