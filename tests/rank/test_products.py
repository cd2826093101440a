"""Scores are sparse products computed transposed (rank_score._times): the same values as the direct
product, cell for cell, with each row's papers in order."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from digest.rank.score import _times


def test_a_transposed_product_equals_the_direct_one_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    for density in (0.01, 0.2, 0.9):
        queries = sparse.random(300, 500, density=0.05, format="csr", dtype=np.float32, rng=rng)
        queries.data[:] = 1.0
        papers = sparse.random(200, 500, density=density, format="csr", dtype=np.float32, rng=rng)
        papers.data *= rng.uniform(0.1, 30.0, len(papers.data)).astype(np.float32)  # sums that round
        direct = sparse.csr_matrix(queries @ sparse.csr_matrix(papers.T), dtype=np.float32)
        direct.sort_indices()
        got = _times(queries, papers)
        assert got.has_sorted_indices and got.shape == direct.shape and got.dtype == np.float32
        assert np.array_equal(got.indptr, direct.indptr) and np.array_equal(got.indices, direct.indices)
        assert np.array_equal(got.data, direct.data)
