"""The phrase columns of a PaperIndex, found through a positional index of the papers' stems.

The batches of a send run rank against the same papers, each asking for the phrases its subscribers wrote.
Scanning every paper's stems again for each batch cost a fifth of preparing it. Instead the papers' stems
are laid end to end once (`PhraseFinder`: each title, abstract and keyword a sequence of its own, ended by
-1 so that no phrase spans two) and sorted once: a phrase's occurrences are then the stretch of the sorted
stream holding its first stem, narrowed by comparing the stems that follow. Each phrase is looked up once
a run, whichever batch asks for it first.

The columns come out exactly as a paper-by-paper scan made them: numbered in order of first occurrence,
each paper's entries in that order too, where occurrences are ordered by (paper, field, sequence, the
phrase's length in the order lengths first appear among the phrases asked for, position). The order of
columns and entries decides the order in which floats are summed, so it is kept to the last detail.
"""

from __future__ import annotations

import array
import functools
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from digest.rank.terms import phrase_key, stems
from digest.records import Candidate

# Phrases whose occurrences are kept before the cache is emptied (a few dozen bytes each, plus positions).
CACHE_LIMIT = 200_000

Ints = NDArray[np.int64]
Positions = NDArray[np.int32]  # in the stream of stems


class PhraseColumns(NamedTuple):
    """Phrase columns for one set of phrases: keys in column order, entries (row, column, tf) in the order
    a scan makes them, and per entry whether the phrase occurs in the title, abstract, keywords."""

    keys: list[str]
    rows: Ints
    cols: Ints  # numbered from 0: the first phrase column is 0
    tfs: NDArray[np.float64]
    in_field: NDArray[np.bool_]  # entries x 3


class PhraseFinder:
    """Where every stem sequence of one set of papers is, for finding phrases in them; keeps what it found."""

    def __init__(self, papers: Sequence[Candidate]) -> None:
        self._papers = papers
        self._found: dict[tuple[str, ...], Positions] = {}
        self._built = False  # the stream is laid out when a phrase is first looked for

    def _build(self) -> None:
        ids: dict[str, int] = {}
        stream = array.array("i")  # 32-bit: half the memory of int64 arrays, and no list of objects
        starts: list[int] = []
        rows: list[int] = []
        fields: list[int] = []
        for row, paper in enumerate(self._papers):
            for field, seqs in enumerate(field_stems(paper)):
                for seq in seqs:
                    starts.append(len(stream))
                    rows.append(row)
                    fields.append(field)
                    stream.extend([ids.setdefault(s, len(ids)) for s in seq])
                    stream.append(-1)
        self._ids = ids
        self._stream = np.frombuffer(stream, dtype=np.int32)
        self._order = np.argsort(self._stream, kind="stable").astype(np.int32)
        self._sorted = self._stream[self._order]
        self._starts = np.array(starts, dtype=np.int64)  # stream position of each sequence
        self._rows = np.array(rows, dtype=np.int64)  # paper row of each sequence
        self._fields = np.array(fields, dtype=np.int64)  # field of each sequence
        self._built = True

    def occurrences(self, phrase: tuple[str, ...]) -> Positions:
        """Stream positions where `phrase` starts, ascending."""
        found = self._found.get(phrase)
        if found is None:
            if len(self._found) >= CACHE_LIMIT:
                self._found.clear()
            found = self._found[phrase] = self._find(phrase)
        return found

    def _find(self, phrase: tuple[str, ...]) -> Positions:
        if not self._built:
            self._build()
        ids = [self._ids.get(s, -2) for s in phrase]  # -2: a stem no paper has, found nowhere
        first = np.int32(ids[0])  # of the array's type: a Python int would have the array converted
        lo = int(np.searchsorted(self._sorted, first, side="left"))
        hi = int(np.searchsorted(self._sorted, first, side="right"))
        at: Positions = self._order[lo:hi]  # ascending: the sort was stable
        # Each sequence ends with -1, which no stem id equals: `at + k` stays inside the stream.
        for k, wanted in enumerate(ids[1:], start=1):
            at = at[self._stream[at + k] == wanted]
        return at

    def columns(
        self, phrases: Iterable[tuple[str, ...]], title_weight: float, keywords_weight: float
    ) -> PhraseColumns:
        """The columns of the `phrases` (those of one stem or none have none) that occur in the papers."""
        sizes: dict[int, int] = {}  # phrase length -> its rank, in order of first appearance
        wanted = []
        for phrase in dict.fromkeys(phrases):
            if len(phrase) > 1:
                sizes.setdefault(len(phrase), len(sizes))
                wanted.append(phrase)
        found = [self.occurrences(phrase) for phrase in wanted]
        which = np.repeat(np.arange(len(wanted), dtype=np.int64), [len(f) for f in found])
        if not len(which):
            empty = np.zeros(0, dtype=np.int64)
            return PhraseColumns([], empty, empty, np.zeros(0), np.zeros((0, 3), dtype=bool))
        pos = np.concatenate(found)
        seq = np.searchsorted(self._starts, pos, side="right") - 1
        size_rank = np.array([sizes[len(p)] for p in wanted], dtype=np.int64)[which]
        # Scan order: sequence (so paper, then field), then phrase length's rank, then position.
        order = np.lexsort((pos, size_rank, seq))
        which, seq = which[order], seq[order]
        row, field = self._rows[seq], self._fields[seq]
        # Columns: phrases in order of first occurrence.
        present, first = np.unique(which, return_index=True)
        by_first = present[np.argsort(first)]
        col_of = np.full(len(wanted), -1, dtype=np.int64)
        col_of[by_first] = np.arange(len(by_first))
        # Entries: (paper, phrase) pairs in order of first occurrence; counts per field.
        pair = row * len(wanted) + which
        pairs, pair_first, pair_at = np.unique(pair, return_index=True, return_inverse=True)
        counts = np.zeros((len(pairs), 3), dtype=np.int64)
        np.add.at(counts, (pair_at.ravel(), field), 1)
        tfs = np.zeros(len(pairs), dtype=np.float64)
        # As a scan adds them up: field by field, title first, skipping fields without the phrase.
        for f, weight in enumerate((title_weight, 1.0, keywords_weight)):
            tfs = np.where(counts[:, f] > 0, tfs + weight * counts[:, f], tfs)
        ordered = np.argsort(pair_first)
        pairs = pairs[ordered]
        return PhraseColumns(
            [phrase_key(wanted[i]) for i in by_first.tolist()],
            pairs // len(wanted),
            col_of[pairs % len(wanted)],
            tfs[ordered],
            counts[ordered] > 0,
        )


def field_stems(
    paper: Candidate,
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The stems of the title, the abstract and the keywords, stopwords included, as sequences: each keyword
    is its own sequence so that a phrase never spans two keywords."""
    return [_text_stems(paper.title)], [_text_stems(paper.abstract)], [_text_stems(k) for k in paper.keywords]


@functools.lru_cache(maxsize=16_384)
def _text_stems(text: str) -> tuple[str, ...]:
    # Every batch of a run indexes the same papers; stems do not depend on the batch's phrases.
    return tuple(stems(text))
