"""What every chunk of one ranking run shares, built once per run (`rank_iter`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank.explain import Explainer
from digest.rank.hybrid import Semantic
from digest.rank.index import PaperIndex
from digest.rank.profile import RankSettings
from digest.rank.query import TopicTable
from digest.records import Candidate

Floats = NDArray[np.float32]
Ints = NDArray[np.int64]


@dataclass
class RunState:
    """What every chunk shares: the index, the run's topics, settings, per-paper trending boost, feedback
    paper lookup."""

    index: PaperIndex
    table: TopicTable
    settings: RankSettings
    trend: Floats  # squashed trending per paper, in [0, 1)
    feedback_papers: Mapping[int, Candidate]
    semantic: Semantic | None = None  # the candidates' vectors, when the hybrid ranker is on
    position: dict[int, int] = field(init=False)
    vectors: dict[int, dict[int, float]] = field(init=False, default_factory=dict)
    explainer: Explainer = field(init=False)
    paper_ids: Ints = field(init=False)
    texts: NDArray[np.object_] = field(init=False)  # each topic as written, by topic id
    # The index's unit rows transposed (terms x papers), once: a product with `unit.T` would convert the
    # transposed view to CSR again in every chunk.
    unit_t: sparse.csr_matrix = field(init=False)
    # (paper id, sign) -> `rocchio_factors` of feedback on that one paper, for every subscriber who gave it.
    single_factors: dict[tuple[int, float], Floats] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {paper.paper_id: row for row, paper in enumerate(self.index.papers)}
        self.explainer = Explainer(self.index, self.table.keys)
        self.paper_ids = np.array([paper.paper_id for paper in self.index.papers], dtype=np.int64)
        self.texts = np.array([keys.topic.text for keys in self.table.keys] or [""], dtype=object)
        self.unit_t = sparse.csr_matrix(self.index.unit.T)

    def vector(self, paper_id: int) -> dict[int, float] | None:
        """Unit BM25 vector of a paper the subscriber gave feedback on, if the paper is known."""
        if paper_id not in self.vectors:
            row = self.position.get(paper_id)
            if row is not None:
                unit = self.index.unit
                start, end = unit.indptr[row], unit.indptr[row + 1]
                cols, weights = unit.indices[start:end].tolist(), unit.data[start:end].tolist()
                self.vectors[paper_id] = dict(zip(cols, weights, strict=True))
            elif paper_id in self.feedback_papers:
                self.vectors[paper_id] = self.index.vector(self.feedback_papers[paper_id])
            else:
                return None
        return self.vectors[paper_id]
