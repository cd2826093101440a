"""Maths in titles and abstracts as readable text: `$\\omega$` is ω, `$\\mathcal{O}(n)$` is 𝒪(n), `$^{3}$He`
is ³He. Feeds carry raw LaTeX, which reads as noise in an email, a page or a feed reader, and which a
search for "ω" or "3He" would never match.

Only spans between matched `$...$` (or `\\(...\\)`) are converted, by pylatexenc (a well-kept LaTeX-to-text
converter, so no table of macros of our own); a lone `$` ("costs $5") is text. A span pylatexenc cannot
read is kept as it was.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from pylatexenc.latex2text import LatexNodes2Text

# Maths starts and ends next to its dollar signs: "$5 and $10" is money, "$x_n$" is maths.
_MATH = re.compile(r"(?<![\\$])\$(?![$\s])([^$\n]{0,400}?[^$\s\\])\$(?!\$)|\\\((.{1,400}?)\\\)")
_PLAIN = re.compile(r"[A-Za-z0-9 ,.:;=+\-()<>|/]*")
_SCRIPT = re.compile(r"([\^_])\{?([0-9+\-=()n]{1,6})\}?")
# pylatexenc logs a warning for every macro it cannot substitute (`\frac` with odd arguments); the span is
# then kept as written, which is all the reader needs to know.
logging.getLogger("pylatexenc").setLevel(logging.ERROR)
_SUPER = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")
_SUB = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")


@lru_cache(maxsize=1)
def _converter() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text", strict_latex_spaces="based-on-source")


def math_to_text(text: str) -> str:
    """`text` with each inline maths span written as plain Unicode text."""
    if "$" not in text and "\\(" not in text:
        return text
    return _MATH.sub(_span, text)


def _span(match: re.Match[str]) -> str:
    source = match.group(1) if match.group(1) is not None else match.group(2)
    if _PLAIN.fullmatch(source):  # "$x$", "$n=3$": a third of a day's spans, nothing to convert
        return source
    return _converted(source) or match.group(0)


@lru_cache(maxsize=4096)  # a day's feed repeats many spans ($\alpha$, $\mathcal{O}(n)$)
def _converted(source: str) -> str:
    scripted = _SCRIPT.sub(_script, source)  # before pylatexenc, which would drop the braces
    try:
        converted = _converter().latex_to_text(scripted)
    except Exception:  # pylatexenc raises many kinds on odd input; the caller keeps the span as written
        return ""
    return " ".join(converted.split())


def _script(match: re.Match[str]) -> str:
    mark, body = match.group(1), match.group(2)
    table = _SUPER if mark == "^" else _SUB
    translated = body.translate(table)
    return translated if mark == "^" or "n" not in body else match.group(0)
