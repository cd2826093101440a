"""Sparse matrices as flat sorted (key, value) arrays, for vectorised lookups and per-row top-k.

A key is row x n_cols + col. A CSR matrix with sorted indices yields its keys already in order, so a
lookup of many (row, col) pairs at once is one `searchsorted`, and selecting each row's k largest entries
works on the non-zero entries only (one partition, then a sort of the few that can be chosen) instead of
on every column. Topic rows become subscriber keys the same way (`by_subscriber`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

Ints = NDArray[np.int64]
Floats = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Flat:
    keys: Ints  # ascending
    values: Floats


def rows_of(matrix: sparse.csr_matrix) -> Ints:
    """The row of each stored entry of a CSR matrix, in storage order."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def flat(matrix: sparse.csr_matrix, n_cols: int) -> Flat:
    """The stored entries of `matrix` (whose indices must be sorted) as ascending keys and their values."""
    keys = rows_of(matrix) * n_cols + matrix.indices.astype(np.int64)
    return Flat(keys, np.asarray(matrix.data, dtype=np.float32))


def lookup(table: Flat, keys: Ints) -> Floats:
    """The value stored at each of `keys`, 0 where nothing is stored."""
    if not len(table.keys):
        return np.zeros(len(keys), dtype=np.float32)
    at = np.minimum(np.searchsorted(table.keys, keys), len(table.keys) - 1)
    found: Floats = np.where(table.keys[at] == keys, table.values[at], np.float32(0)).astype(np.float32)
    return found


def top_k(keys: Ints, order: NDArray[np.floating], k: int, n_cols: int) -> Ints:
    """Positions of each row's k largest `order` values, grouped by row ascending, largest first.

    Ties keep column order (the candidates' order), as a stable sort would.
    """
    if k <= 0 or not len(keys):
        return np.zeros(0, dtype=np.int64)
    rows = keys // n_cols
    # One stable sort on (row, -order) packed into a float64: rows are whole multiples of a span wider
    # than any order value, so rows never mix; equal orders keep their (column) order.
    span = 2.0 * (float(np.abs(order).max()) + 1.0)
    packed = rows * span - order
    # Only entries up to each row's k-th smallest packed value can be chosen: one partition finds them
    # all (in sorted order the rows follow each other, row r's entries from the count of smaller rows
    # on), and the stable sort then orders those few (ties with the k-th included) instead of all.
    counts = np.bincount(rows)
    present = np.flatnonzero(counts)
    sizes = counts[present]
    kth = np.cumsum(sizes) - sizes + np.minimum(sizes, k) - 1
    limit = np.full(len(counts), np.inf)
    limit[present] = np.partition(packed, kth)[kth]
    candidates = np.flatnonzero(packed <= limit[rows])
    ranked = candidates[np.argsort(packed[candidates], kind="stable")]
    sorted_rows = rows[ranked]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    first_of_row = np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
    within = np.arange(len(ranked)) - first_of_row
    chosen: Ints = ranked[within < k].astype(np.int64)
    return chosen


def by_subscriber(starts: Ints, topics: sparse.csr_matrix, weight: float, n_papers: int) -> tuple[Flat, Ints]:
    """Best topic per subscriber plus `weight` x the other topics' sum, as flat subscriber keys; and for
    each key the row of its best topic (the first of the subscriber's rows with the highest value).
    Subscriber i's topics are the rows from `starts[i]` on.

    Each topic row's entries become (subscriber, paper) keys; one stable sort brings a subscriber's rows
    together (each row is already a sorted run, which the sort exploits), then two reduceats give the
    maximum and the sum per key, over the keys that more than one topic matched: a key matched once is
    its one value (v + w x (v - v) = v exactly), from its one row.
    """
    counts = np.diff(np.append(starts, topics.shape[0]))
    row_base = np.repeat(np.arange(len(starts), dtype=np.int64) * n_papers, counts)
    per_row = np.diff(topics.indptr)
    keys = np.repeat(row_base, per_row) + topics.indices
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], np.asarray(topics.data, dtype=np.float32)[order]
    if not len(keys):
        return Flat(keys, values), np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(len(per_row), dtype=np.int64), per_row)[order]
    first = np.empty(len(keys), dtype=bool)  # the first entry of its key
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    alone = first.copy()  # the only entry of its key
    alone[:-1] &= first[1:]
    starts = np.flatnonzero(first)
    result, best_rows = values[starts], rows[starts]
    if not alone.all():
        # The keys matched more than once, gathered so that each stays one run of `values` in order. By
        # position: indexing with a boolean mask over every entry (a million at 1,000 subscribers) costs
        # several times a gather of the positions it selects, and was taken three times.
        multi = np.flatnonzero(~alone)
        grouped = values[multi]
        runs = np.flatnonzero(first[multi])
        best = np.maximum.reduceat(grouped, runs)
        total = np.add.reduceat(grouped, runs)
        shared = np.flatnonzero(~alone[starts])
        result[shared] = (best + weight * (total - best)).astype(np.float32)
        # Each run's first entry holding its maximum (rows are in order within a run).
        at_best = np.flatnonzero(grouped == np.repeat(best, np.diff(np.append(runs, len(grouped)))))
        best_rows[shared] = rows[multi[at_best[np.searchsorted(at_best, runs)]]]
    return Flat(keys[starts], result), best_rows


def among(keys: Ints, wanted: Ints) -> NDArray[np.bool_]:
    """Whether each of `keys` is one of `wanted` (ascending). For `keys` ascending as well, the wanted
    ones are searched for among the keys when they are fewer (pins), else each key among them."""
    found = np.zeros(len(keys), dtype=bool)
    if not len(keys) or not len(wanted):
        return found
    if len(wanted) < len(keys) and np.all(keys[1:] > keys[:-1]):
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        found[at[keys[at] == wanted]] = True
        return found
    # Few wanted keys, many candidates: a binary search of each key beats np.isin's sort of both.
    at = np.minimum(np.searchsorted(wanted, keys), len(wanted) - 1)
    found[:] = wanted[at] == keys
    return found


def served_first(rows: Ints, order: NDArray[np.floating], quota: Ints) -> NDArray[np.bool_]:
    """Whether each entry is among the `quota[i]` best (largest `order`) of the entries sharing its row
    (a subscriber's topic row in a chunk, so each row belongs to one subscriber)."""
    found = np.zeros(len(rows), dtype=bool)
    if not len(rows):
        return found
    at = np.lexsort((-order, rows))
    sorted_rows = rows[at]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    within = np.arange(len(at)) - np.repeat(starts, np.diff(np.r_[starts, len(at)]))
    found[at[within < quota[at]]] = True
    return found
