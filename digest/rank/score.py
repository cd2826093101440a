"""Scoring one chunk of subscribers against the PaperIndex: sparse products, sparse top-k.

About 5% of (topic, paper) pairs match at all, so everything stays sparse: relevance per topic, the best
topic per subscriber, feedback, the blend with trending, the eligibility cut and the top-k selection all
work on the non-zero entries only (as flat arrays keyed by row x papers + column), never on a dense
subscribers x papers matrix. Python loops run only over the subscribers who gave feedback, over the
(topic, paper) pairs of picks whose explanation is not cached yet (rank_explain), and over each
subscriber's k picks as their Ranked objects are made, when that subscriber is yielded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank.explain import FEEDBACK_SHOWN, ToExplain
from digest.rank.feedback import feedback_factors
from digest.rank.hybrid import Meaning, fuse, with_whole, without
from digest.rank.profile import Profile
from digest.rank.query import ChunkQueries, chunk_queries
from digest.rank.serve import Eligible, choose
from digest.rank.sparse import Flat, among, by_subscriber, flat, lookup, rows_of
from digest.rank.state import RunState
from digest.records import Ranked

# A Ranked's score parts, in this order (then "meaning" with the hybrid ranker).
PARTS = ("relevance", "feedback", "trending", "pinned")

Floats = NDArray[np.float32]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Topics:
    """Per topic row: relevance (0 = no match) and author pins, sparse topic rows x papers."""

    score: sparse.csr_matrix
    pinned: sparse.csr_matrix
    meaning: Meaning | None  # the embedding parts of `score`, when the hybrid ranker is on


def score_chunk(
    state: RunState, profiles: Sequence[Profile], topics: Ints, counts: Ints
) -> Iterator[tuple[int, list[Ranked]]]:
    """Each profile's ranked papers; profile i has `counts[i]` topics, the next ones of `topics` (TopicTable
    rows). Profiles without topics (or days without papers) get none."""
    active = np.flatnonzero(counts).tolist()
    if not active or not state.index.papers:
        for profile in profiles:
            yield profile.subscriber_id, []
        return
    queries = chunk_queries(state.table, topics, counts[counts > 0])
    chosen = [profiles[i] for i in active]
    scores = _topic_scores(state, queries)
    picks = _picks(state, queries, scores, chosen)
    ranked = _explained(state, queries, scores, picks, len(chosen))
    at = dict(zip(active, range(len(active)), strict=True))
    for i, profile in enumerate(profiles):
        yield profile.subscriber_id, ranked.subscriber(at[i]) if i in at else []


def _topic_scores(state: RunState, q: ChunkQueries) -> _Topics:
    settings = state.settings
    score = _times(q.match, state.index.weights)
    if score.nnz:
        # Same sparsity pattern as `score` (a term has weight exactly where it is present), so the
        # two products' entries line up one to one.
        found = _times(q.match, state.index.present)
        rows = rows_of(score)
        # Coordination: a paper matching one word of "speculative decoding" is a weaker match than one
        # matching both, even when that word is rare.
        score.data *= found.data / (q.ideal[rows] * q.n_terms[rows])
    if q.acronym.nnz:
        # "LLMs" in a paper counts as "large language models" would: the better of the two.
        score = sparse.csr_matrix(score.maximum(_times(q.acronym, state.index.weights)))
    if q.categories.nnz:
        in_category = sparse.csr_matrix(_times(q.categories, state.index.meta) > 0, dtype=np.float32)
        has_text = sparse.diags(q.has_text.astype(np.float32))
        no_text = sparse.diags((~q.has_text).astype(np.float32))
        score = sparse.csr_matrix(score + (no_text @ in_category) * settings.category_score)
    meaning = None
    if state.semantic is not None:
        meaning = fuse(state.semantic, settings, state.table.keys, q, score)
        score = meaning.fused
    if q.categories.nnz:
        score = _category_boost(score, sparse.csr_matrix(has_text @ in_category), settings.category_boost)
    pinned = sparse.csr_matrix(_times(q.authors, state.index.meta) > 0, dtype=np.float32)
    if q.exclude.nnz:
        hit = sparse.csr_matrix(_times(q.exclude, state.index.present) > 0, dtype=np.float32)
        score = score - score.multiply(hit)
        pinned = pinned - pinned.multiply(hit)
        if meaning is not None:
            meaning = without(meaning, hit, q.starts)
    for matrix in (score, pinned):
        matrix.eliminate_zeros()
        matrix.sort_indices()
    return _Topics(sparse.csr_matrix(score), sparse.csr_matrix(pinned), meaning)


def _category_boost(score: sparse.csr_matrix, inside: sparse.csr_matrix, boost: float) -> sparse.csr_matrix:
    """Relevance r of papers in a topic's category becomes b r / (1 + (b - 1) r): its odds times the boost,
    so it rises (most for middling matches) and stays within 0..1, where a plain factor took 0.9 to 1.35."""
    found = sparse.csr_matrix(score.multiply(inside))
    r = np.minimum(found.data, 1.0)
    found.data = ((boost - 1) * r * (1 - r) / (1 + (boost - 1) * r)).astype(np.float32)
    return sparse.csr_matrix(score + found)


def _times(queries: sparse.csr_matrix, papers: sparse.csr_matrix) -> sparse.csr_matrix:
    """`queries @ papers.T` (rows x papers), each row's papers in order.

    Computed as `(papers @ queries.T).T`: a product's rows come out unsorted, and sorting them (once in
    the end, and again inside each later sum or difference) cost more than the product, whereas turning
    the transposed product back into rows sorts them on the way. Each cell sums the same terms in the
    same order (the matrices' columns ascending), so the values are exactly those of the direct product.
    """
    product = papers @ sparse.csr_matrix(queries.T)
    return sparse.csr_matrix(product.T, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class _Chosen:
    """The chosen (subscriber, paper) pairs of a chunk, best first within each subscriber."""

    sub: Ints
    col: Ints
    row: Ints  # the row of the topic that scored best (the author's topic for pinned picks)
    final: Floats
    relevance: Floats
    feedback: Floats
    pinned: NDArray[np.bool_]


def _relevance(state: RunState, q: ChunkQueries, topics: _Topics) -> tuple[Flat, Ints]:
    """Each subscriber's relevance per paper (flat keys), and the topic row that explains it."""
    settings, n_papers = state.settings, len(state.index.papers)
    if topics.meaning is None:
        return by_subscriber(q.starts, topics.score, settings.other_topics_weight, n_papers)
    # The whole interests' meaning says how far a paper fits several of them; see hybrid.py.
    best, rows = by_subscriber(q.starts, topics.score, 0.0, n_papers)
    return with_whole(best, rows, topics.meaning, q.starts, settings.interests_weight, n_papers)


def _picks(state: RunState, q: ChunkQueries, topics: _Topics, profiles: Sequence[Profile]) -> _Chosen:
    settings, n_papers = state.settings, len(state.index.papers)
    relevance, relevance_rows = _relevance(state, q, topics)
    pinned, pinned_rows = by_subscriber(q.starts, topics.pinned, 0.0, n_papers)
    given = feedback_factors(state, profiles)
    feedback = (
        np.zeros(len(relevance.keys), dtype=np.float32)
        if given is None
        else given.at(relevance.keys, n_papers)
    )
    adjusted = relevance.values * (1 + feedback)
    is_pinned = among(relevance.keys, pinned.keys[pinned.values > 0])
    # By position: four gathers through a boolean mask over every (subscriber, paper) match cost more
    # than finding the kept ones once.
    kept = np.flatnonzero((adjusted >= settings.min_score) | is_pinned)
    pinned_only = pinned.keys[lookup(relevance, pinned.keys) == 0]
    keys = np.concatenate([relevance.keys[kept], pinned_only])
    rel = np.concatenate([relevance.values[kept], np.zeros(len(pinned_only), dtype=np.float32)])
    fb = np.concatenate([feedback[kept], np.zeros(len(pinned_only), dtype=np.float32)])
    pin = np.concatenate([is_pinned[kept], np.ones(len(pinned_only), dtype=bool)])
    cols = keys % n_papers
    final = (rel * (1 + fb) * (1 + settings.trending_boost * state.trend[cols])).astype(np.float32)
    # The topic that put each pick there: the best-scoring one, or for a pin the author's. Unpinned picks
    # all come from `relevance` (positions `kept`); every pinned key is among the pinned ones.
    row = np.zeros(len(keys), dtype=np.int64)
    row[: len(kept)] = relevance_rows[kept]
    if len(pinned_only):
        row[len(kept) :] = pinned_rows[np.searchsorted(pinned.keys, pinned_only)]
    to_topic = lookup(flat(topics.score, n_papers), row * n_papers + cols)
    counts = np.diff(np.append(q.starts, len(q.ids)))[keys // n_papers]
    idx = choose(state, profiles, Eligible(keys, row, final, pin, to_topic, counts))
    return _Chosen(keys[idx] // n_papers, cols[idx], row[idx], final[idx], rel[idx], fb[idx], pin[idx])


@dataclass(frozen=True, slots=True)
class _Explained:
    """A chunk's picks, column by column (grouped by subscriber), ready to become Ranked objects.

    The objects are made per subscriber, as each is yielded: a consumer that handles one subscriber at a
    time then lets them die young instead of holding a whole chunk of them through garbage collections.
    """

    bounds: list[int]  # picks of subscriber i are bounds[i]:bounds[i + 1]
    paper_id: list[int]
    score: list[float]
    topic: list[str]
    matched: list[tuple[str, ...]]
    line: list[str]
    parts: list[list[float]]  # one column per name of PARTS, then "meaning" when present

    def subscriber(self, at: int) -> list[Ranked]:
        start, end = self.bounds[at], self.bounds[at + 1]
        rows = zip(
            self.paper_id[start:end],
            self.score[start:end],
            self.topic[start:end],
            self.matched[start:end],
            self.line[start:end],
            *(column[start:end] for column in self.parts),
            strict=True,
        )
        if len(self.parts) == len(PARTS):  # spelled out: dict displays are much cheaper than dict(zip())
            return [
                _ranked(i, s, t, m, e, {"relevance": r, "feedback": f, "trending": tr, "pinned": p})
                for i, s, t, m, e, r, f, tr, p in rows
            ]
        return [
            _ranked(
                i, s, t, m, e, {"relevance": r, "feedback": f, "trending": tr, "pinned": p, "meaning": mn}
            )
            for i, s, t, m, e, r, f, tr, p, mn in rows
        ]


def _explained(state: RunState, q: ChunkQueries, topics: _Topics, picks: _Chosen, n_subs: int) -> _Explained:
    """The picks' columns, explanations included; everything but the lines is built a column at a time."""
    n_papers = len(state.index.papers)
    best = picks.row
    topic = q.ids[best]
    several = (np.diff(np.append(q.starts, len(q.ids))) > 1)[picks.sub]
    parts = [
        picks.relevance.tolist(),
        picks.feedback.tolist(),
        state.trend[picks.col].tolist(),
        picks.pinned.astype(float).tolist(),
    ]
    # Lines that depend on more than (topic, paper, several topics): a pin, feedback worth a mention, a
    # meaning share. The bounds are compared in float64, as the line builder compares them.
    feedback = picks.feedback.astype(np.float64)
    plain = ~picks.pinned & (feedback > -FEEDBACK_SHOWN) & (feedback < FEEDBACK_SHOWN)
    names: tuple[str, ...] = PARTS
    if topics.meaning is not None:
        meaning = _meaning_part(topics.meaning, state.settings.interests_weight, best, picks, n_papers)
        parts.append(meaning.tolist())
        names = (*PARTS, "meaning")
        plain &= ~(meaning > 0)
    matched, lines = state.explainer.lines(
        ToExplain(topic, picks.col, several.astype(np.int64), plain),
        lambda at: dict(zip(names, (column[at] for column in parts), strict=True)),
    )
    return _Explained(
        # Picks come grouped by subscriber, in order.
        np.searchsorted(picks.sub, np.arange(n_subs + 1)).tolist(),
        state.paper_ids[picks.col].tolist(),
        picks.final.tolist(),
        state.texts[topic].tolist(),
        matched,
        lines,
        parts,
    )


def _meaning_part(meaning: Meaning, weight: float, best: Ints, picks: _Chosen, n_papers: int) -> Floats:
    """The part of each pick's relevance that meaning gave: its topic's, and the whole interests'."""
    topic_share = lookup(flat(meaning.share, n_papers), best * n_papers + picks.col)
    whole = lookup(flat(meaning.whole, n_papers), picks.sub * n_papers + picks.col)
    w = np.where(meaning.has_whole[picks.sub], weight, 0.0)
    found: Floats = ((1 - w) * topic_share + w * whole).astype(np.float32)
    return found


# Ranked is a frozen dataclass, whose generated __init__ sets each field through object.__setattr__: about
# 1.3 us a pick, a seventh of the whole run at 100,000 subscribers. Setting the slots through their
# descriptors stores the same fields (it is what object.__setattr__ ends up doing) at a third of the cost.
# tests/test_rank_chunks.py checks that the result equals Ranked(...) field for field.
_NEW = object.__new__
_SET_ID, _SET_SCORE, _SET_TOPIC, _SET_MATCHED, _SET_EXPLANATION, _SET_PARTS = (
    getattr(Ranked, f.name).__set__ for f in fields(Ranked)
)


def _ranked(
    paper_id: int,
    score: float,
    topic: str,
    matched: tuple[str, ...],
    explanation: str,
    parts: dict[str, float],
) -> Ranked:
    made: Ranked = _NEW(Ranked)
    _SET_ID(made, paper_id)
    _SET_SCORE(made, score)
    _SET_TOPIC(made, topic)
    _SET_MATCHED(made, matched)
    _SET_EXPLANATION(made, explanation)
    _SET_PARTS(made, parts)
    return made
