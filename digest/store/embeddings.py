"""Embeddings stored beside papers and topics (papers.embedding, interests.embedding).

Vectors are float32 bytes with the model's name in `embedding_model`, so a model change recomputes them.
The same code runs on SQLite and PostgreSQL (LargeBinary is BLOB / BYTEA). Computing them is
`digest.embedding`'s business; this module only finds the rows that lack one, stores and loads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from digest.records import Vectors
from digest.store.models import Interest, Paper

Floats = NDArray[np.float32]


def to_bytes(vector: Floats) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes) -> Floats:
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _stale(
    column: InstrumentedAttribute[bytes | None], model: InstrumentedAttribute[str | None], name: str
) -> ColumnElement[bool]:
    """Rows without a vector from this model (none yet, or one from another model)."""
    return or_(column.is_(None), model.is_(None), model != name)


def papers_without_vectors(
    session: Session, model: str, paper_ids: Iterable[int] | None = None
) -> list[Paper]:
    """The papers (all, or `paper_ids`) that lack a vector from `model`, by id."""
    query = select(Paper).where(_stale(Paper.embedding, Paper.embedding_model, model))
    if paper_ids is not None:
        query = query.where(Paper.id.in_(list(paper_ids)))
    return list(session.scalars(query.order_by(Paper.id)))


def papers_by_key_without_vectors(session: Session, model: str, keys: Iterable[str]) -> list[Paper]:
    """The papers with these keys that lack a vector from `model`."""
    wanted = list(keys)
    found: list[Paper] = []
    for start in range(0, len(wanted), 500):  # bound the size of IN (...) lists
        query = select(Paper).where(
            Paper.key.in_(wanted[start : start + 500]), _stale(Paper.embedding, Paper.embedding_model, model)
        )
        found.extend(session.scalars(query))
    return found


def topics_without_vectors(
    session: Session, model: str, subscriber_ids: Iterable[int] | None = None
) -> list[Interest]:
    """The topics (of `subscriber_ids`, or all) that lack a vector from `model`."""
    query = select(Interest).where(_stale(Interest.embedding, Interest.embedding_model, model))
    if subscriber_ids is not None:
        query = query.where(Interest.subscriber_id.in_(list(subscriber_ids)))
    return list(session.scalars(query.order_by(Interest.id)))


def store_vectors(session: Session, rows: Sequence[Paper | Interest], vectors: Floats, model: str) -> None:
    for row, vector in zip(rows, vectors, strict=True):
        row.embedding, row.embedding_model = to_bytes(vector), model
    session.flush()


def load_vectors(
    session: Session, paper_ids: Iterable[int], subscriber_ids: Iterable[int], model: str
) -> Vectors:
    """The stored vectors of these papers and of these subscribers' topics (keyed by topic text)."""
    papers = session.execute(
        select(Paper.id, Paper.embedding).where(
            Paper.id.in_(list(paper_ids)), Paper.embedding.is_not(None), Paper.embedding_model == model
        )
    )
    topics = session.execute(
        select(Interest.query, Interest.embedding).where(
            Interest.subscriber_id.in_(list(subscriber_ids)),
            Interest.embedding.is_not(None),
            Interest.embedding_model == model,
        )
    )
    return Vectors(
        {pid: from_bytes(raw) for pid, raw in papers if raw is not None},
        {text.strip(): from_bytes(raw) for text, raw in topics if raw is not None},
    )
