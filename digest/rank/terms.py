"""Turning text into the terms that interests and papers are matched on.

Interests and papers go through the same functions, so "Robots" in a topic and "robotic" in an abstract
meet as the same stem. Text is split into tokens of letters and digits rather than searched for substrings,
which is what keeps a short acronym such as "RL" from matching inside "world".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

_TOKEN = re.compile(r"[^\W_]+")
_VOWELS = frozenset("aeiouy")
_STEMMER = snowballstemmer.stemmer("english")

# Words too common to say anything about a topic. They still count inside phrases ("mixture of experts"),
# so they are only dropped where terms are matched one by one.
_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no nor not
    now of off on once only or other our ours out over own same she should so some such than that the their
    theirs them then there these they this those through to too under until up upon very via was we were
    what when where which while who whom why will with would you your s t"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


STOP_STEMS = frozenset(_STEMMER.stemWord(word) for word in STOPWORDS)


def fold(text: str) -> str:
    """Lower-case and strip accents, so "Naïve" and "naive" are one word and "José" matches "Jose"."""
    if text.isascii():  # the common case, and the per-character pass below is slow
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def tokens(text: str) -> list[str]:
    """The folded word tokens of `text`, in order; punctuation and hyphens separate tokens."""
    return _TOKEN.findall(fold(text))


@lru_cache(maxsize=262_144)
def stem(token: str) -> str:
    """The Snowball stem of one folded token, with acronym plurals (LLMs, CNNs) reduced to the singular."""
    stemmed: str = _STEMMER.stemWord(token)
    # Snowball leaves vowel-less words alone, so "llms" would never meet "llm".
    if stemmed == token and len(token) > 2 and token.endswith("s") and not _VOWELS & set(token[:-1]):
        return token[:-1]
    return stemmed


def stems(text: str) -> list[str]:
    """The stems of every token of `text`, in order (stopwords kept, for phrase matching)."""
    return [stem(tok) for tok in tokens(text)]


def is_stopword_only(text: str) -> bool:
    """True when `text` has no token that could match on its own (only stopwords or no tokens at all)."""
    return all(stem(tok) in STOP_STEMS for tok in tokens(text))


def phrase_key(stemmed: tuple[str, ...]) -> str:
    """The vocabulary key of a phrase: its stems joined by single spaces ("specul decod")."""
    return " ".join(stemmed)


def category_keys(category: str) -> tuple[str, ...]:
    """Keys a paper's category answers to: the category itself and its archive ("cs.cl" and "cs")."""
    folded = category.strip().casefold()
    archive = folded.split(".", 1)[0]
    return ("cat:" + folded,) if archive == folded else ("cat:" + folded, "cat:" + archive)


def category_query_key(category: str) -> str:
    """The key a `cat:` term looks for; "cs" matches every cs.* paper through `category_keys`."""
    return "cat:" + category.strip().casefold()


def author_keys(name: str) -> tuple[str, ...]:
    """Keys a paper's author answers to: surname alone, and first initial with surname.

    Sources spell the same person "Yann LeCun", "Y. LeCun", "LeCun, Yann" or "Yann Le Cun"; accents fold
    ("José" is "Jose"), hyphens separate ("J.-P. Serre" is "Jean-Pierre Serre"), particles join the surname
    ("van der Waals" is one surname, and "Le Cun" is "LeCun"), and a German umlaut also answers to its
    spelled-out form ("Schölkopf" to "Schoelkopf"). The initial-plus-surname key lets all of these meet
    while keeping two LeCuns with different initials apart.
    """
    given, surname = _name_parts(name)
    if not surname:
        return ()
    keys = [key for key in (surname[-1], "".join(surname), _spelled_out(name, "".join(surname))) if key]
    if given:
        keys += [f"{given[0][0]} {key}" for key in list(keys)]
    return tuple(dict.fromkeys("au:" + key for key in keys))


def author_query_key(name: str) -> str:
    """The key an `author:` term looks for: the surname alone when only one name is given."""
    given, surname = _name_parts(name)
    joined = "".join(surname)
    return f"au:{given[0][0]} {joined}" if given else "au:" + joined


# Lower-case words that belong to the surname that follows them.
_PARTICLES = frozenset(
    [
        "van",
        "von",
        "der",
        "den",
        "de",
        "del",
        "della",
        "di",
        "da",
        "du",
        "le",
        "la",
        "dos",
        "das",
        "ter",
        "ten",
        "al",
        "el",
        "bin",
        "ibn",
    ]
)
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def _name_parts(name: str) -> tuple[list[str], list[str]]:
    """(given names, surname tokens) of a name as sources and readers write it."""
    if "," in name:  # "LeCun, Yann" -> "Yann LeCun"
        surname, _, given = name.partition(",")
        name = f"{given} {surname}"
    words = [tokens(word) for word in name.split()]
    words = [word for word in words if word]
    if not words:
        return [], []
    start = len(words) - 1  # the last word, hyphens and all ("Garcia-Molina"), is the surname
    while start > 0 and len(words[start - 1]) == 1 and words[start - 1][0] in _PARTICLES:
        start -= 1
    return [t for word in words[:start] for t in word], [t for word in words[start:] for t in word]


def _spelled_out(name: str, surname: str) -> str:
    """The surname with umlauts spelled out, when the name has any ("" otherwise)."""
    if not any(ch in name for ch in "äöüÄÖÜß"):
        return ""
    _, parts = _name_parts(name.translate(_UMLAUTS))
    spelled = "".join(parts)
    return spelled if spelled != surname else ""


def match_spans(text: str, terms: tuple[str, ...] | list[str]) -> list[tuple[int, int]]:
    """Character spans of `text` that match any of `terms` (words or phrases) the way ranking does.

    For highlighting: "robots" in the terms marks "Robotic" in a title. Spans are (start, end) offsets
    into `text`, in order and not overlapping.
    """
    found = [(m.start(), m.end(), _one_stem(m.group())) for m in _TOKEN.finditer(text)]
    wanted = {tuple(stem(tok) for tok in tokens(term)) for term in terms}
    wanted.discard(())
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(found):
        size = max((n for n in map(len, wanted) if _matches_at(found, i, n, wanted)), default=0)
        if size:
            spans.append((found[i][0], found[i + size - 1][1]))
            i += size
        else:
            i += 1
    return spans


def _one_stem(token: str) -> str:
    folded = tokens(token)
    return stem(folded[0]) if len(folded) == 1 else " ".join(stem(tok) for tok in folded)


def _matches_at(found: list[tuple[int, int, str]], i: int, size: int, wanted: set[tuple[str, ...]]) -> bool:
    return tuple(item[2] for item in found[i : i + size]) in wanted
