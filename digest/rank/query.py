"""Subscribers' topics as sparse query matrices over a PaperIndex's columns.

A topic becomes keys (stems, phrase keys, "cat:..." and "au:..." keys) once, independently of the day's
papers; a run's distinct topics then become a TopicTable of sparse query rows (once), from which each
chunk of subscribers takes four sparse matrices with one row per topic. A word that tokenises into several
tokens ("mixture-of-experts") is matched as a phrase; a lone stopword is dropped. Feedback ("more/less like
this") is a query too: the Rocchio vector of the papers concerned, compared with every paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank.index import K1, MIN_IDF_PAPERS, PaperIndex
from digest.rank.interests import Topic
from digest.rank.terms import STOP_STEMS, author_query_key, category_query_key, phrase_key, stem, tokens

if TYPE_CHECKING:
    from digest.rank.ranker import Profile
    from digest.rank.score import Context

# Cosine similarity with the feedback vector is scaled by this before tanh: ~0.3 gives most of the effect.
FEEDBACK_GAIN = 4.0
# Factors kept for single-paper feedback (one float32 per paper each) before the cache is emptied: 64 MB.
FACTOR_CACHE_CELLS = 16_000_000

Floats = NDArray[np.float32]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TopicKeys:
    topic: Topic
    match: tuple[tuple[str, str], ...]  # (as written, key): words and phrases that score
    exclude: tuple[str, ...]
    categories: tuple[tuple[str, str], ...]  # (as written, key)
    authors: tuple[tuple[str, str], ...]  # (as written, key)

    @property
    def phrases(self) -> list[tuple[str, ...]]:
        return [tuple(key.split(" ")) for _, key in self.match if " " in key] + [
            tuple(key.split(" ")) for key in self.exclude if " " in key
        ]


@lru_cache(maxsize=16_384)
def topic_keys(topic: Topic) -> TopicKeys:
    """The keys of a topic. Cached: each batch of a send run makes them for its topics, and popular topics
    are in many batches (both are immutable, so the batches can share them)."""
    match = [(word, _key(word)) for word in topic.words] + [(p, _key(p)) for p in topic.phrases]
    exclude = [_key(text) for text in topic.exclude_words + topic.exclude_phrases]
    return TopicKeys(
        topic,
        tuple((shown, key) for shown, key in match if key),
        tuple(key for key in exclude if key),
        tuple((cat, category_query_key(cat)) for cat in topic.categories),
        tuple((name, author_query_key(name)) for name in topic.authors),
    )


@lru_cache(maxsize=262_144)
def _key(text: str) -> str:
    # Cached: with many subscribers the same words ("learning", "diffusion") recur in thousands of topics.
    stemmed = tuple(stem(tok) for tok in tokens(text))
    if len(stemmed) == 1 and stemmed[0] in STOP_STEMS:
        return ""
    return phrase_key(stemmed)


@dataclass(frozen=True, slots=True)
class TopicTable:
    """Every distinct topic of a run as query rows over the day's index, built once: row t is topic id t.

    Subscribers share many topics ("diffusion models" is in thousands of profiles), and turning keys into
    columns is Python work per topic; chunks then take their rows from here with one sparse row selection.
    """

    keys: tuple[TopicKeys, ...]
    match: sparse.csr_matrix  # topics x index.vocab
    exclude: sparse.csr_matrix  # topics x index.vocab
    categories: sparse.csr_matrix  # topics x index.meta_vocab
    authors: sparse.csr_matrix  # topics x index.meta_vocab
    has_text: np.ndarray  # per topic: it has words or phrases (categories boost, not restrict)
    n_terms: np.ndarray  # per topic: how many words and phrases it has, known to the index or not
    ideal: np.ndarray  # per topic: the highest BM25 score it could reach (every term, saturated)


@dataclass(frozen=True, slots=True)
class ChunkQueries:
    """A chunk of subscribers' topics: row r of each matrix is topic `ids[r]`; `starts` groups rows by
    subscriber."""

    ids: np.ndarray  # topic id (row of the TopicTable) of each row
    starts: np.ndarray  # first row of each subscriber in the chunk
    match: sparse.csr_matrix  # rows x index.vocab
    exclude: sparse.csr_matrix  # rows x index.vocab
    categories: sparse.csr_matrix  # rows x index.meta_vocab
    authors: sparse.csr_matrix  # rows x index.meta_vocab
    has_text: np.ndarray
    n_terms: np.ndarray
    ideal: np.ndarray


def topic_table(index: PaperIndex, keys: Sequence[TopicKeys]) -> TopicTable:
    """Query rows for `keys` (a run's distinct topics) over `index`."""
    topics = tuple(keys)
    vocab, meta = index.vocab, index.meta_vocab
    n = len(topics)
    match = _matrix(((r, vocab.get(k)) for r, t in enumerate(topics) for _, k in t.match), n, len(vocab))
    n_terms = np.array([max(1, len(t.match)) for t in topics], dtype=np.float32)
    # A word no paper uses today is as rare as can be: it counts fully towards what a perfect paper has.
    unknown = n_terms - np.diff(match.indptr)
    rarest = np.log1p((max(len(index.papers), MIN_IDF_PAPERS) + 0.5) / 0.5)
    ideal = (K1 + 1) * (match @ index.idf + unknown * rarest)
    return TopicTable(
        topics,
        match,
        _matrix(((r, vocab.get(k)) for r, t in enumerate(topics) for k in t.exclude), n, len(vocab)),
        _matrix(((r, meta.get(k)) for r, t in enumerate(topics) for _, k in t.categories), n, len(meta)),
        _matrix(((r, meta.get(k)) for r, t in enumerate(topics) for _, k in t.authors), n, len(meta)),
        np.array([bool(t.match) for t in topics], dtype=bool),
        n_terms,
        np.maximum(ideal, 1e-6).astype(np.float32),
    )


def chunk_queries(table: TopicTable, ids: np.ndarray, counts: np.ndarray) -> ChunkQueries:
    """Query matrices for subscribers who each have at least one topic: `counts[i]` TopicTable rows each,
    taken in order from `ids`."""
    starts = np.concatenate([[0], np.cumsum(counts[:-1])]).astype(np.int64)
    return ChunkQueries(
        ids,
        starts,
        table.match[ids],
        table.exclude[ids],
        table.categories[ids],
        table.authors[ids],
        table.has_text[ids],
        table.n_terms[ids],
        table.ideal[ids],
    )


def _matrix(entries: Iterable[tuple[int, int | None]], n_rows: int, n_cols: int) -> sparse.csr_matrix:
    """A 0/1 matrix with a 1 at each (row, column) of `entries`, columns sorted within each row; unknown
    terms (column None) simply match nothing.

    Built from one flat array of keys, not a list per row: with a hundred thousand topics, per-row lists
    are that many more objects for the garbage collector to walk.
    """
    width = max(1, n_cols)
    keys = np.unique(np.fromiter((r * width + c for r, c in entries if c is not None), dtype=np.int64))
    rows, cols = np.divmod(keys, width)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    data = np.ones(len(keys), dtype=np.float32)
    return sparse.csr_matrix((data, cols.astype(np.int32), indptr), shape=(n_rows, n_cols))


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


def feedback_factors(ctx: Context, profiles: Sequence[Profile]) -> Feedback | None:
    """Similarity of each paper with the Rocchio vector of each subscriber who gave feedback.

    Only those subscribers get a row (a tenth of them or fewer, in practice), so the factors are kept
    dense: looking one up is then one fancy index rather than a search in a sparse matrix. Most give
    feedback on one paper, whose factors are the same for everyone who did: those are computed once a run
    (`Context.single_factors`), the others (several papers) once a chunk, all in one product.
    """
    row_of = np.full(len(profiles), -1, dtype=np.int64)
    given: list[list[tuple[int, float, dict[int, float]]]] = []  # (paper id, sign, vector) per row
    for at, profile in enumerate(profiles):
        if profile.feedback:
            known = [
                (pid, float(np.sign(v)), vec)
                for pid, v in profile.feedback.items()
                if v and (vec := ctx.vector(pid))
            ]
            if known:
                row_of[at] = len(given)
                given.append(known)
    if not given:
        return None
    single = ctx.single_factors
    if len(single) * len(ctx.index.papers) > FACTOR_CACHE_CELLS:
        single.clear()  # bounds its memory however many papers get feedback on a big day
    todo = {(g[0][0], g[0][1]): g for g in given if len(g) == 1 and (g[0][0], g[0][1]) not in single}
    several = [g for g in given if len(g) > 1]
    groups = [*todo.values(), *several]
    computed = rocchio_factors(ctx, [[(sign, vec) for _, sign, vec in g] for g in groups])
    single.update((key, computed[at]) for at, key in enumerate(todo))
    rows = iter(range(len(todo), len(groups)))
    factors = [single[(g[0][0], g[0][1])] if len(g) == 1 else computed[next(rows)] for g in given]
    return Feedback(row_of, np.stack(factors))


def rocchio_factors(ctx: Context, groups: Sequence[Sequence[tuple[float, dict[int, float]]]]) -> Floats:
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
    shape = (len(groups), ctx.index.unit.shape[1])
    rocchio = sparse.csr_matrix((np.asarray(data, dtype=np.float32), (rows, cols)), shape=shape)
    similarity = np.asarray(sparse.csr_matrix(rocchio @ ctx.unit_t).toarray(), dtype=np.float32)
    factors: Floats = ctx.settings.feedback_weight * np.tanh(FEEDBACK_GAIN * similarity)
    return factors
