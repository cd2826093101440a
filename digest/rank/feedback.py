"""Feedback ("more / less like this") as a query: the papers a subscriber voted on, compared with every paper
of the day, become a factor on that subscriber's relevance.

With the hybrid ranker (and vectors for the voted papers) the comparison is in embedding space:

    factor(p) = feedback_weight x tanh(3 x (mean over "more" votes of meaning(v, p)
                                             - mean over "less" votes of meaning(v, p)))

with meaning() the hybrid ranker's rescaled cosine (hybrid.py), so a paper close to what they wanted more
of rises by up to `feedback_weight` (as a factor) and one close to what they wanted less of sinks. Without
vectors it is the Rocchio vector of the voted papers' BM25 vectors, cosine with each paper, squashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank.hybrid import Semantic, meaning_of
from digest.rank.profile import Profile
from digest.rank.state import RunState

# Cosine similarity with the feedback vector is scaled by this before tanh: ~0.3 gives most of the effect.
FEEDBACK_GAIN = 4.0
# The difference of meanings is scaled by this before tanh: a paper as close to the "more" votes as a good
# match is to its topic (about 0.3 apart from the "less" ones) gets most of the effect. Chosen with
# bench/feedback_eval.py on the CSFCube dev fold (1: +0.04, 3: +0.07, 6: +0.06).
MEANING_GAIN = 3.0
# Factors kept for single-paper feedback (one float32 per paper each) before the cache is emptied: 64 MB.
FACTOR_CACHE_CELLS = 16_000_000

Floats = NDArray[np.float32]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Feedback:
    """Feedback factors of the chunk's subscribers who gave feedback on a known paper, dense over papers."""

    row_of: Ints  # per subscriber of the chunk: its row in `factor`, or -1
    factor: Floats  # rows x papers: how far feedback moves relevance (in +/- feedback_weight)

    def at(self, keys: Ints, n_papers: int) -> Floats:
        """The factor at each (subscriber x papers + paper) key, 0 for subscribers without feedback."""
        rows = self.row_of[keys // n_papers]
        found = np.zeros(len(keys), dtype=np.float32)
        has = rows >= 0
        found[has] = self.factor[rows[has], keys[has] % n_papers]
        return found


def feedback_factors(state: RunState, profiles: Sequence[Profile]) -> Feedback | None:
    """Similarity of each paper with the Rocchio vector of each subscriber who gave feedback.

    Only those subscribers get a row (a tenth of them or fewer, in practice), so the factors are kept
    dense: looking one up is then one fancy index rather than a search in a sparse matrix. Most give
    feedback on one paper, whose factors are the same for everyone who did: those are computed once a run
    (`RunState.single_factors`), the others (several papers) once a chunk, all in one product.
    """
    if state.semantic is not None:
        return meaning_factors(state, state.semantic, profiles)
    row_of = np.full(len(profiles), -1, dtype=np.int64)
    given: list[list[tuple[int, float, dict[int, float]]]] = []  # (paper id, sign, vector) per row
    for at, profile in enumerate(profiles):
        if profile.feedback:
            known = [
                (pid, float(np.sign(v)), vec)
                for pid, v in profile.feedback.items()
                if v and (vec := state.vector(pid))
            ]
            if known:
                row_of[at] = len(given)
                given.append(known)
    if not given:
        return None
    single = state.single_factors
    if len(single) * len(state.index.papers) > FACTOR_CACHE_CELLS:
        single.clear()  # bounds its memory however many papers get feedback on a big day
    todo = {(g[0][0], g[0][1]): g for g in given if len(g) == 1 and (g[0][0], g[0][1]) not in single}
    several = [g for g in given if len(g) > 1]
    groups = [*todo.values(), *several]
    computed = rocchio_factors(state, [[(sign, vec) for _, sign, vec in g] for g in groups])
    single.update((key, computed[at]) for at, key in enumerate(todo))
    rows = iter(range(len(todo), len(groups)))
    factors = [single[(g[0][0], g[0][1])] if len(g) == 1 else computed[next(rows)] for g in given]
    return Feedback(row_of, np.stack(factors))


def rocchio_factors(state: RunState, groups: Sequence[Sequence[tuple[float, dict[int, float]]]]) -> Floats:
    """Per group of (sign, unit vector) feedback papers: their mean signed vector's cosine with every
    paper, squashed into a relevance factor (in +/- feedback_weight); groups x papers."""
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    for row, known in enumerate(groups):
        for sign, vec in known:
            rows.extend([row] * len(vec))
            cols.extend(vec)
            data.extend(sign * w / len(known) for w in vec.values())
    shape = (len(groups), state.index.unit.shape[1])
    rocchio = sparse.csr_matrix((np.asarray(data, dtype=np.float32), (rows, cols)), shape=shape)
    similarity = np.asarray(sparse.csr_matrix(rocchio @ state.unit_t).toarray(), dtype=np.float32)
    factors: Floats = state.settings.feedback_weight * np.tanh(FEEDBACK_GAIN * similarity)
    return factors


def meaning_factors(state: RunState, semantic: Semantic, profiles: Sequence[Profile]) -> Feedback | None:
    """Feedback factors in embedding space (see the module docstring), for the subscribers whose voted
    papers have vectors; one product for the chunk's distinct voted papers."""
    row_of = np.full(len(profiles), -1, dtype=np.int64)
    votes: list[list[tuple[int, float]]] = []  # (voted paper's position in `voted`, sign) per row
    voted: dict[int, int] = {}
    for at, profile in enumerate(profiles):
        known = [
            (voted.setdefault(pid, len(voted)), float(np.sign(v)))
            for pid, v in profile.feedback.items()
            if v and pid in semantic.vectors
        ]
        if known:
            row_of[at] = len(votes)
            votes.append(known)
    if not votes:
        return None
    matrix = np.stack([semantic.vectors[pid] for pid in voted]).astype(np.float32)
    meaning = meaning_of(matrix @ semantic.papers.T, state.settings.semantic_floor)
    factors = np.zeros((len(votes), len(state.index.papers)), dtype=np.float32)
    for row, known in enumerate(votes):
        for sign in (1.0, -1.0):
            picked = [at for at, s in known if s == sign]
            if picked:
                factors[row] += sign * meaning[picked].mean(axis=0)
    return Feedback(row_of, state.settings.feedback_weight * np.tanh(MEANING_GAIN * factors))
