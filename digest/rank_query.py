"""Subscribers' topics as sparse query matrices over a PaperIndex's columns.

A topic becomes keys (stems, phrase keys, "cat:..." and "au:..." keys) once, independently of the day's
papers; a chunk of subscribers then becomes four sparse matrices with one row per topic. A word that
tokenises into several tokens ("mixture-of-experts") is matched as a phrase; a lone stopword is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

from digest.interests import Topic
from digest.rank_index import K1, MIN_IDF_PAPERS, PaperIndex
from digest.terms import STOP_STEMS, author_query_key, category_query_key, phrase_key, stem, tokens


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


def topic_keys(topic: Topic) -> TopicKeys:
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
class ChunkQueries:
    """A chunk of subscribers' topics: row r of each matrix is topic r; `starts` groups rows by subscriber."""

    topics: tuple[TopicKeys, ...]
    starts: np.ndarray  # first row of each subscriber in the chunk
    match: sparse.csr_matrix  # rows x index.vocab
    exclude: sparse.csr_matrix  # rows x index.vocab
    categories: sparse.csr_matrix  # rows x index.meta_vocab
    authors: sparse.csr_matrix  # rows x index.meta_vocab
    has_text: np.ndarray  # per row: the topic has words or phrases (categories boost, not restrict)
    n_terms: np.ndarray  # per row: how many words and phrases the topic has, known to the index or not
    ideal: np.ndarray  # per row: the highest BM25 score the topic could reach (every term, saturated)


def chunk_queries(index: PaperIndex, per_subscriber: Sequence[Sequence[TopicKeys]]) -> ChunkQueries:
    """Query matrices for subscribers who each have at least one topic."""
    topics = tuple(t for group in per_subscriber for t in group)
    starts = np.cumsum([0] + [len(group) for group in per_subscriber[:-1]])
    vocab, meta = index.vocab, index.meta_vocab
    match = _rows(((vocab.get(key) for _, key in t.match) for t in topics), len(topics), len(vocab))
    n_terms = np.array([max(1, len(t.match)) for t in topics], dtype=np.float32)
    # A word no paper uses today is as rare as can be: it counts fully towards what a perfect paper has.
    unknown = n_terms - np.diff(match.indptr)
    rarest = np.log1p((max(len(index.papers), MIN_IDF_PAPERS) + 0.5) / 0.5)
    ideal = (K1 + 1) * (match @ index.idf + unknown * rarest)
    return ChunkQueries(
        topics,
        starts,
        match,
        _few_rows(
            {r: [vocab.get(key) for key in t.exclude] for r, t in enumerate(topics) if t.exclude}, match
        ),
        _few_rows(
            {r: [meta.get(key) for _, key in t.categories] for r, t in enumerate(topics) if t.categories},
            match,
            len(meta),
        ),
        _few_rows(
            {r: [meta.get(key) for _, key in t.authors] for r, t in enumerate(topics) if t.authors},
            match,
            len(meta),
        ),
        np.array([bool(t.match) for t in topics], dtype=bool),
        n_terms,
        np.maximum(ideal, 1e-6).astype(np.float32),
    )


def _few_rows(
    columns: dict[int, list[int | None]], like: sparse.csr_matrix, n_cols: int | None = None
) -> sparse.csr_matrix:
    """Like `_rows` for a matrix whose rows are mostly empty (exclusions, categories, authors): only the
    rows that have terms are visited, which matters with hundreds of thousands of topics."""
    n_rows = like.shape[0]
    width = like.shape[1] if n_cols is None else n_cols
    rows = [r for r, cols in columns.items() for c in set(cols) if c is not None]
    cols = [c for cols in columns.values() for c in set(cols) if c is not None]
    data = np.ones(len(rows), dtype=np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(n_rows, width))


def _rows(columns: Iterable[Iterable[int | None]], n_rows: int, n_cols: int) -> sparse.csr_matrix:
    """A 0/1 matrix with a 1 at each known column of each row (unknown terms simply match nothing)."""
    per_row = [sorted({c for c in cols if c is not None}) for cols in columns]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum([len(cols) for cols in per_row], out=indptr[1:])
    indices = np.fromiter((c for cols in per_row for c in cols), dtype=np.int32, count=int(indptr[-1]))
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
