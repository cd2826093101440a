"""The two methods bench/rank_quality.py adds when the `semantic` extra is installed.

`embedding`: papers ordered by the best cosine between a topic's vector and the paper's (title + abstract)
vector, the approach of embedding recommenders. `hybrid`: digest's ranker with `method = "hybrid"`.
Paper vectors are computed once per run (or read from PAPERS.<model>.npy beside PAPERS.jsonl when present,
rows in file order, as written by a previous run with the same model), topic vectors per query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from digest.embedding import model as semantic
from digest.rank import Profile, RankSettings, parse_interests, rank
from digest.records import Candidate, Vectors

if not semantic.available():
    raise ImportError("the semantic extra is not installed")

Method = Callable[[Sequence[Candidate], str], list[int]]
_NOW = datetime(2030, 1, 1, tzinfo=UTC)  # as rank_quality: no paper is fresh


class Store:
    """Paper vectors by id, computed lazily for the papers first seen, cached on disk beside the papers."""

    def __init__(self) -> None:
        self.embedder = semantic.load()
        self.papers: dict[int, np.ndarray] = {}
        self.topics: dict[str, np.ndarray] = {}

    def load_file(self, papers_path: Path, papers: Sequence[Candidate]) -> None:
        # Named after the model, so that a model change never reads another model's vectors.
        cached = papers_path.with_suffix(f".{semantic.MODEL_NAME}.npy")
        if cached.exists():
            matrix = np.load(cached)
            # Rows in file order: the first len(papers) rows when only the first papers are used.
            if len(matrix) >= len(papers):
                self.papers.update({p.paper_id: matrix[i] for i, p in enumerate(papers)})
                return
        matrix = self.embedder.embed([semantic.paper_text(p.title, p.abstract) for p in papers])
        np.save(cached, matrix)
        self.papers.update({p.paper_id: matrix[i] for i, p in enumerate(papers)})

    def topic_vectors(self, interests: str) -> list[np.ndarray]:
        texts = [t.text for t in parse_interests(interests).topics]
        missing = [t for t in texts if t not in self.topics]
        if missing:
            self.topics.update(zip(missing, self.embedder.embed(missing), strict=True))
        return [self.topics[t] for t in texts]

    def text_vector(self, text: str) -> np.ndarray:
        """One text's vector (e.g. a subscriber's whole interests), computed once."""
        if text not in self.topics:
            self.topics[text] = self.embedder.embed([text])[0]
        return self.topics[text]


def embedding_methods(
    settings: RankSettings, k: int, digest_method: Callable[[RankSettings], Method], store: Store
) -> dict[str, Method]:
    def embedding(papers: Sequence[Candidate], interests: str) -> list[int]:
        topics = np.stack(store.topic_vectors(interests))
        matrix = np.stack([store.papers[p.paper_id] for p in papers])
        best = (topics @ matrix.T).max(axis=0)
        return [papers[i].paper_id for i in np.argsort(-best, kind="stable")[:k]]

    hybrid_settings = settings.model_copy(update={"method": "hybrid"})

    def hybrid(papers: Sequence[Candidate], interests: str) -> list[int]:
        store.topic_vectors(interests)
        profile = Profile(0, parse_interests(interests))
        vectors = Vectors(store.papers, store.topics)
        return [pick.paper_id for pick in rank(papers, [profile], hybrid_settings, _NOW, vectors=vectors)[0]]

    return {"embedding": embedding, "hybrid": hybrid}
