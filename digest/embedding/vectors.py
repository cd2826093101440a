"""Computing the vectors ranking needs, once: papers when they are stored, topics when they change.

Embedding is the slow part (a fraction of a second per abstract on the CPU), so it never happens while
ranking, except for vectors missing at that point (see `vectors_for_ranking`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from digest.embedding.model import FILES_SHA256, MODEL_NAME, effective_method, load, paper_text
from digest.records import Vectors
from digest.store.embeddings import (
    load_vectors,
    papers_by_key_without_vectors,
    papers_without_vectors,
    store_vectors,
    topics_without_vectors,
)
from digest.store.subscribers import feedback_for

BATCH = 64  # papers embedded and flushed at a time

Floats = NDArray[np.float32]


class TextEmbedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> Floats: ...


def embed_papers(session: Session, embedder: TextEmbedder, paper_ids: Iterable[int] | None = None) -> int:
    """Compute and store vectors for the papers (all, or `paper_ids`) that lack one from this model."""
    papers = papers_without_vectors(session, embedder.name, paper_ids)
    for start in range(0, len(papers), BATCH):
        batch = papers[start : start + BATCH]
        vectors = embedder.embed([paper_text(p.title, p.abstract or "") for p in batch])
        store_vectors(session, batch, vectors, embedder.name)
    return len(papers)


def embed_interests(
    session: Session, embedder: TextEmbedder, subscriber_ids: Iterable[int] | None = None
) -> int:
    """Compute and store vectors for the topics (of `subscriber_ids`, or all) that lack one."""
    topics = topics_without_vectors(session, embedder.name, subscriber_ids)
    if topics:
        store_vectors(session, topics, embedder.embed([topic.query for topic in topics]), embedder.name)
    return len(topics)


def store_shipped_vectors(session: Session, path: Path) -> int:
    """Store the vectors of a file written by bench/snapshot_vectors.py for the papers that lack one, when
    they come from the installed model's very files; how many were stored (0 for another model)."""
    with np.load(path) as shipped:
        same = str(shipped["model"]) == MODEL_NAME and dict(shipped["files"].tolist()) == FILES_SHA256
        if not same:
            return 0
        by_key = dict(zip(shipped["keys"].tolist(), shipped["vectors"], strict=True))
    rows = papers_by_key_without_vectors(session, MODEL_NAME, by_key)
    if rows:
        store_vectors(session, rows, np.stack([by_key[row.key] for row in rows]), MODEL_NAME)
    return len(rows)


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
    """The stored vectors `rank` needs for the hybrid ranker, or None when ranking is lexical: those of the
    papers, of the subscribers' topics, and of the papers the subscribers voted on ("more / less like
    this"), which feedback compares with the day's papers and which may be from earlier days.

    Vectors missing at this point (papers stored before the extra was installed, topics changed by a path
    that did not embed them) are computed first, so that a run never ranks half of its topics lexically.
    """
    voted = sorted({pid for votes in feedback_for(session, subscriber_ids).values() for pid in votes})
    wanted = sorted(set(paper_ids).union(voted))
    if not embed_if_enabled(session, method, wanted, subscriber_ids):
        return None
    return load_vectors(session, wanted, subscriber_ids, MODEL_NAME)
