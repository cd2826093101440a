"""Highlighting the words a subscriber matched in a paper's summary and explanation, as escaped HTML."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from markupsafe import Markup, escape


def highlight(text: str, words: Sequence[str]) -> Markup:
    r"""Escape `text` and wrap each occurrence of a matched word (and the rest of its word) in <mark>.

    What `re.finditer(r"\b(?:t1|t2|...)\w*", text, re.IGNORECASE)` finds, terms longest first, but without
    compiling that alternation: subscribers' word sets are nearly all different, and compiling one per set
    cost more than the rest of a render. One lookahead per word (few distinct words) finds where each
    could start; leftmost wins, then the first term in order, then the rest of the word, as in the regex.
    """
    if isinstance(words, tuple):
        return _highlight_cached(text, words)
    return _highlight(text, words)


@functools.lru_cache(maxsize=32768)
def _highlight_cached(text: str, words: tuple[str, ...]) -> Markup:
    # A paper's summary is highlighted with the same words for every subscriber who matched it alike.
    return _highlight(text, words)


def _highlight(text: str, words: Sequence[str]) -> Markup:
    terms = sorted({w.strip().rstrip("*").strip() for w in words} - {""}, key=len, reverse=True)
    if not terms:
        return escape(text)
    spans = _spans(text, terms)
    if type(text) is str and _OPEN not in text and _CLOSE not in text:
        return _marked(text, spans)
    # str.join of escaped pieces and literal tags: Markup's own operators would re-check every piece.
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts += (escape(text[last:start]), "<mark>", escape(text[start:end]), "</mark>")
        last = end
    parts.append(escape(text[last:]))
    return Markup("".join(parts))  # noqa: S704 - every piece above is escaped or a literal <mark> tag


# Stand-ins for the tags, which escaping leaves alone: escaping the text once with them in it, then putting
# the tags in, gives what escaping each piece does (escaping replaces characters one by one), with one call
# instead of one per piece. Only for text that holds neither.
_OPEN, _CLOSE = "\x00", "\x01"


def _marked(text: str, spans: list[tuple[int, int]]) -> Markup:
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts += (text[last:start], _OPEN, text[start:end], _CLOSE)
        last = end
    parts.append(text[last:])
    escaped = str.replace(escape("".join(parts)), _OPEN, "<mark>")
    return Markup(escaped.replace(_CLOSE, "</mark>"))  # noqa: S704 - escaped, then the literal tags


def _spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    first = _ascii_starts(text, terms) if text.isascii() else None
    if first is None:
        first = {}  # start -> the earliest term (in alternation order) that matches there
        for order, term in enumerate(terms):
            for match in _starts(term).finditer(text):
                first.setdefault(match.start(), order)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for start in sorted(first):
        if start >= cursor:  # finditer resumes after the previous match
            # IGNORECASE compares one character with one character, so the term's length is the match's.
            cursor = _WORD_TAIL.match(text, start + len(terms[first[start]])).end()  # type: ignore[union-attr]
            spans.append((start, cursor))
    return spans


def _ascii_starts(text: str, terms: Sequence[str]) -> dict[int, int] | None:
    """What the lookaheads of `_starts` find, by str.find on lower-cased ASCII (where IGNORECASE is exactly
    lower-casing, and lower-casing keeps every index); None when a term is not ASCII."""
    if not all(term.isascii() for term in terms):
        return None
    low = text.lower()
    first: dict[int, int] = {}
    for order, term in enumerate(terms):
        needle = term.lower()
        at = low.find(needle)
        while at >= 0:
            # \b before the term: a word character on exactly one side of `at`.
            if (at > 0 and _is_word(text[at - 1])) != _is_word(text[at]):
                first.setdefault(at, order)
            at = low.find(needle, at + 1)
    return first


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


@functools.lru_cache(maxsize=65536)
def _starts(term: str) -> re.Pattern[str]:
    return re.compile(r"\b(?=" + re.escape(term) + ")", re.IGNORECASE)


_WORD_TAIL = re.compile(r"\w*")
