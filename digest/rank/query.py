"""Subscribers' topics as sparse query matrices over a PaperIndex's columns.

A topic becomes keys (stems, phrase keys, "cat:..." and "au:..." keys) once, independently of the day's
papers; a run's distinct topics then become a TopicTable of sparse query rows (once), from which each
chunk of subscribers takes four sparse matrices with one row per topic. A word that tokenises into several
tokens ("mixture-of-experts") is matched as a phrase; a lone stopword is dropped.

A topic of three to five words ("large language models", "cosmic microwave background") also matches its
acronym ("LLM", "LLMs", "CMB"), which papers use as often as the words: a paper with the acronym scores as
well as the topic's words would alone (see score.py). Shorter topics get none: two letters ("RL" for "robot
learning") are too often something else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank.index import K1, MIN_IDF_PAPERS, PaperIndex
from digest.rank.interests import Topic
from digest.rank.terms import STOP_STEMS, author_query_key, category_query_key, phrase_key, stem, tokens

Floats = NDArray[np.float32]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TopicKeys:
    topic: Topic
    match: tuple[tuple[str, str], ...]  # (as written, key): words and phrases that score
    exclude: tuple[str, ...]
    categories: tuple[tuple[str, str], ...]  # (as written, key)
    authors: tuple[tuple[str, str], ...]  # (as written, key)
    acronym: tuple[tuple[str, str], ...] = ()  # ("LLM", "llm") for "large language models"

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
        _acronym(topic),
    )


def _acronym(topic: Topic) -> tuple[tuple[str, str], ...]:
    """The topic's acronym, when it is 3-5 words (or one such phrase) and nothing else."""
    if (topic.words and topic.phrases) or len(topic.phrases) > 1:
        return ()
    words = [
        tok for text in topic.words + topic.phrases for tok in tokens(text) if stem(tok) not in STOP_STEMS
    ]
    if not 3 <= len(words) <= 5 or not all(w.isalpha() for w in words):
        return ()
    initials = "".join(w[0] for w in words)
    return ((initials.upper(), stem(initials)),)


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
    acronym: sparse.csr_matrix  # topics x index.vocab, each row scaled by 1 / its highest BM25 score


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
    acronym: sparse.csr_matrix


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
        _acronyms(index, topics),
    )


def _acronyms(index: PaperIndex, topics: Sequence[TopicKeys]) -> sparse.csr_matrix:
    vocab = index.vocab
    found = _matrix(
        ((r, vocab.get(k)) for r, t in enumerate(topics) for _, k in t.acronym), len(topics), len(vocab)
    )
    # Scaled so that the product with the BM25 weights is the acronym's relevance as a topic of its own.
    found.data = (1.0 / ((K1 + 1) * np.maximum(index.idf[found.indices], 1e-6))).astype(np.float32)
    return found


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
        table.acronym[ids],
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
