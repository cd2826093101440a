"""The index's stem part is built once per send run and shared by its batches: sharing it changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from digest.rank import Profile, RankSettings, parse_interests, rank_iter
from digest.rank.index import PaperIndex, StemCache, build_index, stem_index
from digest.rank.query import topic_keys
from digest.rank.terms import stems
from digest.records import Candidate

WHEN = datetime(2026, 11, 28, tzinfo=UTC)
PAPERS = [
    Candidate(1, "Speculative decoding for large language models", "We speed up decoding of language "
              "models with a draft model. Speculative decoding keeps the output distribution.", ("A. B",),
              ("cs.CL",), ("speculative decoding", "LLM"), WHEN),
    Candidate(2, "Robot learning from demonstrations", "Imitation learning lets robots learn manipulation "
              "from a few demonstrations of large language models.", ("C. D",), ("cs.RO",), (), WHEN),
    Candidate(3, "Graph neural networks at scale", "Message passing on large graphs.", (), ("cs.LG",),
              ("graph neural networks",), WHEN),
]  # fmt: skip
PHRASES = [
    tuple(stems("speculative decoding")),
    tuple(stems("language models")),
    tuple(stems("graph neural")),
]


def _same(a: PaperIndex, b: PaperIndex) -> None:
    assert list(a.vocab.items()) == list(b.vocab.items())  # the same columns, numbered alike
    for left, right in ((a.weights, b.weights), (a.present, b.present), (a.unit, b.unit), (a.meta, b.meta)):
        assert np.array_equal(left.indptr, right.indptr) and np.array_equal(left.indices, right.indices)
        assert np.array_equal(left.data, right.data)
    assert a.fields == b.fields and a.meta_vocab == b.meta_vocab and a.avgdl == b.avgdl
    assert a.stem_columns == b.stem_columns and a.phrase_places == b.phrase_places
    assert np.array_equal(a.idf, b.idf)


def test_an_index_built_on_a_shared_stem_part_equals_one_built_from_scratch() -> None:
    shared = stem_index(PAPERS, 2.0, 1.0)
    for phrases in (PHRASES, PHRASES[:1], []):
        _same(build_index(PAPERS, phrases, 2.0, 1.0, shared), build_index(PAPERS, phrases, 2.0, 1.0))


def test_a_stem_part_of_other_papers_or_weights_is_not_used() -> None:
    other = stem_index(PAPERS[:2], 2.0, 1.0)
    _same(build_index(PAPERS, PHRASES, 2.0, 1.0, other), build_index(PAPERS, PHRASES, 2.0, 1.0))
    heavier = stem_index(PAPERS, 3.0, 1.0)
    _same(build_index(PAPERS, PHRASES, 2.0, 1.0, heavier), build_index(PAPERS, PHRASES, 2.0, 1.0))


def test_phrase_columns_say_where_the_phrase_occurs() -> None:
    index = build_index(PAPERS, PHRASES, 2.0, 1.0, stem_index(PAPERS, 2.0, 1.0))
    speculative = index.vocab[next(k for k in index.vocab if "specul" in k and " " in k)]
    models = index.vocab[next(k for k in index.vocab if k.startswith("languag") and " " in k)]
    assert index.where(0, speculative) == "title"
    assert index.where(1, models) == "abstract"  # only in paper 2's abstract
    assert index.where(2, speculative) is None
    assert index.present[2, speculative] == 0


def test_the_stem_cache_is_reused_for_the_same_papers_and_rebuilt_for_others() -> None:
    cache = StemCache()
    first = cache.get(PAPERS, 2.0, 1.0)
    assert cache.get(list(PAPERS), 2.0, 1.0) is first
    assert cache.get(PAPERS[:2], 2.0, 1.0) is not first
    assert cache.get(PAPERS[:2], 2.0, 1.0).paper_ids == (1, 2)


def test_ranking_batches_through_a_stem_cache_gives_what_ranking_each_alone_gives() -> None:
    profiles = [
        Profile(i, parse_interests(text), frozenset(), {})
        for i, text in enumerate(
            [
                "speculative decoding",
                '"language models"; graphs',
                "robot demonstrations",
                '"speculative decoding" -"graph neural"',
                '"language models" "large language models"',
            ]
        )
    ]
    cache = StemCache()
    # No phrase; a first phrase; phrases new and already seen; no phrase again; all of them.
    for batch in ([profiles[0]], profiles[1:3], profiles[3:], profiles[:1], profiles):
        shared = dict(rank_iter(PAPERS, batch, RankSettings(min_score=0.0), WHEN, stem_cache=cache))
        alone = dict(rank_iter(PAPERS, batch, RankSettings(min_score=0.0), WHEN))
        assert shared == alone and any(shared.values())


def test_equal_topics_share_their_keys_across_batches() -> None:
    first, again = (parse_interests('robot "world models" -medical').topics[0] for _ in range(2))
    assert first is not again and topic_keys(first) is topic_keys(again)
    assert topic_keys(again) == topic_keys.__wrapped__(again)  # what making them afresh gives
