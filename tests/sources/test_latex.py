"""Maths in titles and abstracts reads as text (pylatexenc), in what is stored and therefore everywhere."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from digest import sources
from digest.sources.text import clean_line, clean_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (r"Spin waves in $^{3}$He and the $\omega$-meson", "Spin waves in ³He and the ω-meson"),
        (r"An $\mathcal{O}(n \log n)$ algorithm", "An 𝒪(n log n) algorithm"),
        (r"Water, $H_2O$, and $\alpha$-stable laws", "Water, H₂O, and α-stable laws"),
        (r"Schr\"{o}dinger operators with $\sqrt{2}$ gaps", "Schrödinger operators with √(2) gaps"),
        (r"inline \(\beta\) too", "inline β too"),
    ],
)
def test_inline_maths_reads_as_text(raw: str, shown: str) -> None:
    assert clean_line(raw) == shown


@pytest.mark.parametrize("text", ["It costs $5 and $10 a month", "A lone $ sign", "$$ display $$ left alone"])
def test_dollars_that_are_not_maths_stay(text: str) -> None:
    assert clean_text(text) == text


def test_a_recorded_arxiv_day_has_no_dollar_maths_left_in_its_titles() -> None:

    papers = sources.parse(
        "arxiv_rss", (FIXTURES / "arxiv-rss_all-archives_2024-11-28.xml").read_bytes()
    ).papers
    raw = (FIXTURES / "arxiv-rss_all-archives_2024-11-28.xml").read_text()
    assert raw.count("$") > 100  # the day's feed is full of LaTeX
    with_maths = [p.title for p in papers if "$" in p.title]
    assert len(with_maths) <= len(papers) // 100, with_maths[:5]
