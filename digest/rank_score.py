"""Scoring one chunk of subscribers against the PaperIndex: sparse products, dense masks, top-k.

Everything here works on whole matrices (topic rows x papers, subscribers x papers); the only Python loops
run over the k papers picked for each subscriber, to build their explanations.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank_explain import explain
from digest.rank_index import PaperIndex
from digest.rank_query import ChunkQueries, TopicKeys, chunk_queries
from digest.records import Candidate, Ranked

if TYPE_CHECKING:
    from digest.rank import Profile, RankSettings

# Added to pinned papers' order key so that they come before everything else.
PIN_OFFSET = np.float32(1e6)
# Cosine similarity with the feedback vector is scaled by this before tanh: ~0.3 gives most of the effect.
FEEDBACK_GAIN = 4.0

Floats = NDArray[np.float32]
Bools = NDArray[np.bool_]


@dataclass
class Context:
    """What every chunk shares: the index, settings, per-paper trending boost, feedback paper lookup."""

    index: PaperIndex
    settings: RankSettings
    trend: Floats  # squashed trending per paper, in [0, 1)
    feedback_papers: Mapping[int, Candidate]
    position: dict[int, int] = field(init=False)
    ids: frozenset[int] = field(init=False)
    vectors: dict[int, dict[int, float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {paper.paper_id: row for row, paper in enumerate(self.index.papers)}
        self.ids = frozenset(self.position)

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
class _Scores:
    topic: Floats  # topic rows x papers: relevance per topic (0 = no match)
    topic_pinned: Bools  # topic rows x papers: an author: of that topic wrote the paper
    relevance: Floats  # subscribers x papers: best topic
    feedback: Floats | None  # subscribers x papers: factor adjustment, or None when nobody gave feedback
    final: Floats  # subscribers x papers: blended score
    pinned: Bools


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
    scores = _score(ctx, queries, [profiles[i] for i in active])
    order = np.where(_eligible(ctx, scores, [profiles[i] for i in active]), scores.final, -np.inf)
    order += scores.pinned * PIN_OFFSET
    picks = _top_k(order, ctx.settings.max_papers)
    ranked: dict[int, list[Ranked]] = {}
    for at, i in enumerate(active):
        ranked[i] = [_ranked(ctx, queries, scores, at, col) for col in picks[at]]
    for i, profile in enumerate(profiles):
        yield profile.subscriber_id, ranked.get(i, [])


def _score(ctx: Context, queries: ChunkQueries, profiles: Sequence[Profile]) -> _Scores:
    topic, topic_pinned = _topic_scores(ctx, queries)
    relevance = np.maximum.reduceat(topic, queries.starts, axis=0)
    pinned = np.logical_or.reduceat(topic_pinned, queries.starts, axis=0)
    feedback = _feedback(ctx, profiles)
    adjusted = relevance if feedback is None else relevance * (1 + feedback)
    final = adjusted * (1 + ctx.settings.trending_boost * ctx.trend)[np.newaxis, :]
    return _Scores(topic, topic_pinned, relevance, feedback, final.astype(np.float32), pinned)


def _topic_scores(ctx: Context, q: ChunkQueries) -> tuple[Floats, Bools]:
    index, settings = ctx.index, ctx.settings
    topic: Floats = (q.match @ index.weights.T).toarray().astype(np.float32)
    topic /= q.ideal[:, np.newaxis]
    if (q.n_terms > 1).any():
        # Coordination: a paper matching one word of "speculative decoding" is a weaker match than one
        # matching both, even when that word is rare.
        found = (q.match @ index.present.T).toarray()
        topic *= found / q.n_terms[:, np.newaxis]
    if q.categories.nnz:
        in_category = (q.categories @ index.meta.T).toarray() > 0
        boosted = in_category & q.has_text[:, np.newaxis]
        topic[boosted] *= settings.category_boost
        topic[in_category & ~q.has_text[:, np.newaxis]] = settings.category_score
    pinned: Bools = (
        (q.authors @ index.meta.T).toarray() > 0 if q.authors.nnz else np.zeros(topic.shape, dtype=np.bool_)
    )
    if q.exclude.nnz:
        hits = sparse.coo_matrix(q.exclude @ index.present.T)
        topic[hits.row, hits.col] = 0.0
        pinned[hits.row, hits.col] = False
    return topic, pinned


def _feedback(ctx: Context, profiles: Sequence[Profile]) -> Floats | None:
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
    similarity = (rocchio @ ctx.index.unit.T).toarray()
    adjustment: Floats = (ctx.settings.feedback_weight * np.tanh(FEEDBACK_GAIN * similarity)).astype(
        np.float32
    )
    return adjustment


def _eligible(ctx: Context, scores: _Scores, profiles: Sequence[Profile]) -> Bools:
    adjusted = scores.relevance if scores.feedback is None else scores.relevance * (1 + scores.feedback)
    eligible: Bools = ((scores.relevance > 0) & (adjusted >= ctx.settings.min_score)) | scores.pinned
    rows: list[int] = []
    cols: list[int] = []
    for row, profile in enumerate(profiles):
        for paper_id in profile.exclude & ctx.ids:
            rows.append(row)
            cols.append(ctx.position[paper_id])
    eligible[rows, cols] = False
    return eligible


def _top_k(order: Floats, k: int) -> list[list[int]]:
    """Column indices of each row's k largest finite values, largest first, without a full sort."""
    k = min(k, order.shape[1])
    if k <= 0:
        return [[] for _ in range(order.shape[0])]
    part = np.argpartition(-order, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(order, part, axis=1)
    ranked = np.take_along_axis(part, np.argsort(-values, axis=1, kind="stable"), axis=1)
    keep = np.isfinite(np.take_along_axis(order, ranked, axis=1))
    return [row[ok].tolist() for row, ok in zip(ranked, keep, strict=True)]


def _ranked(ctx: Context, q: ChunkQueries, scores: _Scores, at: int, col: int) -> Ranked:
    start = int(q.starts[at])
    end = int(q.starts[at + 1]) if at + 1 < len(q.starts) else len(q.topics)
    pinned = bool(scores.pinned[at, col])
    column = scores.topic_pinned[start:end, col] if pinned else scores.topic[start:end, col]
    keys = q.topics[start + int(np.argmax(column))]
    parts = {
        "relevance": float(scores.relevance[at, col]),
        "feedback": 0.0 if scores.feedback is None else float(scores.feedback[at, col]),
        "trending": float(ctx.trend[col]),
        "pinned": 1.0 if pinned else 0.0,
    }
    matched, explanation = explain(keys, ctx.index, col, parts, end - start > 1)
    paper_id = ctx.index.papers[col].paper_id
    return Ranked(paper_id, float(scores.final[at, col]), keys.topic.text, matched, explanation, parts)
