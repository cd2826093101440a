"""What every adapter shares: the parse result, refusal of hostile bytes, per-entry error isolation."""

from __future__ import annotations

import calendar
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import feedparser

from digest.errors import SourceError
from digest.records import PaperIn
from digest.sources.checked import storable, storable_text
from digest.sources.xmldoc import checked_document, decode, refuse_doctype

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ParseResult:
    papers: tuple[PaperIn, ...]
    skipped: int = 0  # entries dropped (bad entry, unwanted announce type)
    warnings: tuple[str, ...] = ()  # one line each, naming the entry
    note: str | None = None  # e.g. "empty day: the feed has no items"
    total: int | None = None  # results the source says exist in all pages (arXiv API), for paging


class EntrySkipped(Exception):
    """Raised by a converter for an entry that is deliberately not taken; counted, not warned about."""


NOTES = "digest_notes"  # key of the document check's notes in a parsed feed


def refuse_unsafe_xml(body: bytes) -> None:
    """Refuse a document type declaration, read on the decoded text whatever the declared encoding."""
    refuse_doctype(decode(body)[0])


def parse_xml_feed(body: bytes) -> Any:
    """feedparser on the checked UTF-8 document (see `xmldoc`), with its HTML sanitiser off: it mangles
    maths such as `a<b`; text is sanitised by `text.clean_text` instead. What the check changed is kept
    under `NOTES`, for `collect` to warn about."""
    document, notes = checked_document(body)
    feed = feedparser.parse(document, sanitize_html=False, resolve_relative_uris=False)
    feed[NOTES] = notes
    return feed


def looks_like_json(body: bytes) -> bool:
    return body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] in (b"{", b"[")


def load_json(body: bytes, what: str) -> Any:
    """The JSON document, or SourceError (one line) when the response as a whole cannot be read."""
    try:
        return json.loads(body.decode("utf-8-sig"), parse_int=_bounded_int)
    except RecursionError:  # the decoder recurses once per level: "[" * 100_000 exhausts the stack
        raise SourceError(f"{what}: invalid JSON (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise SourceError(f"{what}: invalid JSON ({storable_text(str(exc))[:200]})") from None


_INT_DIGITS = 40
_TOO_LARGE: int = 10**_INT_DIGITS


def _bounded_int(literal: str) -> int:
    """Python refuses int() of more than 4,300 digits (the whole document would fail); no count needs
    more than 40, and a longer one still reads as too large, to be clamped with the entry's other values."""
    if len(literal.lstrip("-")) <= _INT_DIGITS:
        return int(literal)
    return -_TOO_LARGE if literal.startswith("-") else _TOO_LARGE


def utc_from_struct(value: time.struct_time | None) -> datetime | None:
    """feedparser's parsed dates are already UTC struct_times."""
    if value is None:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)


_ISO_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")


def utc_from_iso(value: object) -> datetime | None:
    """An ISO 8601 date or date-time as aware UTC; None for anything else ("NA", null)."""
    if not isinstance(value, str) or not _ISO_DATE_RE.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Converted:
    """A converter's paper with what it had to correct in the entry (one line each, warned about)."""

    paper: PaperIn
    fixes: tuple[str, ...] = ()


def collect(
    entries: Iterable[T],
    convert: Callable[[T], PaperIn | Converted],
    name: Callable[[int, T], str],
    *,
    note: str | None = None,
    total: int | None = None,
    feed: Any = None,
) -> ParseResult:
    """Convert each entry; a bad one is skipped with a warning naming it, never the whole response."""
    papers: list[PaperIn] = []
    warnings = _feed_warnings(feed)
    skipped = 0
    for index, entry in enumerate(entries):
        try:
            paper, fixes = _convert_one(entry, convert)
        except EntrySkipped:
            skipped += 1
            continue
        # Any exception: a converter reads untrusted data, and whatever one entry provokes costs that entry.
        except Exception as exc:
            skipped += 1
            warnings.append(f"skipped {_label(name, index, entry)}: {_describe(exc)}")
            continue
        papers.append(paper)
        warnings.extend(f"{_label(name, index, entry)}: {fix}" for fix in fixes)
    return ParseResult(tuple(papers), skipped, tuple(warnings), note, total)


def _convert_one(entry: T, convert: Callable[[T], PaperIn | Converted]) -> tuple[PaperIn, tuple[str, ...]]:
    converted = convert(entry)
    if isinstance(converted, PaperIn):
        converted = Converted(converted)
    paper, fixes = storable(converted.paper)
    return paper, tuple(dict.fromkeys((*converted.fixes, *fixes)))


def _label(name: Callable[[int, T], str], index: int, entry: T) -> str:
    try:
        return storable_text(name(index, entry))
    except Exception:  # naming a broken entry must not fail in turn
        return f"entry {index + 1}"


def _feed_warnings(feed: Any) -> list[str]:
    """What the document check changed, and that feedparser recovered what it could from broken XML."""
    if feed is None:
        return []
    warnings = list(feed.get(NOTES, ()))
    if feed.get("bozo"):
        reason = str(feed.get("bozo_exception") or "unknown problem").splitlines()[0]
        warnings.append(f"feed is not well-formed ({reason}); kept what could be read")
    return warnings


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return storable_text(f"missing field {exc}")[:200]
    text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return storable_text(text)[:200]


def entry_label(index: int, entry: Any) -> str:
    """ "entry 3 (oai:arXiv.org:2411.17700v1)" from whatever identifies it."""
    ident = ""
    if hasattr(entry, "get"):
        ident = str(entry.get("id") or entry.get("link") or entry.get("title") or "")[:120]
    return f"entry {index + 1} ({ident})" if ident else f"entry {index + 1}"
