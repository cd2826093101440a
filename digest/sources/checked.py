"""The last word on a converted paper before it leaves the adapters: every value is one the store can keep.

A source may send lone surrogates (`"\\ud800"` in JSON), NUL characters, counts beyond any column or below
zero, and identifiers longer than their columns. Each would make the database refuse the whole batch, so
each is corrected here, on the one paper, with a note saying what was changed.
"""

from __future__ import annotations

import dataclasses
import re

from digest.records import PaperIn

# The columns' limits (digest/store/models.py): counts are SQL INTEGER, 32-bit in PostgreSQL.
MAX_COUNT = 2**31 - 1
MAX_KEY = 300
MAX_ARXIV_ID = 64
MAX_DOI = 255
_COUNTS = ("upvotes", "comments", "github_stars")
_UNSTORABLE_RE = re.compile("[\ud800-\udfff\x00]")  # lone surrogates (UTF-8 cannot hold them) and NUL


def storable_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD and NULs dropped (PostgreSQL refuses NUL in text)."""
    if not _UNSTORABLE_RE.search(text):
        return text
    return _UNSTORABLE_RE.sub(lambda m: "" if m.group(0) == "\x00" else "\ufffd", text)


def count(value: object, field: str, fixes: list[str]) -> int | None:
    """A count as a source sent it: a whole JSON number, else dropped with a note (floats, strings, bools)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # the range is `storable`'s to check, for every adapter alike
    fixes.append(f"{field} {storable_text(repr(value))[:40]} is not a whole number; dropped")
    return None


def storable(paper: PaperIn) -> tuple[PaperIn, tuple[str, ...]]:
    """The paper with every value storable, and one note per correction.

    Raises ValueError when its key cannot be stored: then the entry is skipped, like any bad entry."""
    fixes: list[str] = []
    changes: dict[str, object] = {}
    for field in dataclasses.fields(paper):
        value = getattr(paper, field.name)
        fixed = _storable_value(field.name, value, fixes)
        if fixed is not value:
            changes[field.name] = fixed
    if changes:
        paper = dataclasses.replace(paper, **changes)  # type: ignore[arg-type]
    if len(paper.key) > MAX_KEY:
        raise ValueError(f"its identifier is longer than {MAX_KEY} characters")
    if paper.arxiv_id is not None and len(paper.arxiv_id) > MAX_ARXIV_ID:
        raise ValueError(f"its arXiv id is longer than {MAX_ARXIV_ID} characters")
    if paper.doi is not None and len(paper.doi) > MAX_DOI:
        fixes.append(f"DOI longer than {MAX_DOI} characters; dropped")
        paper = dataclasses.replace(paper, doi=None)
    return paper, tuple(fixes)


def _storable_value(name: str, value: object, fixes: list[str]) -> object:
    if isinstance(value, str):
        return _text(name, value, fixes)
    if isinstance(value, tuple):
        cleaned = tuple(_text(name, item, fixes) if isinstance(item, str) else item for item in value)
        return value if cleaned == value else cleaned
    if name in _COUNTS and isinstance(value, int):
        return _in_range(name, value, fixes)
    return value


def _text(name: str, value: str, fixes: list[str]) -> str:
    cleaned = storable_text(value)
    if cleaned != value:
        fixes.append(f"{name}: replaced characters that cannot be stored (lone surrogates, NUL)")
    return cleaned


def _in_range(name: str, value: int, fixes: list[str]) -> int | None:
    if value < 0:
        fixes.append(f"{name} {value} is negative; dropped")
        return None
    if value > MAX_COUNT:
        fixes.append(f"{name} beyond {MAX_COUNT}; clamped")  # str() of a huge int may itself raise
        return MAX_COUNT
    return value
