"""Hugging Face daily papers: both recordings parse with their signals; empty days are noted, not failed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.errors import SourceError
from digest.sources.kinds import parse
from digest.sources.urls import default_url

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
COMPACT = FIXTURES / "hf-daily-papers_2026-06_30papers.json"
PRETTY = FIXTURES / "hf-daily-papers_2026-07-31_5papers_pretty.json"


def test_the_compact_response_gives_thirty_papers_with_ai_summaries_and_keywords() -> None:
    result = parse("hf_daily", COMPACT.read_bytes())
    assert len(result.papers) == 30
    assert result.skipped == 0
    assert all(p.ai_summary for p in result.papers)
    first = result.papers[0]
    assert first.key == "arxiv:2606.00467"
    assert first.title == (
        "On the Limits of LLM Adaptability: Impact of Model-Internalized Priors on Annotation Task "
        "Performance"
    )
    assert first.authors == ("Etienne Casanova", "Rafal Kocielnik", "R. Michael Alvarez")
    assert first.upvotes == 0
    assert first.comments == 2
    assert first.published == datetime(2026, 5, 30, tzinfo=UTC)  # the paper's date, not the listing's
    assert first.ai_summary is not None
    assert first.ai_summary.startswith("Large language models exhibit limited")
    assert first.keywords[:3] == ("zero-shot annotation", "LLM-as-a-judge", "model-internalized priors")
    assert first.url == "https://arxiv.org/abs/2606.00467"
    assert first.pdf_url == "https://arxiv.org/pdf/2606.00467"


def test_github_and_project_page_signals_are_kept() -> None:
    papers = {p.key: p for p in parse("hf_daily", COMPACT.read_bytes()).papers}
    msa = papers["arxiv:2606.13392"]
    assert (msa.upvotes, msa.comments, msa.github_repo, msa.github_stars) == (
        103,
        4,
        "https://github.com/MiniMax-AI/MSA",
        251,
    )
    assert msa.project_page is None
    evo = papers["arxiv:2606.13681"]
    assert evo.project_page == "https://aiden0526.github.io/EvoArena/"
    assert evo.github_stars == 9


def test_the_pretty_response_gives_five_papers_without_ai_fields() -> None:
    result = parse("hf_daily", PRETTY.read_bytes())
    assert len(result.papers) == 5
    first = result.papers[0]
    assert first.key == "arxiv:2607.23193"
    assert (
        first.title == "OmniScope: Modality-Decoupled Token Compression for Omnimodal Large Language Models"
    )
    assert first.authors[0] == "Jinsen Su"
    assert (first.upvotes, first.comments, first.github_stars) == (3, 2, 3)
    assert first.github_repo == "https://github.com/MAC-AutoML/OmniScope"
    assert all(p.ai_summary is None and p.keywords == () for p in result.papers)


def test_a_day_without_a_list_is_a_note_not_a_failure() -> None:
    result = parse("hf_daily", b"[]")
    assert result.papers == ()
    assert result.note == "no daily list (weekend or holiday)"


def test_an_error_object_or_broken_json_is_a_one_line_source_error() -> None:
    with pytest.raises(SourceError, match=r"^Hugging Face daily papers: Invalid date$"):
        parse("hf_daily", b'{"error": "Invalid date"}')
    with pytest.raises(SourceError, match=r"^Hugging Face daily papers: invalid JSON"):
        parse("hf_daily", b"[{")


def test_a_bad_item_is_skipped_with_a_warning_and_the_others_kept() -> None:
    body = b'[{"paper": {"id": "2607.00001", "title": "Good"}, "title": "Good"}, {"title": "no paper"}, 7]'
    result = parse("hf_daily", body)
    assert [p.key for p in result.papers] == ["arxiv:2607.00001"]
    assert result.skipped == 2
    assert result.warnings == ("skipped item 2: missing field 'paper'", "skipped item 3: not a JSON object")


def test_html_in_a_title_never_reaches_the_record() -> None:
    body = b'[{"paper": {"id": "2607.00002", "summary": "<script>alert(1)</script>Fine"}, '
    body += b'"title": "<b>Bold</b> x"}]'
    paper = parse("hf_daily", body).papers[0]
    assert (paper.title, paper.abstract) == ("Bold x", "Fine")


def test_the_default_url_asks_for_a_given_day_or_the_trending_list() -> None:
    assert default_url("hf_daily") == "https://huggingface.co/api/daily_papers"
    assert (
        default_url("hf_daily", day=date(2026, 7, 31))
        == "https://huggingface.co/api/daily_papers?date=2026-07-31"
    )
    assert (
        default_url("hf_daily", query="trending") == "https://huggingface.co/api/daily_papers?sort=trending"
    )
