"""The bioRxiv/medRxiv details API (`api.biorxiv.org/details/...`): JSON `{messages, collection}`.

Abstracts come from a JATS conversion and carry its markers (`O_ST_ABS`, `C_LIO_LI`, `O_SCPLOW`), Greek
letters as `{rho}`, and section headings run into the text ("BackgroundThe ..."); all are made readable here.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from digest.records import PaperIn
from digest.sources import ids
from digest.sources.parsed import ParseResult, collect, utc_from_iso
from digest.sources.text import clean_line, clean_text

KIND = "feed"
_JATS_BREAK_RE = re.compile(r"[OC]_(?:ST_ABS|LI|FLOATNO|TEXTBOX|FIG|TBL|TABLE)")
_JATS_INLINE_RE = re.compile(r"[OC]_(?:SCPLOW|SCPCAP)")  # small capitals: the letters stay, the marks go
_HEADINGS = (
    "Background|Objectives?|Aims?|Purpose|Importance|Introduction|Context|Motivation|Design|Setting|"
    "Participants|Interventions?|Methods?|Methodology|Measurements|Findings|Results|Interpretation|"
    "Conclusions?|Significance|Highlights|Limitations|Funding|Rationale"
)
_RUN_IN_HEADING_RE = re.compile(rf"(?m)^({_HEADINGS})(?=[A-Z][a-z])")
_GREEK_RE = re.compile(r"\{([a-zA-Z]+)\}")


def is_details_response(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("collection"), list) and "messages" in data


def parse(data: dict[str, Any]) -> ParseResult:
    note = None if data["collection"] else "no papers in this interval"
    return collect(data["collection"], _paper, _label, note=note)


def _label(index: int, item: Any) -> str:
    doi = item.get("doi") if isinstance(item, dict) else None
    return f"item {index + 1} ({doi})" if doi else f"item {index + 1}"


def _paper(item: Any) -> PaperIn:
    doi = ids.normalise_doi(item["doi"])
    if doi is None:
        raise ValueError(f"not a DOI: {item['doi']!r}")
    server = str(item.get("server") or "biorxiv").lower()
    version = str(item.get("version") or "1")
    return PaperIn(
        key=ids.paper_key(None, doi, None),
        title=clean_line(item["title"]),
        abstract=readable_jats(str(item.get("abstract") or "")),
        url=f"https://www.{server}.org/content/{doi}v{version}",
        source_kind=KIND,
        doi=doi,
        authors=tuple(n for raw in str(item.get("authors") or "").split(";") if (n := clean_line(raw))),
        categories=(clean_line(item["category"]),) if item.get("category") else (),
        published=utc_from_iso(item.get("date")),
        pdf_url=f"https://www.{server}.org/content/{doi}v{version}.full.pdf",
    )


def readable_jats(abstract: str) -> str:
    text = _JATS_BREAK_RE.sub(" ", _JATS_INLINE_RE.sub("", abstract))
    text = _GREEK_RE.sub(_greek, text)
    text = _RUN_IN_HEADING_RE.sub(r"\1: ", text)
    return clean_text(text)


def _greek(match: re.Match[str]) -> str:
    try:
        return unicodedata.lookup(f"GREEK SMALL LETTER {match.group(1).upper()}")
    except KeyError:
        return match.group(0)
