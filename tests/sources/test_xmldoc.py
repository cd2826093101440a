"""The DOCTYPE check reads the decoded document, and the parser gets exactly what was checked."""

from __future__ import annotations

import pytest

from digest.errors import SourceError
from digest.sources.kinds import parse

ENTITY_FEED = (
    '<?xml version="1.0" encoding="{encoding}"?>'
    '<!DOCTYPE rss [<!ENTITY e "INJECTED">]>'
    '<rss version="2.0"><channel><title>Lab</title>'
    "<item><title>&e;</title><link>https://lab.example/1</link></item></channel></rss>"
)
PLAIN_FEED = (
    '<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>Lab</title>'
    "<item><title>Café für Ärzte</title><link>https://lab.example/1</link></item></channel></rss>"
)
# (declared encoding, codec of the bytes, BOM): every way the XML spec lets a document name its encoding.
SPELLINGS = [
    ("cp500", "cp500", b""),
    ("cp037", "cp037", b""),
    ("IBM037", "cp037", b""),
    ("utf-16", "utf-16-le", b""),
    ("utf-16", "utf-16-be", b""),
    ("utf-16", "utf-16-le", b"\xff\xfe"),
    ("utf-16", "utf-16-be", b"\xfe\xff"),
    ("utf-32", "utf-32-le", b""),
    ("utf-32", "utf-32-be", b""),
    ("utf-32", "utf-32-le", b"\xff\xfe\x00\x00"),
    ("utf-32", "utf-32-be", b"\x00\x00\xfe\xff"),
    ("utf-8", "utf-8", b"\xef\xbb\xbf"),
]


@pytest.mark.parametrize(("declared", "codec", "bom"), SPELLINGS)
def test_a_doctype_is_refused_whatever_encoding_spells_it(declared: str, codec: str, bom: bytes) -> None:
    body = bom + ENTITY_FEED.format(encoding=declared).encode(codec)
    with pytest.raises(SourceError, match=r"^refused: the document declares a DOCTYPE"):
        parse("feed", body)


@pytest.mark.parametrize(("declared", "codec", "bom"), SPELLINGS)
def test_a_plain_feed_in_any_of_those_encodings_still_reads(declared: str, codec: str, bom: bytes) -> None:
    result = parse("feed", bom + PLAIN_FEED.format(encoding=declared).encode(codec))
    assert [paper.title for paper in result.papers] == ["Café für Ärzte"]
    assert result.warnings == ()


def test_a_doctype_spelled_in_utf7_is_refused() -> None:
    # "+ADw-" is "<" in UTF-7: read as bytes the prolog holds no markup, read as UTF-7 it declares an entity.
    body = (
        b'<?xml version="1.0" encoding="utf-7"?>'
        b'+ADw-!DOCTYPE rss +AFs-+ADw-!ENTITY e "INJECTED"+AD4-+AF0-+AD4-'
        b'<rss version="2.0"><channel><title>Lab</title>'
        b"<item><title>&e;</title><link>https://lab.example/1</link></item></channel></rss>"
    )
    with pytest.raises(SourceError, match=r"^refused: the document declares a DOCTYPE"):
        parse("feed", body)


@pytest.mark.parametrize(
    "reference", ["&#xD800;", "&#55296;", "&#xDFFF;", "&#0;", "&#x110000;", "&#1" + "0" * 5000 + ";"]
)
def test_a_reference_to_a_forbidden_code_point_costs_only_that_character(reference: str) -> None:
    body = PLAIN_FEED.replace("Café für Ärzte", f"Bad {reference} title").format(encoding="utf-8")
    body = body.replace(
        "</channel>", "<item><title>Good</title><link>https://lab.example/2</link></item></channel>"
    )
    result = parse("feed", body.encode())
    assert [paper.title for paper in result.papers] == ["Bad \ufffd title", "Good"]
    assert result.warnings == ("replaced 1 character reference(s) to code points XML does not allow",)
