"""Source text to clean plain text: HTML sanitised away, entities decoded, whitespace normalised, LaTeX kept.

Titles and abstracts arrive as HTML (journal feeds), XML-escaped text (arXiv), or JSON strings with JATS
leftovers (medRxiv). Plain text is never fed to the HTML parser: an abstract like `$\\frac13<s<1$` would be
mangled by it. Only text that contains real tags is sanitised, so scripts, styles, images, event handlers and
`javascript:` URLs never survive, while maths written with `<` does.
"""

from __future__ import annotations

import html
import re
import unicodedata

import nh3

from digest.sources.checked import storable_text
from digest.sources.latex import math_to_text

_TAG_RE = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?\s*>|<!--")
_BLOCK_END_RE = re.compile(r"<\s*(?:br\s*/?|/p|/div|/li|/h[1-6]|/tr|/blockquote)\s*>", re.IGNORECASE)
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARAGRAPH_RE = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_SPACE_RE = re.compile(r"\s+")
_DROPPED_CONTENT = {
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "svg",
    "math",
    "head",
    "title",
}
# Text-mode LaTeX markup whose argument is the readable text; maths between $...$ is left as written.
_LATEX_WRAPPER_RE = re.compile(
    r"\\(?:textbf|textit|emph|texttt|textsc|textrm|textsf|underline|mbox)\{([^{}]*)\}"
)
_COMBINING = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "c": "\u0327",
    "v": "\u030c",
    "u": "\u0306",
    "H": "\u030b",
    "k": "\u0328",
}
_ACCENT_RE = re.compile(r"\{?\\(['`^\"~=.])\s*\{?([A-Za-z])\}?\}?|\{?\\([cvuHk])\{([A-Za-z])\}\}?")
_MAX_SANITISE_ROUNDS = 2


def looks_like_html(text: str) -> bool:
    return _TAG_RE.search(text) is not None


def clean_text(text: str | None, *, paragraphs: bool = True) -> str:
    """Plain, readable text. With `paragraphs`, blank-line breaks survive; other runs of whitespace become
    one space."""
    if not text:
        return ""
    result = storable_text(text)  # nh3 (Rust) raises on a lone surrogate: the whole entry would be lost
    for _ in range(_MAX_SANITISE_ROUNDS):
        if not looks_like_html(result):
            break
        result = _strip_html(result)
    result = _ENTITY_RE.sub(lambda m: html.unescape(m.group(0)), result)
    if looks_like_html(result):
        # Escaped markup decoded into markup again: still never stored as tags.
        result = _strip_html(result)
    result = _CONTROL_RE.sub("", result)
    result = latex_to_readable(result)
    return normalise_whitespace(result, paragraphs=paragraphs)


def clean_line(text: str | None) -> str:
    """A title or name: like `clean_text`, on one line."""
    return clean_text(text, paragraphs=False)


def _strip_html(markup: str) -> str:
    with_breaks = _BLOCK_END_RE.sub("\n\n", markup)
    stripped = nh3.clean(with_breaks, tags=set(), clean_content_tags=_DROPPED_CONTENT, strip_comments=True)
    # nh3 escapes &, < and > in its output; decode once so the result is text, not HTML.
    return html.unescape(stripped)


def normalise_whitespace(text: str, *, paragraphs: bool = True) -> str:
    """Join hard-wrapped lines; keep blank-line paragraph breaks when `paragraphs`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    if not paragraphs:
        return _SPACE_RE.sub(" ", text).strip()
    parts = (_SPACE_RE.sub(" ", part).strip() for part in _PARAGRAPH_RE.split(text))
    return "\n\n".join(part for part in parts if part)


_TIE_RE = re.compile(r"(?<=[\w.,:;)])~(?=[\w(\[\\$])")


def latex_to_readable(text: str) -> str:
    """Accents (`R\\'emy`, `Schr\\"{o}dinger`) to letters, text-mode wrappers to their text, and inline maths
    to readable text (`latex.math_to_text`).

    LaTeX's tie (`models~(VLMs)`) is a space; a tilde in a URL (`/~user`) is not preceded by a letter.
    """
    text = math_to_text(_TIE_RE.sub(" ", text))
    if "\\" not in text:
        return text
    text = _ACCENT_RE.sub(_accented, text)
    previous = None
    while previous != text:  # nested wrappers, innermost first
        previous = text
        text = _LATEX_WRAPPER_RE.sub(r"\1", text)
    return text


def _accented(match: re.Match[str]) -> str:
    mark, letter = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    return unicodedata.normalize("NFC", letter + _COMBINING[mark])


def split_authors(text: str | None) -> tuple[str, ...]:
    """Split a comma-joined author string, ignoring commas inside parenthesised affiliations (dropped).

    "A (Univ X, Dept Y), B and C" -> ("A", "B", "C").
    """
    if not text:
        return ()
    names: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            names.append("".join(current))
            current = []
            continue
        if depth == 0 and char not in ")]":
            current.append(char)
    names.append("".join(current))
    return tuple(name for raw in names for name in _split_final_and(clean_line(raw)) if name)


def _split_final_and(name: str) -> list[str]:
    return [part.strip() for part in re.split(r"^and\s+|\s+and\s+", name) if part.strip()]
