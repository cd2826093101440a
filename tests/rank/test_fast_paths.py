"""The shortcuts that make ranking fast give what the plain computations give."""

import dataclasses
import random

import numpy as np
import pytest
from scipy import sparse
from test_chunks import NOW, papers, profiles

from digest.rank import Profile, RankSettings, parse_interests, rank
from digest.rank import explain as rank_explain
from digest.rank import feedback as rank_feedback
from digest.rank import ranker as rank_module
from digest.rank.score import _ranked
from digest.rank.sparse import among, by_subscriber, top_k
from digest.records import Ranked


def reference_top_k(keys: np.ndarray, order: np.ndarray, k: int, n_cols: int) -> np.ndarray:
    """Every entry sorted at once, as top_k did before it partitioned first."""
    rows = keys // n_cols
    span = 2.0 * (float(np.abs(order).max()) + 1.0)
    ranked = np.argsort(rows * span - order, kind="stable")
    sorted_rows = rows[ranked]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    within = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
    return ranked[within < k]


@pytest.mark.parametrize("seed", range(8))
def test_top_k_equals_sorting_everything_with_ties_pins_and_unsorted_keys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_cols, n = 50, int(rng.integers(1, 3000))
    keys = np.sort(rng.choice(400 * n_cols, n, replace=False)).astype(np.int64)
    keys = np.concatenate([keys, rng.choice(400 * n_cols, 20, replace=False)])  # pins appended unsorted
    order = np.round(rng.random(len(keys)), 2)  # many ties
    order[rng.random(len(keys)) < 0.05] += 1e6
    for k in (1, 3, 10, 60):
        assert top_k(keys, order, k, n_cols).tolist() == reference_top_k(keys, order, k, n_cols).tolist()


def reference_by_subscriber(starts: np.ndarray, topics: sparse.csr_matrix, weight: float, n: int) -> tuple:
    """Per (subscriber, paper): best + weight x the others' sum (reduceat over all keys), first best row."""
    counts = np.diff(np.append(starts, topics.shape[0]))
    sub_of_row = np.repeat(np.arange(len(starts)), counts)
    rows = np.repeat(np.arange(topics.shape[0]), np.diff(topics.indptr))
    keys = sub_of_row[rows] * n + topics.indices
    order = np.argsort(keys, kind="stable")
    keys, values, rows = keys[order], topics.data[order], rows[order]
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    best = np.maximum.reduceat(values, first)
    total = np.add.reduceat(values, first)
    best_rows = [
        rows[a:b][values[a:b] == m][0] for a, b, m in zip(first, [*first[1:], len(keys)], best, strict=True)
    ]
    return keys[first], (best + weight * (total - best)).astype(np.float32), best_rows


@pytest.mark.parametrize("seed", range(5))
def test_by_subscriber_equals_reducing_every_key(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_rows, n_cols = 300, 40
    topics = sparse.random(n_rows, n_cols, density=0.2, format="csr", dtype=np.float32, random_state=seed)
    topics.data = np.round(topics.data, 1) + np.float32(0.1)  # ties between a subscriber's topics
    topics.sort_indices()
    starts = np.flatnonzero(np.r_[True, rng.random(n_rows - 1) < 0.3])
    flat, best_rows = by_subscriber(starts, topics, 0.3, n_cols)
    keys, values, expected_rows = reference_by_subscriber(starts, topics, 0.3, n_cols)
    assert flat.keys.tolist() == keys.tolist()
    assert flat.values.tobytes() == values.tobytes()  # bit for bit
    assert best_rows.tolist() == [int(r) for r in expected_rows]


def test_among_is_membership_for_sorted_and_unsorted_keys() -> None:
    rng = np.random.default_rng(1)
    keys = np.sort(rng.choice(10_000, 2_000, replace=False)).astype(np.int64)
    for wanted in (keys[::97], np.unique(rng.choice(10_000, 5_000)), np.zeros(0, dtype=np.int64)):
        assert among(keys, wanted).tolist() == np.isin(keys, wanted).tolist()
        shuffled = rng.permutation(keys)
        assert among(shuffled, wanted).tolist() == np.isin(shuffled, wanted).tolist()


def test_ranked_made_through_the_slots_equals_the_dataclass() -> None:
    fast = _ranked(7, 0.5, "robots", ("robot",), "matched robot in title", {"relevance": 0.5})
    slow = Ranked(7, 0.5, "robots", ("robot",), "matched robot in title", {"relevance": 0.5})
    assert fast == slow
    assert [getattr(fast, f.name) for f in dataclasses.fields(Ranked)] == list(dataclasses.astuple(slow))


def test_explanations_are_the_same_when_their_caches_are_emptied_all_the_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(11)
    day, subs = papers(rng), profiles(rng, 60)
    settings = RankSettings(min_score=0.1)
    cached = rank(day, subs, settings, NOW)
    monkeypatch.setattr(rank_explain, "CACHE_LIMIT", 0)
    assert rank(day, subs, settings, NOW) == cached
    assert sum(len(r) for r in cached.values()) > 200


@pytest.mark.parametrize("factor_cells", [16_000_000, 0])  # 0: the factor cache is emptied every chunk
def test_feedback_shared_across_subscribers_gives_what_each_gets_alone(
    factor_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rank_feedback, "FACTOR_CACHE_CELLS", factor_cells)
    monkeypatch.setattr(rank_module, "CHUNK_CELLS", 60 * 2)  # a few subscribers a chunk
    rng = random.Random(4)
    day = papers(rng)
    earlier = {p.paper_id + 1000: dataclasses.replace(p, paper_id=p.paper_id + 1000) for p in day[:5]}
    feedbacks = [{3: 1}, {3: 1}, {3: -1}, {5: 1, 9: -1}, {1001: 1}, {1002: -1, 4: 1, 99_999: 1}, {7: 0}]
    subs = [
        Profile(i, parse_interests(text), frozenset(), fb)
        for i, fb in enumerate(feedbacks)
        for text in ["robot policy\ngraph"]
    ]
    settings = RankSettings(min_score=0.0)
    together = rank(day, subs, settings, NOW, earlier)
    alone = {p.subscriber_id: rank(day, [p], settings, NOW, earlier)[p.subscriber_id] for p in subs}
    assert together == alone
    assert any(r.parts["feedback"] for r in together[5])
