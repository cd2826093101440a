"""Phrase columns found through PhraseFinder equal, column for column and entry for entry, those of the
paper-by-paper scan they replaced (kept here as the reference), and stay so across the batches of a run."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np
from scipy import sparse

from digest.rank.index import StemCache, _bm25, build_index, stem_index
from digest.rank.phrases import field_stems
from digest.rank.terms import phrase_key, stems
from digest.records import Candidate

WHEN = datetime(2026, 11, 28, tzinfo=UTC)
PAPERS = [
    Candidate(1, "Speculative decoding for large language models", "We speed up decoding of language "
              "models with a draft model. Speculative decoding keeps the output distribution.", ("A. B",),
              ("cs.CL",), ("speculative decoding", "LLM", "language", "models"), WHEN),
    Candidate(2, "Robot learning from demonstrations", "Imitation learning lets robots learn manipulation "
              "from a few demonstrations of large language models. Learning learning learning.", ("C. D",),
              ("cs.RO",), (), WHEN),
    Candidate(3, "Graph neural networks at scale", "Message passing on large graphs; mixture of experts.",
              (), ("cs.LG",), ("graph neural networks", "large language models"), WHEN),
    Candidate(4, "Nothing to see", "", (), (), (), WHEN),
]  # fmt: skip


def _p(text: str) -> tuple[str, ...]:
    return tuple(stems(text))


def reference_phrase_columns(
    papers: Sequence[Candidate], phrases: Iterable[tuple[str, ...]], title_w: float, keywords_w: float
) -> tuple[list[str], list[int], list[int], list[float], dict[int, tuple[set[int], ...]]]:
    """The scan build_index did before PhraseFinder: (keys in column order, rows, cols, tfs, fields added)."""
    grouped: dict[int, set[tuple[str, ...]]] = {}
    for phrase in phrases:
        if len(phrase) > 1:
            grouped.setdefault(len(phrase), set()).add(phrase)
    firsts = {p[0] for group in grouped.values() for p in group}
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    tfs: list[float] = []
    added: dict[int, tuple[set[int], ...]] = {}
    for row, paper in enumerate(papers if firsts else ()):
        per_field = []
        for seqs in field_stems(paper):
            counts: Counter[str] = Counter()
            for seq in seqs:
                starts = [i for i, s in enumerate(seq) if s in firsts]
                for size, wanted in grouped.items():
                    for start in starts:
                        if seq[start : start + size] in wanted:
                            counts[phrase_key(seq[start : start + size])] += 1
            per_field.append(counts)
        combined: dict[str, float] = {}
        for counts, weight in zip(per_field, (title_w, 1.0, keywords_w), strict=True):
            for key, n in counts.items():
                combined[key] = combined.get(key, 0.0) + weight * n
        for key, tf in combined.items():
            rows.append(row)
            cols.append(vocab.setdefault(key, len(vocab)))
            tfs.append(tf)
        if combined:
            added[row] = tuple({vocab[key] for key in counts} for counts in per_field)
    return list(vocab), rows, cols, tfs, added


def _check_against_reference(
    papers: Sequence[Candidate], phrases: list[tuple[str, ...]], shared: bool
) -> None:
    stems_part = stem_index(papers, 2.0, 0.5)
    index = build_index(papers, phrases, 2.0, 0.5, stems_part if shared else None)
    keys, rows, cols, tfs, added = reference_phrase_columns(papers, phrases, 2.0, 0.5)
    offset = len(stems_part.vocab)
    assert list(index.vocab) == list(stems_part.vocab) + keys
    assert [index.vocab[k] for k in keys] == list(range(offset, offset + len(keys)))
    expected = sparse.csr_matrix(
        (np.asarray(tfs, dtype=np.float32), (rows, np.asarray(cols, dtype=np.int64))),
        shape=(len(papers), len(keys)),
    )
    tf = sparse.hstack([stems_part.tf, expected]).tocsr()
    weights, idf = _bm25(tf, stems_part.lengths, index.avgdl)
    # Same entries in the same order within each row (the order floats are summed in), same values.
    got = index.weights
    assert np.array_equal(got.indptr, tf.indptr) and np.array_equal(got.indices, tf.indices)
    assert np.array_equal(got.data, weights.data) and np.array_equal(index.idf, idf)
    assert index.fields == stems_part.fields
    for row in range(len(papers)):
        title, abstract, keywords = added.get(row, (set(), set(), set()))
        for col in range(len(keys)):
            place = "title" if col in title else "abstract" if col in abstract else None
            place = place or ("keywords" if col in keywords else None)
            assert index.where(row, offset + col) == place


def test_phrase_columns_equal_the_paper_by_paper_scan() -> None:
    cases = [
        [],
        [_p("language models")],
        [_p("speculative decoding"), _p("language models"), _p("large language models")],
        [_p("learning learning")],  # overlapping occurrences count twice each
        [_p("mixture of experts"), _p("graph neural networks"), _p("of experts"), _p("neural")],
        [_p("llm language")],  # would span two keywords: no occurrence
        [_p("unheard phrase"), _p("language models"), _p("language models")],  # unknown stem; duplicate
    ]
    for phrases in cases:
        for shared in (False, True):
            _check_against_reference(PAPERS, phrases, shared)


def test_phrase_columns_equal_the_scan_for_random_phrases_and_orders() -> None:
    rng = random.Random(3)
    seqs = [s for paper in PAPERS for field in field_stems(paper) for s in field if len(s) > 1]
    for _ in range(200):
        phrases = []
        for _ in range(rng.randint(0, 8)):
            seq = rng.choice(seqs)
            size = rng.randint(2, min(4, len(seq)))
            start = rng.randrange(len(seq) - size + 1)
            phrases.append(seq[start : start + size])
        _check_against_reference(rng.sample(PAPERS, len(PAPERS)), phrases, rng.random() < 0.5)


def test_phrases_are_looked_up_once_a_run_and_columns_follow_each_batch() -> None:
    """Phrases first seen in a later batch, in every batch, in none: each batch's index is the one built
    from scratch for its phrases, with the same column numbers."""
    cache = StemCache()
    models, decoding, experts = _p("language models"), _p("speculative decoding"), _p("mixture of experts")
    batches = [[models], [decoding, models], [], [experts, decoding], [models]]
    for phrases in batches:
        shared = build_index(PAPERS, set(phrases), 2.0, 1.0, cache.get(PAPERS, 2.0, 1.0))
        alone = build_index(PAPERS, set(phrases), 2.0, 1.0)
        assert list(shared.vocab.items()) == list(alone.vocab.items())
        for left, right in ((shared.weights, alone.weights), (shared.unit, alone.unit)):
            assert np.array_equal(left.indptr, right.indptr) and np.array_equal(left.indices, right.indices)
            assert np.array_equal(left.data, right.data)
        assert shared.fields == alone.fields and shared.phrase_places == alone.phrase_places
    finder = cache.get(PAPERS, 2.0, 1.0).phrases
    assert finder.occurrences(models) is finder.occurrences(models)  # found once, then kept
