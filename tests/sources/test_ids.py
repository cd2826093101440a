"""One paper, one key: every spelling of an arXiv id or DOI a source uses comes out the same."""

from __future__ import annotations

import pytest

from digest.sources.ids import arxiv_id_in_link, normalise_arxiv_id, normalise_doi, paper_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2411.12345", "2411.12345"),
        ("2411.12345v3", "2411.12345"),
        ("arXiv:2411.12345v2", "2411.12345"),
        ("  ARXIV: 2411.12345 ", "2411.12345"),
        ("oai:arXiv.org:2411.17700v1", "2411.17700"),
        ("https://arxiv.org/abs/2411.12345v2", "2411.12345"),
        ("http://arxiv.org/pdf/2411.12345v1", "2411.12345"),
        ("https://arxiv.org/pdf/2411.12345v1.pdf", "2411.12345"),
        ("https://export.arxiv.org/abs/0704.0001", "0704.0001"),
        ("arxiv.org/abs/1501.00001", "1501.00001"),
        ("https://huggingface.co/papers/2607.23193", "2607.23193"),
        ("astro-ph/0601001", "astro-ph/0601001"),
        ("astro-ph/0601001v2", "astro-ph/0601001"),
        ("http://arxiv.org/abs/cond-mat/0412498v1", "cond-mat/0412498"),
        ("math.GT/0309136", "math/0309136"),
        ("arXiv:hep-th/9901001v1", "hep-th/9901001"),
    ],
)
def test_every_spelling_of_an_arxiv_id_normalises_to_one_form(text: str, expected: str) -> None:
    assert normalise_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "hello",
        "2413.12345",
        "2400.12345",
        "10.1101/2024.01.01.1234",
        "https://example.org/abs/2411.12345",
        "2411.123",
        "abc",
    ],
)
def test_things_that_are_not_arxiv_ids_are_rejected(text: str | None) -> None:
    assert normalise_arxiv_id(text) is None


def test_a_mirror_link_ending_in_an_id_reveals_it_but_a_date_does_not() -> None:
    assert arxiv_id_in_link("https://tldr.takara.ai/p/2604.26238") == "2604.26238"
    assert arxiv_id_in_link("https://example.org/blog/2026.09") is None
    assert arxiv_id_in_link("https://www.medrxiv.org/content/10.64898/2026.09.13.26362948v1") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.1016/J.SEGAN.2024.101477", "10.1016/j.segan.2024.101477"),
        ("doi:10.1101/2024.01.01.1234", "10.1101/2024.01.01.1234"),
        ("https://doi.org/10.1103/PhysRevB.71.184511", "10.1103/physrevb.71.184511"),
        ("http://dx.doi.org/10.1142/S021797921244002X", "10.1142/s021797921244002x"),
        ("https://doi.org/10.1002/%28SICI%291097", "10.1002/(sici)1097"),
        ("10.1000/xyz123.", "10.1000/xyz123"),
    ],
)
def test_dois_are_normalised(text: str, expected: str) -> None:
    assert normalise_doi(text) == expected


@pytest.mark.parametrize("text", [None, "", "11.1000/x", "doi", "https://example.org/10.1000/x"])
def test_things_that_are_not_dois_are_rejected(text: str | None) -> None:
    assert normalise_doi(text) is None


def test_the_key_prefers_arxiv_then_doi_then_link() -> None:
    assert paper_key("2411.12345", "10.1/x", "https://a") == "arxiv:2411.12345"
    assert paper_key(None, "10.1101/x", "https://a") == "doi:10.1101/x"
    assert paper_key(None, None, "https://a/b") == "url:https://a/b"
    with pytest.raises(ValueError, match="needs an arXiv id"):
        paper_key(None, None, None)


@pytest.mark.parametrize(
    "text",
    [
        "２６０１.００１９４",  # full-width digits
        "arXiv:٢٦٠١.٠٠١٩٤",  # Arabic-Indic digits
        "https://arxiv.org/abs/２６０１.００１９４v1",
        "math/０３０９１３６",
        "2601.00194v２",
        "hep-\u212ath/9901001",  # a Kelvin sign, which IGNORECASE would read as k
    ],
)
def test_ids_spelled_with_non_ascii_digits_or_letters_are_not_arxiv_ids(text: str) -> None:
    assert normalise_arxiv_id(text) is None
    assert arxiv_id_in_link(f"https://tldr.takara.ai/p/{text}") is None


def test_a_doi_whose_registrant_code_is_not_ascii_digits_is_not_a_doi() -> None:
    assert normalise_doi("10.１１０１/2024.01.01.1234") is None
    assert normalise_doi("10.1101/２０２４") == "10.1101/２０２４"  # the suffix is the registrant's to spell
