"""Embeddings stored beside papers and topics (papers.embedding, interests.embedding), computed once.

Vectors are float32 bytes with the model's name in `embedding_model`, so a model change recomputes them.
The same code runs on SQLite and PostgreSQL (LargeBinary is BLOB / BYTEA). Embedding is the slow part
(a fraction of a second per abstract on the CPU), so it happens when papers are stored and when a
subscriber's interests change, never while ranking.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from digest.embedding.model import MODEL_NAME, effective_method, load, paper_text
from digest.rank.hybrid import Vectors
from digest.store.models import Interest, Paper

log = logging.getLogger(__name__)
BATCH = 64  # papers embedded and flushed at a time

Floats = NDArray[np.float32]


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> Floats: ...


def to_bytes(vector: Floats) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes) -> Floats:
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _stale(
    column: InstrumentedAttribute[bytes | None], model: InstrumentedAttribute[str | None], name: str
) -> ColumnElement[bool]:
    """Rows without a vector from this model (none yet, or one from another model)."""
    return or_(column.is_(None), model.is_(None), model != name)


def embed_papers(session: Session, embedder: Embedder, paper_ids: Iterable[int] | None = None) -> int:
    """Compute and store vectors for the papers (all, or `paper_ids`) that lack one from this model."""
    query = select(Paper).where(_stale(Paper.embedding, Paper.embedding_model, embedder.name))
    if paper_ids is not None:
        query = query.where(Paper.id.in_(list(paper_ids)))
    papers = list(session.scalars(query.order_by(Paper.id)))
    for start in range(0, len(papers), BATCH):
        batch = papers[start : start + BATCH]
        vectors = embedder.embed([paper_text(p.title, p.abstract or "") for p in batch])
        for paper, vector in zip(batch, vectors, strict=True):
            paper.embedding, paper.embedding_model = to_bytes(vector), embedder.name
        session.flush()
    return len(papers)


def embed_interests(session: Session, embedder: Embedder, subscriber_ids: Iterable[int] | None = None) -> int:
    """Compute and store vectors for the topics (of `subscriber_ids`, or all) that lack one."""
    query = select(Interest).where(_stale(Interest.embedding, Interest.embedding_model, embedder.name))
    if subscriber_ids is not None:
        query = query.where(Interest.subscriber_id.in_(list(subscriber_ids)))
    topics = list(session.scalars(query.order_by(Interest.id)))
    if topics:
        vectors = embedder.embed([topic.query for topic in topics])
        for topic, vector in zip(topics, vectors, strict=True):
            topic.embedding, topic.embedding_model = to_bytes(vector), embedder.name
        session.flush()
    return len(topics)


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


def embed_if_enabled(
    session: Session,
    method: str,
    paper_ids: Iterable[int] | None = None,
    subscriber_ids: Iterable[int] | None = None,
) -> bool:
    """With the hybrid ranker on and the extra installed, store the missing vectors of these papers and
    these subscribers' topics (None = all); False (and nothing done) otherwise."""
    if effective_method(method) != "hybrid":
        return False
    embedder = load()
    embed_papers(session, embedder, paper_ids)
    embed_interests(session, embedder, subscriber_ids)
    return True


def vectors_for_ranking(
    session: Session, method: str, paper_ids: Sequence[int], subscriber_ids: Sequence[int]
) -> Vectors | None:
    """The stored vectors `rank` needs for the hybrid ranker, or None when ranking is lexical.

    Vectors missing at this point (papers stored before the extra was installed, topics changed by a path
    that did not embed them) are computed first, so that a run never ranks half of its topics lexically.
    """
    if not embed_if_enabled(session, method, paper_ids, subscriber_ids):
        return None
    return load_vectors(session, paper_ids, subscriber_ids, MODEL_NAME)
