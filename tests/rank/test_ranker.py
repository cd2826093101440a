import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest.rank import Profile, RankSettings, parse_interests, rank, trending
from digest.records import Candidate, Ranked

NOW = datetime(2026, 6, 15, 6, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FILLER = [
    "We study convex optimisation of sparse regression problems.",
    "A survey of quantum error correction codes for superconducting qubits.",
    "Graph neural networks for molecule property prediction.",
    "Bayesian inference for time series of galaxy spectra.",
    "Efficient compilers for tensor programs on accelerators.",
    "Auction design and mechanism incentives in online markets.",
]


def paper(paper_id: int, title: str, abstract: str = "", **extra: Any) -> Candidate:
    return Candidate(paper_id, title, abstract or "An unrelated study of something else.", **extra)


def day(*papers: Candidate) -> list[Candidate]:
    """The given papers plus unrelated filler, so that BM25 has a realistic background."""
    filler = [paper(900 + i, f"Filler paper {i}", text) for i, text in enumerate(FILLER)]
    return [*papers, *filler]


def ranked_for(interests: str, papers: list[Candidate], **profile: Any) -> list[Ranked]:
    settings = profile.pop("settings", RankSettings())
    return rank(papers, [Profile(7, parse_interests(interests), **profile)], settings, NOW)[7]


def ids(ranked: list[Ranked]) -> list[int]:
    return [r.paper_id for r in ranked]


def test_words_match_stemmed_and_case_insensitive() -> None:
    papers = day(
        paper(1, "ROBOTIC grasping in clutter"),
        paper(2, "Learning for robots", "Robotics meets learning."),
        paper(3, "A robotics benchmark"),
    )
    assert set(ids(ranked_for("robot", papers))) == {1, 2, 3}


def test_a_short_acronym_does_not_match_inside_other_words() -> None:
    papers = day(
        paper(1, "World models for control", "A world of controls."), paper(2, "Offline RL at scale")
    )
    assert ids(ranked_for("RL", papers)) == [2]


def test_a_phrase_matches_only_consecutive_words() -> None:
    papers = day(
        paper(1, "Speculative decoding for fast inference"),
        paper(2, "Decoding brain signals", "A speculative account of decoding neural data."),
    )
    assert ids(ranked_for('"speculative decoding"', papers)) == [1]
    assert set(ids(ranked_for("speculative decoding", papers))) == {1, 2}


def test_hyphenated_text_matches_a_phrase() -> None:
    papers = day(
        paper(1, "Sparse Mixture-of-Experts routing"), paper(2, "A mixture model", "Experts of all kinds.")
    )
    assert ids(ranked_for('"mixture of experts"', papers)) == [1]


def test_papers_with_all_the_words_come_before_papers_with_one() -> None:
    papers = day(paper(1, "Decoding with draft models"), paper(2, "Speculative decoding with draft models"))
    assert ids(ranked_for("speculative decoding", papers))[0] == 2


def test_title_matches_count_more_than_abstract_matches() -> None:
    papers = day(
        paper(1, "A study of agents", "We study diffusion in the brain."),
        paper(2, "Diffusion for images", "A study of agents in the brain."),
    )
    assert ids(ranked_for("diffusion", papers)) == [2, 1]


def test_an_exclusion_removes_papers_from_that_topic() -> None:
    papers = day(paper(1, "Diffusion models for medical imaging"), paper(2, "Diffusion models for video"))
    assert ids(ranked_for("diffusion -medical", papers)) == [2]
    assert ids(ranked_for('diffusion -"medical imaging"', papers)) == [2]
    # another topic of the same subscriber can still bring it in
    assert set(ids(ranked_for("diffusion -medical; medical imaging", papers))) == {1, 2}


def test_a_category_alone_restricts_the_topic_to_that_category() -> None:
    papers = day(
        paper(1, "Parsing with grammars", categories=("cs.CL",)),
        paper(2, "Robots that parse", categories=("cs.RO", "cs.CL")),
        paper(3, "Robot arms", categories=("cs.RO",)),
    )
    assert set(ids(ranked_for("cat:cs.CL", papers))) == {1, 2}
    assert set(ids(ranked_for("cat:cs", papers))) == {1, 2, 3}


def test_a_category_with_words_boosts_rather_than_restricts() -> None:
    papers = day(
        paper(1, "Robot learning from play", categories=("cs.LG",)),
        paper(2, "Robot learning from play data", categories=("cs.RO",)),
    )
    ranked = ranked_for("robot learning cat:cs.RO", papers)
    assert ids(ranked) == [2, 1]
    assert "in cs.RO" in ranked[0].explanation


def test_a_followed_author_is_pinned_above_more_relevant_papers() -> None:
    papers = day(
        paper(1, "Diffusion diffusion diffusion models", upvotes=500),
        paper(2, "Energy-based learning", authors=("Y. LeCun", "A. Other")),
    )
    ranked = ranked_for('diffusion; author:"Yann LeCun"', papers)
    assert ids(ranked) == [2, 1]
    assert ranked[0].parts["pinned"] == 1.0
    assert ranked[0].explanation.startswith("by Y. LeCun, an author you follow")


def test_popularity_orders_equally_relevant_papers() -> None:
    papers = day(paper(1, "Graph transformers", upvotes=0), paper(2, "Graph transformers", upvotes=300))
    assert ids(ranked_for("graph transformers", papers)) == [2, 1]


def test_a_popular_irrelevant_paper_never_outranks_a_relevant_one() -> None:
    popular = paper(
        1,
        "Scaling laws for everything",
        "Huge models.",
        upvotes=10_000,
        github_stars=50_000,
        comments=900,
        published=NOW,
    )
    relevant = paper(2, "Protein folding with graph networks", published=NOW - timedelta(days=30))
    ranked = ranked_for("protein folding", day(popular, relevant))
    assert ids(ranked) == [2]


def test_trending_can_only_multiply_relevance_by_a_bounded_factor() -> None:
    strong = paper(1, "Protein folding", "Protein folding of proteins that fold.")
    weak_but_viral = paper(
        2, "Notes", "A remark on protein folding.", upvotes=100_000, github_stars=100_000, published=NOW
    )
    ranked = ranked_for("protein folding", day(strong, weak_but_viral))
    assert ids(ranked)[0] == 1
    for item in ranked:
        assert item.score <= item.parts["relevance"] * (1 + RankSettings().trending_boost) + 1e-6


def test_weak_matches_stay_out() -> None:
    papers = day(paper(1, "Quantum error correction", "We also mention learning once."))
    assert ranked_for("reinforcement learning", papers) == []


def test_a_paper_already_sent_is_never_ranked_again() -> None:
    papers = day(paper(1, "Robot hands"), paper(2, "Robot feet"))
    assert ids(ranked_for("robot", papers, exclude=frozenset({1}))) == [2]


def test_at_most_max_papers_best_first() -> None:
    papers = [paper(i, "Robot " * (i % 5 + 1) + "study", FILLER[i % len(FILLER)]) for i in range(1, 40)]
    ranked = ranked_for("robot", papers, settings=RankSettings(max_papers=5))
    assert len(ranked) == 5
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_explanation_names_the_match_and_the_place_not_the_signals_shown_beside_it() -> None:
    papers = day(paper(1, "Fast speculative decoding", "Speculative decoding, again.", upvotes=212))
    (item,) = ranked_for('"speculative decoding"', papers)
    assert item.explanation == 'matched "speculative decoding" in title'
    assert item.matched == ("speculative decoding",)
    assert item.topic == '"speculative decoding"'
    assert set(item.parts) == {"relevance", "feedback", "trending", "pinned"}


def test_explanation_names_the_topic_when_there_are_several() -> None:
    papers = day(paper(1, "Robot hands", "Grasping with diffusion policies."))
    (item,) = ranked_for("robot; volcanoes", papers)
    assert item.explanation == "matched robot in title; topic: robot"
    assert item.topic == "robot"


def test_more_like_this_lifts_similar_papers_and_says_so() -> None:
    liked = paper(
        50, "Tactile sensing for dexterous robot hands", "Tactile skins and touch sensing for grasping."
    )
    touch = paper(1, "Robot policies", "Tactile touch sensing for dexterous grasping.")
    vision = paper(2, "Robot policies", "Camera images and vision transformers for navigation.")
    papers = day(touch, vision)
    before = ranked_for("robot", papers)
    after = rank(
        papers,
        [Profile(7, parse_interests("robot"), feedback={50: 1})],
        RankSettings(),
        NOW,
        feedback_papers={50: liked},
    )[7]
    assert after[0].paper_id == 1
    assert after[0].parts["feedback"] > 0
    assert "like papers you wanted more of" in after[0].explanation
    assert after[0].score > next(r.score for r in before if r.paper_id == 1)


def test_less_like_this_lowers_similar_papers() -> None:
    touch = paper(1, "Robot policies", "Tactile touch sensing for dexterous grasping.")
    vision = paper(2, "Robot policies", "Camera images and vision transformers for navigation.")
    disliked = paper(3, "Vision for robot navigation", "Camera images and vision transformers.")
    ranked = ranked_for("robot", day(touch, vision, disliked), feedback={3: -1}, exclude=frozenset({3}))
    assert ids(ranked)[0] == 1
    assert next(r for r in ranked if r.paper_id == 2).parts["feedback"] < 0


def test_each_subscriber_gets_their_own_ranking() -> None:
    papers = day(paper(1, "Robot hands"), paper(2, "Volcano eruptions"))
    profiles = [
        Profile(1, parse_interests("robot")),
        Profile(2, parse_interests("volcanoes")),
        Profile(3, parse_interests("astronomy")),
    ]
    result = rank(papers, profiles, RankSettings(), NOW)
    assert {sid: ids(items) for sid, items in result.items()} == {1: [1], 2: [2], 3: []}


def test_no_candidates_means_empty_digests() -> None:
    assert rank([], [Profile(1, parse_interests("robot"))], RankSettings(), NOW) == {1: []}


def test_trending_orders_by_popularity_and_skips_excluded() -> None:
    papers = [
        paper(1, "A", upvotes=3),
        paper(2, "B", upvotes=212, github_stars=40),
        paper(3, "C", upvotes=50),
    ]
    top = trending(papers, RankSettings(), NOW, limit=2, exclude=frozenset({3}))
    assert ids(top) == [2, 1]
    assert top[0].explanation == "trending today"  # the figures are shown beside it, not repeated


def test_dropping_excluded_papers_from_the_full_trending_order_equals_trending_without_them() -> None:
    # The pipeline computes the trending order once and filters it per subscriber: that must be the same.
    day = hf_candidates()
    everyone = trending(day, RankSettings(), NOW, limit=len(day))
    for exclude in (frozenset(), frozenset({1, 2, 3}), frozenset(range(1, 25, 2))):
        filtered = [r for r in everyone if r.paper_id not in exclude][:5]
        assert filtered == trending(day, RankSettings(), NOW, limit=5, exclude=exclude)


def hf_candidates() -> list[Candidate]:
    with (FIXTURES / "hf-daily-papers_2026-06_30papers.json").open() as f:
        entries = json.load(f)
    return [
        Candidate(
            paper_id=i,
            title=e["paper"]["title"],
            abstract=e["paper"]["summary"],
            authors=tuple(a["name"] for a in e["paper"]["authors"]),
            keywords=tuple(e["paper"].get("ai_keywords") or ()),
            published=datetime.fromisoformat(e["paper"]["publishedAt"].replace("Z", "+00:00")),
            upvotes=e["paper"]["upvotes"],
            comments=e.get("numComments"),
            github_stars=e["paper"].get("githubStars"),
        )
        for i, e in enumerate(entries, start=1)
    ]


@pytest.fixture(scope="module")
def real_day() -> list[Candidate]:
    return hf_candidates()


def test_a_real_day_ranks_the_obvious_papers_first(real_day: list[Candidate]) -> None:
    titles = {c.paper_id: c.title for c in real_day}
    ranked = ranked_for('"speculative decoding"\nrobots', real_day)
    assert titles[ranked[0].paper_id].startswith(
        "VIA-SD: Verification via Intra-Model Routing for Speculative"
    )
    assert any("Robot Manipulation" in titles[r.paper_id] for r in ranked)
    assert all(r.explanation for r in ranked)


def test_a_real_day_matches_source_keywords_and_respects_exclusions(real_day: list[Candidate]) -> None:
    titles = {c.paper_id: c.title for c in real_day}
    # Without vectors the ranking is lexical; 0.3 is where that scale takes half a topic's words as too weak.
    agents = ranked_for("LLM agents", real_day, settings=RankSettings(min_score=0.3))
    assert len(agents) >= 3
    assert all("agent" in (titles[r.paper_id] + real_day[r.paper_id - 1].abstract).lower() for r in agents)
    without = ranked_for("LLM agents -memory", real_day)
    assert not any("memory" in titles[r.paper_id].lower() for r in without)
