"""arXiv API: legacy and current Atom responses and JSON recordings give exact papers or clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import SourceError
from digest.sources.kinds import parse
from digest.sources.urls import arxiv_api_url, default_url

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "count", "total"),
    [
        ("arxiv-api_all-transformer-AND-cs.LG_max5_2026-06-14.xml", 5, 28946),
        ("arxiv-api_cat-cs.LG-OR-cs.AI_max20_2026-04-30.xml", 20, 364218),
        ("arxiv-api_legacy-2016_search_au-del_maestro.xml", 10, 31),
        ("arxiv-api_recorded_q-testing_start0_max100_2026-04.json", 100, 214881),
        ("arxiv-api_recorded_id-0000.0000_zero-results.json", 0, 0),
    ],
)
def test_every_recorded_response_gives_its_entries_and_the_total_for_paging(
    name: str, count: int, total: int
) -> None:
    result = parse("arxiv_api", load(name))
    assert len(result.papers) == count
    assert result.total == total
    assert result.skipped == 0
    assert result.warnings == ()
    assert all(p.source_kind == "arxiv_api" and p.key == f"arxiv:{p.arxiv_id}" for p in result.papers)


def test_a_current_backend_entry_keeps_its_exact_fields_with_the_primary_category_first() -> None:
    paper = parse("arxiv_api", load("arxiv-api_all-transformer-AND-cs.LG_max5_2026-06-14.xml")).papers[0]
    assert paper.key == "arxiv:2606.13677"
    assert paper.title == "Mana: Dexterous Manipulation of Articulated Tools"
    assert paper.authors == ("Zhao-Heng Yin", "Guanya Shi", "Pieter Abbeel", "C. Karen Liu")
    assert paper.categories == ("cs.RO", "cs.AI", "cs.CV", "cs.LG")
    assert paper.published == datetime(2026, 6, 11, 17, 59, 49, tzinfo=UTC)
    assert paper.url == "https://arxiv.org/abs/2606.13677"
    assert paper.pdf_url == "https://arxiv.org/pdf/2606.13677"
    assert paper.abstract.startswith("Articulated tool manipulation remains a major challenge")


def test_legacy_hard_wrapped_summaries_are_joined_and_old_style_ids_kept() -> None:
    papers = parse("arxiv_api", load("arxiv-api_legacy-2016_search_au-del_maestro.xml")).papers
    first, second = papers[0], papers[1]
    assert first.key == "arxiv:1201.4869"
    assert first.doi == "10.1142/s021797921244002x"
    assert first.abstract.startswith(
        "As helium-4 is cooled below 2.17 K it undergoes a phase transition to a "
        "fundamentally new state of matter"
    )
    assert "\n" not in first.abstract
    assert "  " not in first.abstract
    assert second.key == "arxiv:cond-mat/0412498"
    assert second.title == "Thermal melting of density waves on the square lattice"
    assert second.authors == ("Adrian Del Maestro", "Subir Sachdev")
    assert second.categories == ("cond-mat.str-el", "cond-mat.stat-mech")
    assert (
        'commensurate "p x p" density wave ordering on the square lattice (p >= 3, integer)'
        in second.abstract
    )


def test_a_recorded_json_response_is_unwrapped_and_its_doi_normalised() -> None:
    paper = parse("arxiv_api", load("arxiv-api_recorded_q-testing_start0_max100_2026-04.json")).papers[0]
    assert paper.key == "arxiv:2202.12139"
    assert (
        paper.title
        == "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    )
    assert paper.doi == "10.1109/icstw55395.2022.00035"
    assert paper.authors == ("Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker")


def test_no_results_is_a_note_not_an_error() -> None:
    result = parse("arxiv_api", load("arxiv-api_recorded_id-0000.0000_zero-results.json"))
    assert result.note == "no results for this query"


def test_the_http_400_error_entry_becomes_a_clear_source_error() -> None:
    with pytest.raises(SourceError, match=r"^arXiv API error: incorrect id format for abc$"):
        parse("arxiv_api", load("arxiv-api_recorded_id-abc_HTTP400-error-entry.json"))


def test_json_that_is_not_a_recording_is_refused() -> None:
    with pytest.raises(SourceError, match="not a recorded response"):
        parse("arxiv_api", b'{"hello": 1}')


def test_query_urls_ask_for_newest_first_and_id_lists_are_joined() -> None:
    assert default_url("arxiv_api", categories=["cs.CL"]) == (
        "https://export.arxiv.org/api/query?search_query=cat%3Acs.CL&id_list=&start=0&max_results=100"
        "&sortBy=submittedDate&sortOrder=descending"
    )
    assert arxiv_api_url(id_list=["2411.12345", "astro-ph/0601001"], start=100) == (
        "https://export.arxiv.org/api/query?search_query=&id_list=2411.12345%2Castro-ph%2F0601001"
        "&start=100&max_results=100"
    )
