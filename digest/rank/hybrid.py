"""The hybrid ranker (the default method): words and sentence embeddings together.

For topic t and paper p (all parts in 0..1):

    lexical_t(p)   = the lexical ranker's relevance (BM25 over the day's papers, see ranker.py)
    meaning_t(p)   = clip((cos(v_t, v_p) - semantic_floor) / (1 - semantic_floor), 0, 1)
    relevance_t(p) = (1 - semantic_weight) x lexical_t(p) + semantic_weight x meaning_t(p)

and for the subscriber, whose topics together say more than any one of them ("robotics; grasping;
navigation" is a field, not three unrelated words):

    whole(p)     = clip((cos(v_whole, v_p) - semantic_floor) / (1 - semantic_floor), 0, 1)
    relevance(p) = (1 - interests_weight) x max_t relevance_t(p) + interests_weight x whole(p)

(for subscribers with several topics; with one, relevance is that topic's), where v_whole is the unit
sum of the subscriber's topic vectors: MiniLM mean-pools its tokens, so the sum
of the topics' vectors points where the embedding of the whole interests text does, and needs nothing
stored beyond the topics' own vectors. So every topic's relevance, and the subscriber's, stay in 0..1.

Cosines below the floor (unrelated texts sit around 0-0.2 with MiniLM) count as nothing, which keeps the
matrices sparse. Similarity is a dense topic rows x papers product per chunk, bounded by the chunk size.
Topics or papers without a stored vector get no meaning part (for a topic without one the ranker behaves
as the lexical one); cat:- and author:-only topics have no meaning to compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank.profile import RankSettings
from digest.rank.query import ChunkQueries, TopicKeys
from digest.rank.sparse import Flat, among, flat, lookup
from digest.records import Candidate, Vectors

Floats = NDArray[np.float32]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Semantic:
    """What every chunk shares: the candidates' vectors as one matrix (zero rows where missing)."""

    papers: Floats  # n_papers x dim
    topics: Mapping[str, Floats]
    dim: int
    vectors: Mapping[int, Floats]  # every paper's vector by id, feedback papers' included


@dataclass(frozen=True, slots=True)
class Meaning:
    """One chunk's embedding similarities."""

    fused: sparse.csr_matrix  # relevance per topic row, words and meaning fused
    share: sparse.csr_matrix  # the meaning part of `fused`
    whole: sparse.csr_matrix  # subscribers x papers: `whole(p)` above
    has_whole: NDArray[np.bool_]  # per subscriber: several topics have vectors (else interests_weight is 0)
    cosine: Floats  # topic rows x papers, for the topic a paper found by the whole interests is closest to


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
    return Semantic(matrix, vectors.topics, dim, vectors.papers)


def fuse(
    semantic: Semantic,
    settings: RankSettings,
    topics: Sequence[TopicKeys],
    q: ChunkQueries,
    lexical: sparse.csr_matrix,
) -> Meaning:
    """Fused relevance per topic row and the subscribers' whole-interests similarity; `topics` is the
    run's TopicTable keys, by topic id."""
    queries = np.zeros((len(q.ids), semantic.dim), dtype=np.float32)
    for row, topic in enumerate(q.ids.tolist()):
        keys = topics[topic]
        vec = semantic.topics.get(keys.topic.text)
        if vec is not None and keys.match:  # cat:/author:-only topics have no meaning to compare
            queries[row] = vec
    cosine = queries @ semantic.papers.T
    w = settings.semantic_weight
    has = np.abs(queries).sum(axis=1) > 0
    # A topic without a vector keeps its lexical relevance whole rather than losing w of it.
    keep = sparse.diags(np.where(has, 1.0 - w, 1.0).astype(np.float32))
    share = sparse.csr_matrix(meaning_of(cosine, settings.semantic_floor) * w)
    fused = sparse.csr_matrix(keep @ lexical + share)
    whole, has_whole = _whole(queries, q.starts, semantic.papers, settings)
    return Meaning(fused, share, whole, has_whole, cosine)


def without(meaning: Meaning, hit: sparse.csr_matrix, starts: Ints) -> Meaning:
    """`meaning` without the papers excluded (`hit`, topic rows x papers): from that topic's share, and from
    the whole interests of its subscriber (whose other topics may still match the paper by themselves)."""
    rows = hit.shape[0]
    owner = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, rows)))
    to_subscriber = sparse.csr_matrix(
        (np.ones(rows, dtype=np.float32), (owner, np.arange(rows))), shape=(len(starts), rows)
    )
    excluded = sparse.csr_matrix((to_subscriber @ hit) > 0, dtype=np.float32)
    share = sparse.csr_matrix(meaning.share - meaning.share.multiply(hit))
    whole = sparse.csr_matrix(meaning.whole - meaning.whole.multiply(excluded))
    return Meaning(meaning.fused, share, whole, meaning.has_whole, meaning.cosine)


def meaning_of(cosine: Floats, floor: float) -> Floats:
    """Cosine similarity as meaning in 0..1: nothing up to the floor, where unrelated texts sit."""
    found: Floats = np.clip((cosine - floor) / (1.0 - floor), 0.0, 1.0).astype(np.float32)
    return found


def _whole(
    queries: Floats, starts: Ints, papers: Floats, settings: RankSettings
) -> tuple[sparse.csr_matrix, NDArray[np.bool_]]:
    """Per subscriber, the meaning of their whole interests: their topic vectors' unit sum vs each paper;
    and whether they have several topics with vectors (the others get none: see `with_whole`)."""
    summed = np.add.reduceat(queries, starts, axis=0)
    size = np.linalg.norm(summed, axis=1, keepdims=True)
    unit = summed / np.maximum(size, 1e-6)
    # With one topic the whole is that topic, whose meaning is already in its relevance.
    several = np.add.reduceat((np.abs(queries).sum(axis=1) > 0).astype(np.int64), starts) > 1
    whole = np.zeros((len(starts), papers.shape[0]), dtype=np.float32)
    whole[several] = meaning_of(unit[several] @ papers.T, settings.semantic_floor)
    return sparse.csr_matrix(whole), several


def with_whole(
    relevance: Flat, rows: Ints, meaning: Meaning, starts: Ints, weight: float, n_papers: int
) -> tuple[Flat, Ints]:
    """The subscribers' relevance (1 - weight) x best topic + weight x whole, over every paper either
    found; and for each, the row of the topic that explains it: the best-scoring one, or for a paper
    only the whole interests found, the topic whose vector is closest to it."""
    whole = flat(meaning.whole, n_papers)
    keys = np.union1d(relevance.keys, whole.keys)
    # Subscribers with one topic (or one with a vector: cat:, author: have none) keep their topics'.
    w = np.where(meaning.has_whole[keys // n_papers], weight, 0.0)
    values = (1 - w) * lookup(relevance, keys) + w * lookup(whole, keys)
    best = np.zeros(len(keys), dtype=np.int64)
    known = among(keys, relevance.keys)
    best[known] = rows[np.searchsorted(relevance.keys, keys[known])]
    new = np.flatnonzero(~known)
    if len(new):
        sub, col = np.divmod(keys[new], n_papers)
        counts = np.diff(np.append(starts, len(meaning.cosine)))
        closest = np.full(len(new), -np.inf, dtype=np.float32)
        for j in range(int(counts[sub].max())):
            row = starts[sub] + np.minimum(j, counts[sub] - 1)
            cos = meaning.cosine[row, col]
            better = cos > closest
            best[new[better]], closest[better] = row[better], cos[better]
    return Flat(keys, values.astype(np.float32)), best
