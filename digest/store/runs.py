"""Each ingest or send run, as `digest status` lists them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.store.models import Run


def start_run(session: Session, kind: str, now: datetime) -> Run:
    run = Run(kind=kind, started_at=now, summary={})
    session.add(run)
    session.flush()
    return run


def last_runs(session: Session, limit: int = 5) -> list[Run]:
    return list(session.scalars(select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)))


def finish_run(session: Session, run_id: int, when: datetime, summary: dict[str, Any]) -> None:
    row = session.get(Run, run_id)
    if row is not None:
        row.finished_at = when
        row.summary = summary
