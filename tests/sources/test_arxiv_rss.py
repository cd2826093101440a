"""arXiv RSS: the recorded feeds of rss.arxiv.org parse exactly, and their special channels are recognised."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import SourceError
from digest.records import PaperIn
from digest.sources.kinds import ANNOUNCE_TYPES, DEFAULT_ANNOUNCE_TYPES, parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALL_ARCHIVES = FIXTURES / "arxiv-rss_all-archives_2024-11-28.xml"
ANNOUNCED = datetime(2024, 11, 28, 5, 0, tzinfo=UTC)  # midnight US Eastern


@pytest.fixture(scope="module")
def every_type() -> dict[str, PaperIn]:
    result = parse("arxiv_rss", ALL_ARCHIVES.read_bytes(), announce_types=ANNOUNCE_TYPES)
    return {p.key: p for p in result.papers}


def test_the_whole_archive_feed_parses_every_entry() -> None:
    # How fast is bench/ingest.py's business: tests assert no timings (this one failed on a busy machine).
    result = parse("arxiv_rss", ALL_ARCHIVES.read_bytes(), announce_types=ANNOUNCE_TYPES)
    assert len(result.papers) == 1504
    assert result.skipped == 0
    assert result.warnings == ()


def test_by_default_only_new_and_cross_announcements_are_taken_and_the_rest_counted_as_skipped() -> None:
    result = parse("arxiv_rss", ALL_ARCHIVES.read_bytes())
    assert frozenset({"new", "cross"}) == DEFAULT_ANNOUNCE_TYPES
    assert Counter(p.announce_type for p in result.papers) == {"new": 926, "cross": 9}
    assert result.skipped == 569  # the replacements
    assert result.warnings == ()


def test_announce_types_are_configurable() -> None:
    result = parse("arxiv_rss", ALL_ARCHIVES.read_bytes(), announce_types=frozenset({"replace"}))
    assert len(result.papers) == 569
    assert {p.announce_type for p in result.papers} == {"replace"}


def test_an_item_keeps_its_exact_fields(every_type: dict[str, PaperIn]) -> None:
    paper = every_type["arxiv:2411.17700"]
    assert paper == PaperIn(
        key="arxiv:2411.17700",
        title="Exploring the Impact of Generative AI on Cross-Border E-Commerce Brand Building in Chinese "
        "Tianjin's Manufacturing Sector",
        abstract=paper.abstract,
        url="https://arxiv.org/abs/2411.17700",
        source_kind="arxiv_rss",
        arxiv_id="2411.17700",
        authors=("Jun Cui",),
        categories=("cs.CY",),
        published=ANNOUNCED,
        pdf_url="https://arxiv.org/pdf/2411.17700",
        announce_type="new",
    )
    abstract = paper.abstract
    assert abstract.startswith("This study investigates the influence of generative artificial intelligence")
    assert abstract.endswith("regression and structural equations (PLS-SEM).")
    assert "Announce Type" not in abstract


def test_the_doi_of_an_item_is_kept_normalised(every_type: dict[str, PaperIn]) -> None:
    paper = every_type["arxiv:2411.17758"]
    assert paper.doi == "10.1016/j.segan.2024.101477"
    assert paper.categories == ("cs.GT", "cs.CR")


def test_authors_with_affiliations_containing_commas_are_split_correctly(
    every_type: dict[str, PaperIn],
) -> None:
    assert every_type["arxiv:2411.17748"].authors == (
        "Mohammed Riadh Berramdane",
        "Alexandre Battiston",
        "Michele Bardi",
        "Nicolas Blet",
        "Benjamin Rémy",
        "Matthieu Urbain",
    )
    long_affiliations = [p for p in every_type.values() if p.authors[:1] == ("Tianliang Yan",)]
    assert len(long_affiliations) == 1
    assert all("(" not in name and "," not in name for name in long_affiliations[0].authors)


def test_latex_and_escaped_less_than_signs_stay_readable(every_type: dict[str, PaperIn]) -> None:
    paper = every_type["arxiv:2411.17730"]
    assert paper.title == (
        "Almost sure well-posedness and orbital stability for Schrödinger equation with potential"
    )
    assert "where 1/3<s<1 and V(x):ℝ⁴→ℝ" in paper.abstract


def test_a_cross_listing_keeps_its_categories_primary_first(every_type: dict[str, PaperIn]) -> None:
    paper = every_type["arxiv:2202.06515"]
    assert paper.announce_type == "cross"
    assert paper.categories == ("astro-ph.CO", "astro-ph.GA", "physics.flu-dyn")


def test_an_empty_day_is_recognised_and_is_not_an_error() -> None:
    result = parse(
        "arxiv_rss", (FIXTURES / "arxiv-rss_empty-channel_test-archive_2024-11-28.xml").read_bytes()
    )
    assert result.papers == ()
    assert result.note == "empty day: the feed has no items"


def test_the_feed_error_channel_becomes_a_one_line_source_error() -> None:
    body = (FIXTURES / "arxiv-rss_error_bad-archive-astroph_2024-11-28.xml").read_bytes()
    with pytest.raises(SourceError, match=r"^arXiv RSS feed error: Bad archive 'astroph'\.") as caught:
        parse("arxiv_rss", body)
    assert "\n" not in str(caught.value)


ONE_ITEM = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
<channel><title>cs.CL updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.CL</link>
{items}
</channel></rss>"""

ITEM = """<item><title>{title}</title><link>https://arxiv.org/abs/{id}</link>
<description>arXiv:{id}v2 Announce Type: new
Abstract: Some abstract.</description><guid isPermaLink="false">oai:arXiv.org:{id}v2</guid>
<category>cs.CL</category><pubDate>Thu, 30 Jul 2026 00:00:00 -0400</pubDate>
<arxiv:announce_type>new</arxiv:announce_type><dc:creator>A. Author, B. Author</dc:creator></item>"""


def test_the_same_paper_from_hugging_face_and_arxiv_rss_has_one_key() -> None:
    hf = parse("hf_daily", (FIXTURES / "hf-daily-papers_2026-07-31_5papers_pretty.json").read_bytes())
    rss_body = ONE_ITEM.format(items=ITEM.format(id="2607.23193", title="OmniScope")).encode()
    rss = parse("arxiv_rss", rss_body)
    assert rss.papers[0].key == "arxiv:2607.23193"
    assert rss.papers[0].key in {p.key for p in hf.papers}
    assert rss.papers[0].published == datetime(2026, 7, 30, 4, 0, tzinfo=UTC)


def test_a_bad_item_is_skipped_with_a_warning_naming_it_and_the_good_ones_kept() -> None:
    broken = "<item><title>No identity at all</title><guid>urn:x:1</guid></item>"
    body = ONE_ITEM.format(items=ITEM.format(id="2607.00001", title="Good") + broken).encode()
    result = parse("arxiv_rss", body)
    assert [p.key for p in result.papers] == ["arxiv:2607.00001"]
    assert result.skipped == 1
    assert result.warnings == ("skipped entry 2 (urn:x:1): no arXiv id in guid, description or link",)
