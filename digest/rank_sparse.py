"""Sparse matrices as flat sorted (key, value) arrays, for vectorised lookups and per-row top-k.

A key is row x n_cols + col. A CSR matrix with sorted indices yields its keys already in order, so a
lookup of many (row, col) pairs at once is one `searchsorted`, and selecting each row's k largest entries
is one `lexsort` over the non-zero entries instead of a partition over every column.
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
    ranked = np.argsort(rows * span - order, kind="stable")
    sorted_rows = rows[ranked]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    first_of_row = np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
    within = np.arange(len(ranked)) - first_of_row
    chosen: Ints = ranked[within < k].astype(np.int64)
    return chosen
