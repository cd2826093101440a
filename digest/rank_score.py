"""Scoring one chunk of subscribers against the PaperIndex: sparse products, sparse top-k.

About 5% of (topic, paper) pairs match at all, so everything stays sparse: relevance per topic, the best
topic per subscriber, feedback, the blend with trending, the eligibility cut and the top-k selection all
work on the non-zero entries only (as flat arrays keyed by row x papers + column), never on a dense
subscribers x papers matrix. The only Python loop runs over the k papers picked for each subscriber, to
build their explanations (rank_explain caches what those share).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank_explain import Explainer
from digest.rank_index import PaperIndex
from digest.rank_query import ChunkQueries, TopicKeys, chunk_queries
from digest.rank_sparse import Flat, flat, lookup, rows_of, top_k
from digest.records import Candidate, Ranked

if TYPE_CHECKING:
    from digest.rank import Profile, RankSettings

# Added to pinned papers' order key so that they come before everything else.
PIN_OFFSET = 1e6
# Cosine similarity with the feedback vector is scaled by this before tanh: ~0.3 gives most of the effect.
FEEDBACK_GAIN = 4.0

Floats = NDArray[np.float32]
Ints = NDArray[np.int64]


@dataclass
class Context:
    """What every chunk shares: the index, settings, per-paper trending boost, feedback paper lookup."""

    index: PaperIndex
    settings: RankSettings
    trend: Floats  # squashed trending per paper, in [0, 1)
    feedback_papers: Mapping[int, Candidate]
    semantic: object | None = None  # digest.rank_hybrid.Semantic when the hybrid ranker is on
    position: dict[int, int] = field(init=False)
    vectors: dict[int, dict[int, float]] = field(init=False, default_factory=dict)
    explainer: Explainer = field(init=False)

    def __post_init__(self) -> None:
        self.position = {paper.paper_id: row for row, paper in enumerate(self.index.papers)}
        self.explainer = Explainer(self.index)

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


@dataclass(frozen=True, slots=True)
class _Topics:
    """Per topic row: relevance (0 = no match) and author pins, sparse topic rows x papers."""

    score: sparse.csr_matrix
    pinned: sparse.csr_matrix
    meaning: sparse.csr_matrix | None  # the embedding share of `score`, when the hybrid ranker is on


def score_chunk(
    ctx: Context, profiles: Sequence[Profile], keys: Sequence[Sequence[TopicKeys]]
) -> Iterator[tuple[int, list[Ranked]]]:
    """Each profile's ranked papers; profiles without topics (or days without papers) get none."""
    active = [i for i, group in enumerate(keys) if group]
    if not active or not ctx.index.papers:
        for profile in profiles:
            yield profile.subscriber_id, []
        return
    queries = chunk_queries(ctx.index, [keys[i] for i in active])
    chosen = [profiles[i] for i in active]
    topics = _topic_scores(ctx, queries)
    picks = _picks(ctx, queries, topics, chosen)
    ranked = _explained(ctx, queries, topics, picks, len(chosen))
    by_profile = {i: ranked[at] for at, i in enumerate(active)}
    for i, profile in enumerate(profiles):
        yield profile.subscriber_id, by_profile.get(i, [])


