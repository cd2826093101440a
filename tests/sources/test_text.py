"""Feed text is hostile and messy: HTML is reduced to text, maths survives, authors split correctly."""

from __future__ import annotations

from digest.sources.text import clean_line, clean_text, split_authors


def test_scripts_styles_images_and_handlers_never_survive_sanitising() -> None:
    dirty = (
        '<p onclick="steal()">Deep <b>learning</b></p><script>alert("x")</script><style>p{color:red}</style>'
        '<img src="x" onerror="boom()"><a href="javascript:alert(1)">link</a>'
    )
    text = clean_text(dirty)
    assert text == "Deep learning\n\nlink"
    for bad in ("<", "alert", "color", "onerror", "javascript"):
        assert bad not in text


def test_escaped_markup_is_not_let_through_by_decoding_it() -> None:
    assert clean_text("&lt;script&gt;alert(1)&lt;/script&gt;Safe") == "Safe"


def test_maths_with_less_than_signs_is_not_taken_for_html() -> None:
    text = r"for $\frac{1}{3}<s<1$ and p < 0.001 while a<b"
    assert clean_text(text) == "for 1/3<s<1 and p < 0.001 while a<b"


def test_entities_are_decoded_and_hard_wrapping_joined_but_paragraphs_kept() -> None:
    raw = "  First line\nwrapped  here &amp; there&#33;\n\n  Second\tparagraph &eacute;  "
    assert clean_text(raw) == "First line wrapped here & there!\n\nSecond paragraph é"
    assert clean_line(raw) == "First line wrapped here & there! Second paragraph é"


def test_latex_accents_text_markup_and_maths_become_readable() -> None:
    assert clean_line(r"Schr\"odinger and Schr\"{o}dinger by R\'emy, \c{c}a, \textbf{bold \emph{it}}") == (
        "Schrödinger and Schrödinger by Rémy, ça, bold it"
    )
    assert clean_line(r"$A_n \to \mathbb{R}^4$") == "A_n →ℝ⁴"


def test_control_characters_are_dropped() -> None:
    assert clean_line("a\x00b\x1bc") == "abc"


def test_authors_split_on_commas_outside_parenthesised_affiliations() -> None:
    assert split_authors(
        "Tianliang Yan (Univ. of Birmingham, School of Physics, UK), Yubao Liu (HUST, Wuhan)"
    ) == (
        "Tianliang Yan",
        "Yubao Liu",
    )
    assert split_authors("A. One, B. Two and C. Three") == ("A. One", "B. Two", "C. Three")
    assert split_authors("Sandy Anderson") == ("Sandy Anderson",)
    assert split_authors("") == ()


def test_a_latex_tie_reads_as_a_space_but_a_tilde_in_a_url_stays() -> None:
    from digest.sources.text import latex_to_readable

    text = "Vision-language models~(VLMs), see Fig.~3 and https://example.org/~user"
    assert (
        latex_to_readable(text) == "Vision-language models (VLMs), see Fig. 3 and https://example.org/~user"
    )
