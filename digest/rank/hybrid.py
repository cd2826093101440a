"""The hybrid ranker: lexical relevance fused with embedding similarity, topic by topic.

For each topic row and paper, `meaning` = how far the cosine of the topic's and the paper's vectors rises
above `semantic_floor`, rescaled to 0..1; the topic's relevance becomes

    (1 - semantic_weight) x lexical + semantic_weight x meaning

(computed as lexical + w / (1 - w) x meaning, the same order with lexical relevance on its usual scale),
so a paper that says the same thing in other words ("imitation learning" for "robot learning from
demonstrations") can reach the digest, and one that matches both ways comes first. Cosines below the
floor (unrelated texts sit around 0-0.2 with MiniLM) count as nothing, which keeps the matrix sparse.
Similarity is a dense topic rows x papers product per chunk, bounded by the chunk size. Topics or papers
without a stored vector simply get no meaning part: the ranker then behaves as the lexical one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank.profile import RankSettings
from digest.rank.query import ChunkQueries, TopicKeys
from digest.records import Candidate, Vectors

Floats = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Semantic:
    """What every chunk shares: the candidates' vectors as one matrix (zero rows where missing)."""

    papers: Floats  # n_papers x dim
    topics: Mapping[str, Floats]
    dim: int


def prepare(papers: list[Candidate], vectors: Vectors) -> Semantic | None:
    """The candidates' vector matrix, or None when no candidate has a vector."""
    found = [vectors.papers.get(p.paper_id) for p in papers]
    dims = {len(v) for v in found if v is not None}
    if len(dims) != 1:
        return None
    dim = dims.pop()
    matrix = np.zeros((len(papers), dim), dtype=np.float32)
    for row, vec in enumerate(found):
        if vec is not None:
            matrix[row] = vec
    return Semantic(matrix, vectors.topics, dim)


def fuse(
    semantic: Semantic,
    settings: RankSettings,
    topics: Sequence[TopicKeys],
    q: ChunkQueries,
    lexical: sparse.csr_matrix,
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """(fused relevance, its meaning share), both sparse topic rows x papers; `topics` is the run's
    TopicTable keys, by topic id."""
    queries = np.zeros((len(q.ids), semantic.dim), dtype=np.float32)
    for row, topic in enumerate(q.ids.tolist()):
        keys = topics[topic]
        vec = semantic.topics.get(keys.topic.text)
        if vec is not None and keys.match:  # cat:/author:-only topics have no meaning to compare
            queries[row] = vec
    cosine = queries @ semantic.papers.T
    floor = settings.semantic_floor
    # (1 - w) x lexical + w x meaning, divided by (1 - w): the same order, but lexical relevance keeps its
    # scale, so `min_score` means the same with either ranker and a paper matched by words alone is not
    # pushed under it.
    gain = settings.semantic_weight / max(1e-6, 1.0 - settings.semantic_weight)
    meaning = np.clip((cosine - floor) / (1.0 - floor), 0.0, 1.0) * gain
    share = sparse.csr_matrix(meaning.astype(np.float32))
    return sparse.csr_matrix(lexical + share), share
