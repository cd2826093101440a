"""The day's candidates as sparse matrices: BM25 term weights, and category/author presence.

Built once per ranking run and shared by every subscriber. Text columns are word stems plus the phrases
that some subscriber asked for (a phrase is a column of its own, counted where its stems occur
consecutively); stopwords get no column. Title, abstract and keywords are folded into one weighted term
frequency (BM25F-style): a title occurrence counts `title_weight` times.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from digest.rank.phrases import PhraseFinder, field_stems
from digest.rank.terms import STOP_STEMS, author_keys, category_keys
from digest.records import Candidate

TITLE, ABSTRACT, KEYWORDS = 0, 1, 2
K1, _B = 1.2, 0.75
# IDF is computed as if the day had at least this many papers. A small day (30 HF papers, half of them about
# LLMs) would otherwise make "LLM" look like a stopword and push every match under the minimum score.
MIN_IDF_PAPERS = 1000


@dataclass(frozen=True, slots=True)
class Fields:
    """Where each column occurs in one paper: title, abstract, keywords (for explanations)."""

    title: frozenset[int]
    abstract: frozenset[int]
    keywords: frozenset[int]

    def where(self, col: int) -> str | None:
        if col in self.title:
            return "title"
        if col in self.abstract:
            return "abstract"
        return "keywords" if col in self.keywords else None


@dataclass(frozen=True, slots=True)
class PaperIndex:
    papers: Sequence[Candidate]
    vocab: dict[str, int]  # stem or phrase key -> column of `weights`
    weights: sparse.csr_matrix  # papers x vocab, BM25 weight of each term in each paper
    present: sparse.csr_matrix  # same shape, 1.0 where the term occurs at all
    unit: sparse.csr_matrix  # `weights` with rows scaled to unit length, for feedback similarity
    meta_vocab: dict[str, int]  # "cat:cs.cl", "au:y lecun" -> column of `meta`
    meta: sparse.csr_matrix  # papers x meta_vocab, 1.0 where the paper has that category or author
    # Where each column occurs in each paper, for explanations: the stem columns' Fields are the run's
    # (StemIndex), the phrase columns (numbered from `stem_columns` on) are keyed row x len(vocab) + column.
    fields: tuple[Fields, ...]
    stem_columns: int
    phrase_places: dict[int, str]
    idf: NDArray[np.float32]
    avgdl: float
    title_weight: float
    keywords_weight: float

    def where(self, row: int, col: int) -> str | None:
        """Where column `col` occurs in paper `row`: "title", else "abstract", else "keywords"; or None."""
        if col >= self.stem_columns:
            return self.phrase_places.get(row * len(self.vocab) + col)
        return self.fields[row].where(col)

    def vector(self, paper: Candidate) -> dict[int, float]:
        """A paper's unit-length BM25 vector over this index's columns (for papers outside the day's set)."""
        counts, length = _weighted_counts(_field_counts(paper), self.title_weight, self.keywords_weight)
        norm = 1 - _B + _B * length / self.avgdl
        vec = {}
        for key, tf in counts.items():
            col = self.vocab.get(key)
            if col is not None:
                vec[col] = float(self.idf[col]) * tf * (K1 + 1) / (tf + K1 * norm)
        size = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {col: v / size for col, v in vec.items()}


@dataclass(frozen=True, slots=True)
class StemIndex:
    """The phrase-independent part of an index: the stem columns of one set of papers. The batches of a
    send run rank against the same papers, so they share one and each adds only the phrases its
    subscribers asked for (tokenising and counting 2,000 abstracts again for every batch of 1,000 digests
    was a fifth of the cost of preparing them)."""

    paper_ids: tuple[int, ...]
    vocab: dict[str, int]
    tf: sparse.csr_matrix  # papers x stems, BM25F-weighted term frequency
    lengths: NDArray[np.float32]
    fields: tuple[Fields, ...]  # per paper: where its stem columns occur; shared by every batch's index
    title_weight: float
    keywords_weight: float
    phrases: PhraseFinder  # the phrases looked for so far, and where they occur
    meta_vocab: dict[str, int]  # as PaperIndex's, which shares them: they depend on the papers alone
    meta: sparse.csr_matrix

    def fits(self, papers: Sequence[Candidate], title_weight: float, keywords_weight: float) -> bool:
        same_weights = (self.title_weight, self.keywords_weight) == (title_weight, keywords_weight)
        return same_weights and self.paper_ids == tuple(p.paper_id for p in papers)


class StemCache:
    """The last StemIndex built, for the next ranking over the same papers (the batches of one run)."""

    def __init__(self) -> None:
        self.last: StemIndex | None = None

    def get(self, papers: Sequence[Candidate], title_weight: float, keywords_weight: float) -> StemIndex:
        if self.last is None or not self.last.fits(papers, title_weight, keywords_weight):
            self.last = stem_index(papers, title_weight, keywords_weight)
        return self.last


def stem_index(papers: Sequence[Candidate], title_weight: float, keywords_weight: float) -> StemIndex:
    vocab: dict[str, int] = {}
    lengths = np.zeros(len(papers), dtype=np.float32)
    triplets = _Triplets()
    fields = []
    for row, paper in enumerate(papers):
        per_field = _field_counts(paper)
        combined, lengths[row] = _weighted_counts(per_field, title_weight, keywords_weight)
        triplets.add(row, combined, vocab)
        fields.append(Fields(*(frozenset(vocab[key] for key in counts) for counts, _ in per_field)))
    tf = triplets.matrix((len(papers), len(vocab)))
    ids = tuple(p.paper_id for p in papers)
    finder = PhraseFinder(papers)
    meta_vocab, meta = _meta(papers)
    return StemIndex(
        ids, vocab, tf, lengths, tuple(fields), title_weight, keywords_weight, finder, meta_vocab, meta
    )


def build_index(
    papers: Sequence[Candidate],
    phrases: Iterable[tuple[str, ...]],
    title_weight: float,
    keywords_weight: float,
    stems: StemIndex | None = None,
) -> PaperIndex:
    """Index `papers` for ranking; `phrases` are the stemmed phrases any subscriber asked for. `stems`, when
    built for these papers and weights, saves counting their words again."""
    if stems is None or not stems.fits(papers, title_weight, keywords_weight):
        stems = stem_index(papers, title_weight, keywords_weight)
    vocab, phrase_tf, phrase_places = _phrase_columns(papers, phrases, stems)
    tf = sparse.hstack([stems.tf, phrase_tf]).tocsr()
    lengths = stems.lengths
    avgdl = float(lengths.mean()) if len(papers) and lengths.mean() > 0 else 1.0
    weights, idf = _bm25(tf, lengths, avgdl)
    present = tf.copy()
    present.data[:] = 1.0
    return PaperIndex(
        papers,
        vocab,
        weights,
        present,
        _unit_rows(weights),
        stems.meta_vocab,
        stems.meta,
        stems.fields,
        len(stems.vocab),
        phrase_places,
        idf,
        avgdl,
        title_weight,
        keywords_weight,
    )


def _phrase_columns(
    papers: Sequence[Candidate], phrases: Iterable[tuple[str, ...]], stems: StemIndex
) -> tuple[dict[str, int], sparse.csr_matrix, dict[int, str]]:
    """The vocabulary with the wanted phrases after the stem columns, the phrase columns' weighted term
    frequencies, and where each phrase occurs in each paper (see PaperIndex.phrase_places)."""
    found = stems.phrases.columns(phrases, stems.title_weight, stems.keywords_weight)
    offset = len(stems.vocab)
    vocab = dict(stems.vocab)
    vocab.update(zip(found.keys, range(offset, offset + len(found.keys)), strict=True))
    keys = found.rows * len(vocab) + offset + found.cols
    # The first field it occurs in: title, else abstract, else keywords (as Fields.where).
    first = np.argmax(found.in_field, axis=1).tolist()
    places = dict(zip(keys.tolist(), [_PLACES[f] for f in first], strict=True))
    data = found.tfs.astype(np.float32)
    shape = (len(papers), len(found.keys))
    return vocab, sparse.csr_matrix((data, (found.rows, found.cols)), shape=shape), places


_PLACES = ("title", "abstract", "keywords")


class _Triplets:
    """(row, column, tf) entries of a sparse matrix being built, columns numbered in order of appearance."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.tfs: list[float] = []

    def add(self, row: int, combined: dict[str, float], vocab: dict[str, int]) -> None:
        for key, tf in combined.items():
            self.rows.append(row)
            self.cols.append(vocab.setdefault(key, len(vocab)))
            self.tfs.append(tf)

    def matrix(self, shape: tuple[int, int], offset: int = 0) -> sparse.csr_matrix:
        cols = np.asarray(self.cols, dtype=np.int64) - offset
        data = np.asarray(self.tfs, dtype=np.float32)
        return sparse.csr_matrix((data, (self.rows, cols)), shape=(shape[0], shape[1] - offset))


def _field_counts(paper: Candidate) -> list[tuple[Counter[str], int]]:
    """Stem counts (stopwords left out) and length in tokens of the title, the abstract and the keywords."""
    found = []
    for seqs in field_stems(paper):
        counts: Counter[str] = Counter()
        for seq in seqs:
            counts.update(s for s in seq if s not in STOP_STEMS)
        found.append((counts, sum(len(seq) for seq in seqs)))
    return found


def _combine(
    per_field: list[tuple[Counter[str], int]], title_weight: float, keywords_weight: float
) -> dict[str, float]:
    combined: dict[str, float] = {}
    for (counts, _), weight in zip(per_field, (title_weight, 1.0, keywords_weight), strict=True):
        for key, n in counts.items():
            combined[key] = combined.get(key, 0.0) + weight * n
    return combined


def _weighted_counts(
    per_field: list[tuple[Counter[str], int]], title_weight: float, kw_weight: float
) -> tuple[dict[str, float], float]:
    length = title_weight * per_field[0][1] + per_field[1][1] + kw_weight * per_field[2][1]
    return _combine(per_field, title_weight, kw_weight), length


def _bm25(
    tf: sparse.csr_matrix, lengths: NDArray[np.float32], avgdl: float
) -> tuple[sparse.csr_matrix, NDArray[np.float32]]:
    n_papers = max(tf.shape[0], MIN_IDF_PAPERS)
    df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float32)
    idf = np.log1p((n_papers - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = (1 - _B + _B * lengths / avgdl).astype(np.float32)
    row_norm = np.repeat(norm, np.diff(tf.indptr))
    weights = tf.copy()
    weights.data = (tf.data * (K1 + 1) / (tf.data + K1 * row_norm) * idf[tf.indices]).astype(np.float32)
    return weights, idf


def _unit_rows(weights: sparse.csr_matrix) -> sparse.csr_matrix:
    squared = weights.multiply(weights).sum(axis=1)
    size = np.sqrt(np.asarray(squared, dtype=np.float32).ravel())
    size[size == 0] = 1.0
    unit: sparse.csr_matrix = sparse.diags(1.0 / size).dot(weights).tocsr().astype(np.float32)
    return unit


def _meta(papers: Sequence[Candidate]) -> tuple[dict[str, int], sparse.csr_matrix]:
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for row, paper in enumerate(papers):
        keys = {key for cat in paper.categories for key in category_keys(cat)}
        keys.update(key for name in paper.authors for key in author_keys(name))
        for key in keys:
            rows.append(row)
            cols.append(vocab.setdefault(key, len(vocab)))
    data = np.ones(len(rows), dtype=np.float32)
    return vocab, sparse.csr_matrix((data, (rows, cols)), shape=(len(papers), len(vocab)))
