"""Identity of a paper: arXiv ids and DOIs in their one canonical spelling, and the key built from them.

Every source spells ids its own way (`arXiv:2411.12345v2`, `oai:arXiv.org:...`, abs and pdf URLs, old-style
`math.GT/0309136`); the store only ever sees the forms returned here, so one paper is one row.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# re.ASCII throughout: in Unicode mode \d takes full-width and other digits ("２６０１.００１９４") and
# IGNORECASE lets [a-z] take the Kelvin sign, so a look-alike would become a second key and a bogus link.
_NEW_ID = r"\d{4}\.\d{4,5}"
# Old-style ids name an archive, optionally a subject class that is not part of the identity.
_OLD_ID = r"[a-z]+(?:-[a-z]+)*(?:\.[a-z]{2})?/\d{7}"
_ID_RE = re.compile(rf"^(?P<id>{_NEW_ID}|{_OLD_ID})(?:v\d+)?(?:\.pdf)?$", re.IGNORECASE | re.ASCII)
_PREFIX_RE = re.compile(r"^(?:oai:arxiv\.org:|arxiv:)\s*", re.IGNORECASE | re.ASCII)
_ARXIV_HOSTS = ("arxiv.org", "www.arxiv.org", "export.arxiv.org", "rss.arxiv.org")
_ID_PATH_RE = re.compile(r"^/(?:abs|pdf|html|papers)/(?P<rest>.+?)/?$")
_DOI_RE = re.compile(r"^10\.[0-9]{4,9}/\S+$")  # the registrant code in ASCII digits; the suffix is free
_DOI_URL_PREFIX_RE = re.compile(r"^(?:https?://)?(?:dx\.)?doi\.org/", re.IGNORECASE)


def normalise_arxiv_id(text: str | None) -> str | None:
    """The arXiv id without version ("2411.12345", "astro-ph/0601001"), or None when `text` is not one."""
    if not text:
        return None
    candidate = _PREFIX_RE.sub("", text.strip())
    if "://" in candidate or candidate.startswith(("arxiv.org/", "www.arxiv.org/")):
        in_url = _id_part_of_url(candidate)
        if in_url is None:
            return None
        candidate = in_url
    match = _ID_RE.match(candidate)
    if match is None:
        return None
    return _canonical(match.group("id"))


def _id_part_of_url(url: str) -> str | None:
    parts = urlsplit(url if "://" in url else "https://" + url)
    host = (parts.hostname or "").lower()
    if host not in _ARXIV_HOSTS and host != "huggingface.co":
        return None
    match = _ID_PATH_RE.match(parts.path)
    return match.group("rest") if match else None


def _canonical(raw: str) -> str | None:
    if "/" in raw:
        archive, number = raw.split("/", 1)
        return f"{archive.split('.', 1)[0].lower()}/{number}"
    month = int(raw[2:4])
    # A real new-style id starts with YYMM; rejecting month 00 or 13+ keeps dates and DOIs out.
    return raw if 1 <= month <= 12 else None


def arxiv_id_in_link(url: str | None) -> str | None:
    """An arXiv id revealed by a link: an arXiv or Hugging Face paper URL, or a URL whose last path segment is
    exactly a new-style id (mirrors such as `https://tldr.takara.ai/p/2604.26238`)."""
    if not url:
        return None
    found = normalise_arxiv_id(url)
    if found is not None:
        return found
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if re.fullmatch(rf"{_NEW_ID}(?:v\d+)?", last, re.ASCII):
        return normalise_arxiv_id(last)
    return None


def normalise_doi(text: str | None) -> str | None:
    """The DOI lower-cased without resolver or `doi:` prefix ("10.1101/2024.01.01.1234"), or None."""
    if not text:
        return None
    candidate = text.strip()
    candidate = re.sub(r"^doi:\s*", "", candidate, flags=re.IGNORECASE)
    if _DOI_URL_PREFIX_RE.match(candidate):
        candidate = unquote(_DOI_URL_PREFIX_RE.sub("", candidate))
    candidate = candidate.rstrip(".,;")
    return candidate.lower() if _DOI_RE.match(candidate) else None


def paper_key(arxiv_id: str | None, doi: str | None, url: str | None) -> str:
    """The identity the store deduplicates on: "arxiv:<id>", else "doi:<doi>", else "url:<url>"."""
    if arxiv_id:
        return f"arxiv:{arxiv_id}"
    if doi:
        return f"doi:{doi}"
    if url:
        return f"url:{url.strip()}"
    raise ValueError("a paper needs an arXiv id, a DOI or a URL")


def abs_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def pdf_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}"
