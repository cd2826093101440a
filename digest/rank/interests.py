"""The interest query language: parse and validate what a subscriber wrote, with errors that say where.

    diffusion models; "speculative decoding" -medical
    robot learning cat:cs.RO
    author:"Yann LeCun"

Topics are separated by new lines or `;`. Within a topic: words, "phrases", `-word` / `-"phrase"`
exclusions, `cat:` arXiv categories (`cat:cs` means every cs.* category) and `author:` names. Quotes may be
straight or typographic. The parser only checks the syntax and the bounds; what a match means is rank's job.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import NoReturn

from digest.errors import InterestError
from digest.rank.terms import is_stopword_only

MAX_TOPICS = 20
MAX_TOPIC_CHARS = 300
MAX_CHARS = MAX_TOPICS * (MAX_TOPIC_CHARS + 1)

_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d", "\u201e": "\u201d"}
_PREFIX = re.compile(r"([A-Za-z][A-Za-z_]*):")
_CATEGORY = re.compile(r"[A-Za-z][A-Za-z-]*(\.[A-Za-z][A-Za-z-]*)?")
_PREFIXES = ("cat", "author")
# `\s` is exactly what str.isspace() calls whitespace (tests/test_interests.py checks).
_SPECIAL = re.compile('[\n;"\u201c\u201d\u201e]')  # where a topic or a quote may start or end
_WORD_PART = re.compile('[^\\s"\u201c\u201d\u201e]*')  # a word up to whitespace or a quote
_SPACE = re.compile(r"\s*")
# Cached: the same words recur in many subscribers' topics.
_stopword_only = functools.lru_cache(maxsize=65_536)(is_stopword_only)


@dataclass(frozen=True, slots=True)
class Topic:
    text: str  # the topic as the subscriber wrote it (trimmed)
    words: tuple[str, ...] = ()  # as written, lower-cased
    phrases: tuple[str, ...] = ()  # lower-cased, inner whitespace collapsed
    exclude_words: tuple[str, ...] = ()
    exclude_phrases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # as written: "cs.CL"
    authors: tuple[str, ...] = ()  # as written, inner whitespace collapsed: "Yann LeCun"


@dataclass(frozen=True, slots=True)
class Interests:
    topics: tuple[Topic, ...]

    def __str__(self) -> str:
        """One topic per line, each as written; `parse_interests(str(x)) == x`."""
        return "\n".join(topic.text for topic in self.topics)


def parse_interests(text: str) -> Interests:
    """Parse a subscriber's interests, or raise InterestError with one line saying where and why."""
    if len(text) > MAX_CHARS:
        raise InterestError(f"interests are {len(text)} characters long; at most {MAX_CHARS} are allowed")
    topics: list[Topic] = []
    for offset, segment in _segments(text):
        if len(topics) == MAX_TOPICS:
            raise InterestError(f"more than {MAX_TOPICS} topics; merge or remove some", offset)
        topic = _plain_topic(segment) or _TopicParser(segment, len(topics) + 1, offset).parse()
        topics.append(topic)
    if not topics:
        raise InterestError('no interests given: write at least one word, "phrase", cat: or author:', 0)
    return Interests(tuple(topics))


def _segments(text: str) -> list[tuple[int, str]]:
    """Split into trimmed, non-empty topics with their offsets: at new lines, and at `;` outside quotes."""
    found: list[tuple[int, str]] = []
    start, closing = 0, ""
    # Only quotes, new lines and `;` change anything: the characters in between are skipped by the regex.
    for special in _SPECIAL.finditer(text + "\n"):
        i, ch = special.start(), special.group()
        if closing and ch == closing:
            closing = ""
        elif not closing and ch in _QUOTES:
            closing = _QUOTES[ch]
        elif ch == "\n" or (ch == ";" and not closing):
            raw = text[start:i]
            stripped = raw.strip()
            if stripped:
                found.append((start + len(raw) - len(raw.lstrip()), stripped))
            start, closing = i + 1, ""
    return found