def _topic_scores(ctx: Context, q: ChunkQueries) -> _Topics:
    index, settings = ctx.index, ctx.settings
    score = sparse.csr_matrix(q.match @ index.weights.T, dtype=np.float32)
    if score.nnz:
        # Same sparsity pattern as `score` (a term has weight exactly where it is present), so the
        # two products' entries line up one to one.
        found = sparse.csr_matrix(q.match @ index.present.T, dtype=np.float32)
        rows = rows_of(score)
        # Coordination: a paper matching one word of "speculative decoding" is a weaker match than one
        # matching both, even when that word is rare.
        score.data *= found.data / (q.ideal[rows] * q.n_terms[rows])
    if q.categories.nnz:
        in_category = sparse.csr_matrix(q.categories @ index.meta.T > 0, dtype=np.float32)
        has_text = sparse.diags(q.has_text.astype(np.float32))
        no_text = sparse.diags((~q.has_text).astype(np.float32))
        boost = score.multiply(has_text @ in_category) * (settings.category_boost - 1)
        score = sparse.csr_matrix(score + boost + (no_text @ in_category) * settings.category_score)
    meaning = None
    if ctx.semantic is not None:
        from digest.rank_hybrid import fuse  # noqa: PLC0415 - only with the semantic extra

        score, meaning = fuse(ctx, q, score)
    pinned = sparse.csr_matrix(q.authors @ index.meta.T > 0, dtype=np.float32)
    if q.exclude.nnz:
        hit = sparse.csr_matrix(q.exclude @ index.present.T > 0, dtype=np.float32)
        score = score - score.multiply(hit)
        pinned = pinned - pinned.multiply(hit)
        meaning = None if meaning is None else meaning - meaning.multiply(hit)
    for matrix in (score, pinned):
        matrix.eliminate_zeros()
        matrix.sort_indices()
    return _Topics(sparse.csr_matrix(score), sparse.csr_matrix(pinned), meaning)


def _by_subscriber(q: ChunkQueries, topics: sparse.csr_matrix, weight: float, n_papers: int) -> Flat:
    """Best topic per subscriber plus `weight` x the other topics' sum, as flat subscriber keys.

    Each topic row's entries become (subscriber, paper) keys; one stable sort brings a subscriber's rows
    together (each row is already a sorted run, which the sort exploits), then two reduceats give the
    maximum and the sum per key.
    """
    counts = np.diff(np.append(q.starts, len(q.topics)))
    subscriber_of_row = np.repeat(np.arange(len(q.starts), dtype=np.int64), counts)
    keys = subscriber_of_row[rows_of(topics)] * n_papers + topics.indices.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], np.asarray(topics.data, dtype=np.float32)[order]
    if not len(keys):
        return Flat(keys, values)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    best = np.maximum.reduceat(values, starts)
    total = np.add.reduceat(values, starts)
    return Flat(keys[starts], (best + weight * (total - best)).astype(np.float32))


def _feedback(ctx: Context, profiles: Sequence[Profile]) -> sparse.csr_matrix | None:
    """Per subscriber and paper, the factor by which feedback moves relevance (in +/- feedback_weight)."""
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    for row, profile in enumerate(profiles):
        vectors = [(np.sign(v), ctx.vector(pid)) for pid, v in profile.feedback.items() if v]
        known = [(sign, vec) for sign, vec in vectors if vec]
        for sign, vec in known:
            rows.extend([row] * len(vec))
            cols.extend(vec)
            data.extend(float(sign) * w / len(known) for w in vec.values())
    if not rows:
        return None
    shape = (len(profiles), ctx.index.unit.shape[1])
    rocchio = sparse.csr_matrix((np.asarray(data, dtype=np.float32), (rows, cols)), shape=shape)
    similarity = sparse.csr_matrix(rocchio @ ctx.index.unit.T)
    similarity.data = ctx.settings.feedback_weight * np.tanh(FEEDBACK_GAIN * similarity.data)
    similarity.sort_indices()
    return similarity


@dataclass(frozen=True, slots=True)
class _Picks:
    """The chosen (subscriber, paper) pairs of a chunk, best first within each subscriber."""

    sub: Ints
    col: Ints
    final: Floats
    relevance: Floats
    feedback: Floats
    pinned: NDArray[np.bool_]


