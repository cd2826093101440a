"""Vectors shipped beside the demo's snapshot (bench/snapshot_vectors.py) are stored for the papers that
lack one, and only when they come from the installed model's own files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import FIXTURES, NOW
from sqlalchemy import select

from digest import sources
from digest.context import Context
from digest.embedding.model import FILES_SHA256, MODEL_NAME
from digest.embedding.vectors import store_shipped_vectors
from digest.store.db import transaction
from digest.store.embeddings import from_bytes
from digest.store.models import Paper
from digest.store.papers import upsert_papers

HF = FIXTURES / "hf-daily-papers_2026-06_30papers.json"


def _shipped(path: Path, keys: list[str], files: dict[str, str]) -> np.ndarray:
    vectors = np.random.default_rng(3).normal(size=(len(keys), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.savez(path, keys=np.array(keys), vectors=vectors, model=np.array(MODEL_NAME),
             files=np.array(sorted(files.items())))  # fmt: skip
    return vectors


def test_shipped_vectors_fill_in_what_is_missing_and_nothing_else(ctx: Context, tmp_path: Path) -> None:
    papers = sources.parse(
        "hf_daily", (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes()
    ).papers
    with transaction(ctx.sessions) as session:
        upsert_papers(session, papers, NOW)
    keys = [papers[0].key, papers[1].key, "arxiv:0000.00000"]  # the last one is not in the database
    vectors = _shipped(tmp_path / "v.npz", keys, FILES_SHA256)
    with transaction(ctx.sessions) as session:
        assert store_shipped_vectors(session, tmp_path / "v.npz") == 2
    with transaction(ctx.sessions) as session:
        assert store_shipped_vectors(session, tmp_path / "v.npz") == 0  # already there
        rows = {p.key: p for p in session.scalars(select(Paper).where(Paper.embedding.is_not(None)))}
    assert sorted(rows) == sorted(keys[:2])
    for key, vector in zip(keys[:2], vectors, strict=False):
        assert rows[key].embedding_model == MODEL_NAME
        assert np.array_equal(from_bytes(rows[key].embedding or b""), vector)


def test_vectors_from_other_model_files_are_not_mixed_in(ctx: Context, tmp_path: Path) -> None:
    papers = sources.parse(
        "hf_daily", (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes()
    ).papers
    with transaction(ctx.sessions) as session:
        upsert_papers(session, papers, NOW)
    other = dict.fromkeys(FILES_SHA256, "0" * 64)
    _shipped(tmp_path / "v.npz", [papers[0].key], other)
    with transaction(ctx.sessions) as session:
        assert store_shipped_vectors(session, tmp_path / "v.npz") == 0
        assert session.scalar(select(Paper.embedding).where(Paper.key == papers[0].key)) is None
