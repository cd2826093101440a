"""An XML feed's bytes made into the one UTF-8 document feedparser is given, checked on its decoded text.

The bytes are decoded as their byte order mark or XML declaration says (EBCDIC, UTF-16/32 without a BOM and
UTF-7 included), the DOCTYPE refusal runs on that text, and feedparser gets that same text re-encoded as
UTF-8. So no encoding can spell a DOCTYPE the check did not read: what was checked is what is parsed.
Character references to code points XML forbids (`&#xD800;`, `&#0;`) are replaced first: feedparser's
fallback parser raises on them and would lose the whole response.
"""

from __future__ import annotations

import codecs
import re

from digest.errors import SourceError

_PROLOG_LIMIT = 1 << 16  # characters; real prologs are a declaration, perhaps a stylesheet and a comment
_BOMS = (  # UTF-32 LE before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Without a BOM the first character, "<", tells the width and byte order (XML 1.0 appendix F).
_SNIFFED = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
_EBCDIC_DECLARATION = "<?xml".encode("cp037")  # the declaration then names the exact code page
_DECLARED_RE = re.compile(r"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]{0,39})["']""")
_ENCODING_ATTRIBUTE_RE = re.compile(r"""(^<\?xml[^>]*?\sencoding\s*=\s*)(["'])[^"'>]*\2""")
_CHAR_REF_RE = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")


def checked_document(body: bytes) -> tuple[bytes, tuple[str, ...]]:
    """UTF-8 bytes declaring UTF-8, safe to hand to feedparser, and notes (one line each) on what changed.

    Raises SourceError when the prolog declares a DOCTYPE or entities."""
    text, notes = decode(body)
    refuse_doctype(text)
    text, replaced = replace_forbidden_references(text)
    if replaced:
        notes += (f"replaced {replaced} character reference(s) to code points XML does not allow",)
    text = _ENCODING_ATTRIBUTE_RE.sub(r'\1"utf-8"', text, count=1)
    return text.encode("utf-8", errors="replace"), notes


def decode(body: bytes) -> tuple[str, tuple[str, ...]]:
    """The document's text, decoded as its BOM, its first bytes or its declaration says."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, errors="replace"), ()
    for signature, encoding in _SNIFFED:
        if body.startswith(signature):
            return body.decode(encoding, errors="replace"), ()
    family = "cp037" if body.startswith(_EBCDIC_DECLARATION) else "utf-8"
    declared = _declared_encoding(body[:1024].decode("cp037" if family == "cp037" else "latin-1"))
    encoding = declared if declared and _same_family(declared, family) else family
    try:
        return body.decode(encoding), ()
    except UnicodeDecodeError:  # a mislabelled feed: read on rather than lose it, and say so
        fallback = "windows-1252" if family == "utf-8" else family
        note = f"the feed is not valid {encoding}; read as {fallback}"
        return body.decode(fallback, errors="replace"), (note,)


def _declared_encoding(head: str) -> str | None:
    match = _DECLARED_RE.match(head)
    return match.group(1) if match else None


def _same_family(encoding: str, family: str) -> bool:
    """Whether `encoding` spells the declaration as the bytes did; a UTF-16 label on single-byte text, or
    a codec that is no text encoding (rot13, zlib), is not believed."""
    try:
        return "<?xml encoding".encode(encoding) == "<?xml encoding".encode(family)
    except (LookupError, UnicodeError, ValueError):
        return False


def refuse_doctype(text: str) -> None:
    """Refuse a document type declaration in the prolog: feedparser expands internal entities itself
    ("billion laughs" costs seconds and hundreds of MB), and no feed needs a DOCTYPE."""
    prolog = text[:_PROLOG_LIMIT]
    position = 0
    while True:
        while position < len(prolog) and prolog[position] in " \t\r\n\ufeff":
            position += 1
        if prolog.startswith("<?", position):
            terminator = "?>"
        elif prolog.startswith("<!--", position):
            terminator = "-->"
        elif prolog.startswith("<!", position):
            raise SourceError("refused: the document declares a DOCTYPE or entities (not allowed in feeds)")
        else:
            return
        end = prolog.find(terminator, position)
        if end < 0:
            raise SourceError("refused: the XML prolog is unterminated or longer than 64 KB")
        position = end + len(terminator)


def replace_forbidden_references(text: str) -> tuple[str, int]:
    """`&#...;` naming a code point outside XML's Char production becomes `&#xFFFD;`; how many did."""
    replaced = 0

    def check(match: re.Match[str]) -> str:
        nonlocal replaced
        if _allowed(match.group(1)):
            return match.group(0)
        replaced += 1
        return "&#xFFFD;"

    return _CHAR_REF_RE.sub(check, text), replaced


def _allowed(reference: str) -> bool:
    digits = reference[1:] if reference[0] == "x" else reference
    digits = digits.lstrip("0") or "0"
    if len(digits) > 8:  # beyond any code point; int() is not asked to read a million digits
        return False
    point = int(digits, 16 if reference[0] == "x" else 10)
    return (
        point in (0x9, 0xA, 0xD)
        or 0x20 <= point <= 0xD7FF
        or 0xE000 <= point <= 0xFFFD
        or 0x10000 <= point <= 0x10FFFF
    )