def _plain_topic(text: str) -> Topic | None:
    """The topic, when it is only words and -word exclusions that need no checking beyond the common ones
    (most topics are); None otherwise, and for any error: `_TopicParser` then parses it and says why.

    Same result as `_TopicParser`: with no quote and no `:`, every whitespace-separated token is a word,
    or an exclusion when it starts with `-`."""
    if len(text) > MAX_TOPIC_CHARS or ":" in text or any(quote in text for quote in _QUOTES):
        return None
    words: list[str] = []
    excluded: list[str] = []
    for token in text.split():
        negated = token[0] == "-"
        word = token[1:] if negated else token
        if not (word.isalnum() or any(ch.isalnum() for ch in word)):
            return None
        (excluded if negated else words).append(word.lower())
    if not words or all(_stopword_only(word) for word in words):
        return None
    return Topic(text, words=tuple(dict.fromkeys(words)), exclude_words=tuple(dict.fromkeys(excluded)))


@dataclass
class _TopicParser:
    text: str
    number: int
    offset: int
    pos: int = 0
    terms: dict[str, list[str]] = field(default_factory=dict)

    def parse(self) -> Topic:
        if len(self.text) > MAX_TOPIC_CHARS:
            self._fail(f"{len(self.text)} characters long; at most {MAX_TOPIC_CHARS} are allowed")
        while self._skip_space():
            self._term()
        got = {key: tuple(dict.fromkeys(values)) for key, values in self.terms.items()}
        topic = Topic(self.text, **got)
        if not (topic.words or topic.phrases or topic.categories or topic.authors):
            self._fail('only exclusions; add a word, "phrase", cat: or author: to match')
        only_words = not (topic.phrases or topic.categories or topic.authors)
        if only_words and all(_stopword_only(word) for word in topic.words):
            self._fail("only common words; add a more specific word")
        return topic

    def _term(self) -> None:
        negated = self.text[self.pos] == "-"
        if negated:
            self.pos += 1
            if self.pos == len(self.text) or self.text[self.pos].isspace():
                self._fail("'-' must be followed by a word or \"phrase\" to exclude", self.pos - 1)
        prefix = _PREFIX.match(self.text, self.pos)
        if prefix and prefix.end() < len(self.text) and not self.text[prefix.end()].isspace():
            self._prefixed(prefix, negated)
        elif self.text[self.pos] in _QUOTES:
            self._add("exclude_phrases" if negated else "phrases", " ".join(self._quoted().lower().split()))
        else:
            self._add("exclude_words" if negated else "words", self._word().lower())

    def _prefixed(self, prefix: re.Match[str], negated: bool) -> None:
        name = prefix.group(1).lower()
        if name not in _PREFIXES:
            self._fail(f'unknown prefix "{prefix.group(0)}"; use cat: or author:', self.pos)
        if negated:
            self._fail(f"exclusions apply to words and phrases, not {name}:", self.pos - 1)
        start = self.pos = prefix.end()
        value = self._quoted() if self.text[self.pos] in _QUOTES else self._word()
        value = " ".join(value.split())
        if name == "author":
            self._add("authors", value)
        elif _CATEGORY.fullmatch(value):
            self._add("categories", value)
        else:
            self._fail(f'"{value}" is not an arXiv category such as cs.CL or math', start)

    def _quoted(self) -> str:
        start = self.pos
        closing = _QUOTES[self.text[start]]
        end = self.text.find(closing, start + 1)
        if end < 0:
            self._fail("unterminated quote", start)
        self.pos = end + 1
        if self.pos < len(self.text) and not self.text[self.pos].isspace():
            self._fail("expected a space after the closing quote", self.pos)
        inside = self.text[start + 1 : end]
        if not inside.strip():
            self._fail("empty quotes", start)
        return inside

    def _word(self) -> str:
        start = self.pos
        self.pos = _WORD_PART.match(self.text, start).end()  # type: ignore[union-attr]  # matches ""
        if self.pos < len(self.text) and self.text[self.pos] in _QUOTES:
            self._fail("unexpected quote inside a word; put a space before it", self.pos)
        word = self.text[start : self.pos]
        if not any(ch.isalnum() for ch in word):
            self._fail(f'"{word}" has no letters or digits to match', start)
        return word

    def _skip_space(self) -> bool:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]  # matches ""
        return self.pos < len(self.text)

    def _add(self, kind: str, value: str) -> None:
        self.terms.setdefault(kind, []).append(value)

    def _fail(self, why: str, column: int | None = None) -> NoReturn:
        shown = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        where = f"topic {self.number} ({json.dumps(shown, ensure_ascii=False)})"
        if column is None:
            raise InterestError(f"{where}: {why}", self.offset)
        raise InterestError(f"{where}, column {column + 1}: {why}", self.offset + column)
