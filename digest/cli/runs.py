"""Record each ingest or send run, for `digest status`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from digest.context import Context
from digest.store.db import transaction
from digest.store.runs import finish_run, start_run


@contextmanager
def recorded_run(ctx: Context, kind: str, now: datetime, *, record: bool = True) -> Iterator[dict[str, Any]]:
    """Yield a summary dict to fill; the run is stored with it when the block ends, failed or not."""
    summary: dict[str, Any] = {}
    if not record:
        yield summary
        return
    with transaction(ctx.sessions) as session:
        run_id = start_run(session, kind, now).id
    try:
        yield summary
    except BaseException as exc:
        summary["error"] = str(exc) or type(exc).__name__
        raise
    finally:
        with transaction(ctx.sessions) as session:
            finish_run(session, run_id, datetime.now(UTC), summary)