def _picks(ctx: Context, q: ChunkQueries, topics: _Topics, profiles: Sequence[Profile]) -> _Picks:
    settings, n_papers = ctx.settings, len(ctx.index.papers)
    relevance = _by_subscriber(q, topics.score, settings.other_topics_weight, n_papers)
    pinned = _by_subscriber(q, topics.pinned, 0.0, n_papers)
    feedback_matrix = _feedback(ctx, profiles)
    feedback = (
        np.zeros(len(relevance.keys), dtype=np.float32)
        if feedback_matrix is None
        else lookup(flat(feedback_matrix, n_papers), relevance.keys)
    )
    adjusted = relevance.values * (1 + feedback)
    is_pinned = lookup(pinned, relevance.keys) > 0
    keep = (adjusted >= settings.min_score) | is_pinned
    pinned_only = pinned.keys[lookup(relevance, pinned.keys) == 0]
    keys = np.concatenate([relevance.keys[keep], pinned_only])
    rel = np.concatenate([relevance.values[keep], np.zeros(len(pinned_only), dtype=np.float32)])
    fb = np.concatenate([feedback[keep], np.zeros(len(pinned_only), dtype=np.float32)])
    pin = np.concatenate([is_pinned[keep], np.ones(len(pinned_only), dtype=bool)])
    cols = keys % n_papers
    final = (rel * (1 + fb) * (1 + settings.trending_boost * ctx.trend[cols])).astype(np.float32)
    fresh = ~np.isin(keys, _sent_keys(ctx, profiles, n_papers))
    chosen = top_k(keys[fresh], final[fresh] + pin[fresh] * PIN_OFFSET, settings.max_papers, n_papers)
    idx = np.flatnonzero(fresh)[chosen]
    return _Picks(keys[idx] // n_papers, cols[idx], final[idx], rel[idx], fb[idx], pin[idx])


def _sent_keys(ctx: Context, profiles: Sequence[Profile], n_papers: int) -> Ints:
    keys = [
        row * n_papers + ctx.position[paper_id]
        for row, profile in enumerate(profiles)
        for paper_id in profile.exclude
        if paper_id in ctx.position
    ]
    return np.asarray(keys, dtype=np.int64)


def _best_topics(q: ChunkQueries, topics: _Topics, picks: _Picks, n_papers: int) -> Ints:
    """Row of the topic that scored best for each pick (the author's topic for pinned picks)."""
    counts = np.diff(np.append(q.starts, len(q.topics)))[picks.sub]
    first = q.starts[picks.sub]
    score, pinned = flat(topics.score, n_papers), flat(topics.pinned, n_papers)
    best = first.copy()
    best_value = np.full(len(first), -1.0)
    for k in range(int(counts.max()) if len(counts) else 0):
        row = np.where(counts > k, first + k, first)
        keys = row * n_papers + picks.col
        value = np.where(picks.pinned, lookup(pinned, keys), lookup(score, keys))
        better = (counts > k) & (value > best_value)
        best = np.where(better, row, best)
        best_value = np.where(better, value, best_value)
    return best


def _explained(
    ctx: Context, q: ChunkQueries, topics: _Topics, picks: _Picks, n_subs: int
) -> list[list[Ranked]]:
    n_papers = len(ctx.index.papers)
    best = _best_topics(q, topics, picks, n_papers)
    several = np.diff(np.append(q.starts, len(q.topics))) > 1
    meaning = (
        None
        if topics.meaning is None
        else lookup(flat(topics.meaning, n_papers), best * n_papers + picks.col)
    )
    trend = ctx.trend[picks.col]
    ranked: list[list[Ranked]] = [[] for _ in range(n_subs)]
    columns = zip(
        picks.sub.tolist(),
        picks.col.tolist(),
        best.tolist(),
        picks.final.tolist(),
        picks.relevance.tolist(),
        picks.feedback.tolist(),
        trend.tolist(),
        picks.pinned.tolist(),
        strict=True,
    )
    for at, (sub, col, row, final, rel, fb, tr, pin) in enumerate(columns):
        parts = {"relevance": rel, "feedback": fb, "trending": tr, "pinned": 1.0 if pin else 0.0}
        if meaning is not None:
            parts["meaning"] = float(meaning[at])
        keys = q.topics[row]
        matched, explanation = ctx.explainer.explain(keys, col, parts, bool(several[sub]))
        ranked[sub].append(
            Ranked(ctx.index.papers[col].paper_id, final, keys.topic.text, matched, explanation, parts)
        )
    return ranked
