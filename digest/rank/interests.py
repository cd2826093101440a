"""The interest query language: parse and validate what a subscriber wrote, with errors that say where.

    diffusion models; "speculative decoding" -medical
    robot learning cat:cs.RO
    author:"Yann LeCun"

Topics are separated by new lines or `;`. Within a topic: words, "phrases", `-word` / `-"phrase"`
exclusions, `cat:` arXiv categories (`cat:cs` means every cs.* category) and `author:` names. Quotes may be
straight or typographic. The parser only checks the syntax and the bounds; what a match means is rank's job.

People paste titles and abstracts, so everything that is not clearly one of these is text: a quote opens a
phrase only at the start of a term and only when its closing quote ends a term (`"Not not bad"is not"bad"`
is four words), a colon after anything but `cat` or `author` is part of a word (`BERT:`), and a term with
no letter or digit (`-`, `&`, `--`) is punctuation, skipped. What is refused is what cannot be meant:
`cat:` with no category or one arXiv does not have, `author:` with no name, a topic of only exclusions.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import NoReturn

from digest.errors import InterestError
from digest.rank.categories import closest_category, known_category
from digest.rank.terms import is_stopword_only

MAX_TOPICS = 20
MAX_TOPIC_CHARS = 2000  # a pasted abstract
MAX_CHARS = 10_000

_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d", "\u201e": "\u201d"}
_PREFIX = re.compile(r"([A-Za-z][A-Za-z_]*):")
_CATEGORY = re.compile(r"[A-Za-z][A-Za-z-]*(\.[A-Za-z][A-Za-z-]*)?")
_PREFIXES = ("cat", "author")
_EXAMPLES = {"cat": "cat:cs.CL", "author": 'author:"Yann LeCun"'}
# `\s` is exactly what str.isspace() calls whitespace (tests/test_interests.py checks).
_SPECIAL = re.compile('[\n;"\u201c\u201d\u201e]')  # where a topic or a quote may start or end
_WORD_PART = re.compile(r"\S*")  # a word: up to whitespace, quotes and colons included
_SPACE = re.compile(r"\s*")
_QUOTE_CHARS = re.compile('["\u201c\u201d\u201e]')
_TERM_START = frozenset("-:;")  # besides whitespace, what may stand right before an opening quote
_TERM_END = frozenset(",.;:!?)]")  # besides whitespace, what may stand right after a closing quote
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


def _phrase_end(text: str, start: int) -> int | None:
    """Where the phrase opened by the quote at `start` closes, or None when that quote opens no phrase: it
    must start a term, and its closing quote (the first one, on the same line) must end one."""
    if start > 0 and not (text[start - 1].isspace() or text[start - 1] in _TERM_START):
        return None
    line_end = text.find("\n", start)
    end = text.find(_QUOTES[text[start]], start + 1, len(text) if line_end < 0 else line_end)
    if end < 0 or not (end + 1 == len(text) or text[end + 1].isspace() or text[end + 1] in _TERM_END):
        return None
    return end


def _segments(text: str) -> list[tuple[int, str]]:
    """Split into trimmed, non-empty topics with their offsets: at new lines, and at `;` outside phrases."""
    found: list[tuple[int, str]] = []
    padded = text + "\n"
    start = pos = 0
    # Only quotes, new lines and `;` change anything: the characters in between are skipped by the regex.
    while (special := _SPECIAL.search(padded, pos)) is not None:
        i, ch = special.start(), special.group()
        if ch in _QUOTES:
            end = _phrase_end(text, i)
            pos = i + 1 if end is None else end + 1
            continue
        raw = text[start:i]
        stripped = raw.strip()
        if stripped:
            found.append((start + len(raw) - len(raw.lstrip()), stripped))
        start = pos = i + 1
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
        if not self.terms:
            self._fail('no words to match; write a word, "phrase", cat: or author:')
        got = {key: tuple(dict.fromkeys(values)) for key, values in self.terms.items()}
        topic = Topic(self.text, **got)
        if not (topic.words or topic.phrases or topic.categories or topic.authors):
            self._fail('only exclusions; add a word, "phrase", cat: or author: to match')
        only_words = not (topic.phrases or topic.categories or topic.authors)
        if only_words and all(_stopword_only(word) for word in topic.words):
            self._fail("only common words; add a more specific word")
        return topic

    def _term(self) -> None:
        text, start = self.text, self.pos
        negated = text[start] == "-" and start + 1 < len(text) and not text[start + 1].isspace()
        self.pos += negated
        prefix = _PREFIX.match(text, self.pos)
        if prefix and self._is_prefix(prefix):
            self._prefixed(prefix, negated)
        elif self.text[self.pos] in _QUOTES and (end := _phrase_end(self.text, self.pos)) is not None:
            phrase = self._quoted(end)
            if phrase:
                self._add("exclude_phrases" if negated else "phrases", " ".join(phrase.lower().split()))
        else:
            # Quotes that open no phrase are ordinary characters, and split words as spaces would.
            for word in _QUOTE_CHARS.split(self._word()):
                if any(ch.isalnum() for ch in word):  # anything else is punctuation: "-", "&", "--"
                    self._add("exclude_words" if negated else "words", word.lower())

    def _is_prefix(self, prefix: re.Match[str]) -> bool:
        """`cat:` and `author:`, in any case, followed by their value; written alone in lower case they
        are an empty prefix (refused), while "CAT: Contrastive Adapter Training" is a pasted title."""
        name = prefix.group(1)
        if name.lower() not in _PREFIXES:
            return False
        followed = prefix.end() < len(self.text) and not self.text[prefix.end()].isspace()
        return followed or name in _PREFIXES

    def _prefixed(self, prefix: re.Match[str], negated: bool) -> None:
        name = prefix.group(1).lower()
        if negated:
            self._fail(f"exclusions apply to words and phrases, not {name}:", self.pos - 1)
        start = self.pos = prefix.end()
        quoted = start < len(self.text) and self.text[start] in _QUOTES
        end = _phrase_end(self.text, start) if quoted else None
        value = " ".join((self._quoted(end) if end is not None else self._word()).split())
        if not any(ch.isalnum() for ch in value):
            where = start - len(name) - 1
            self._fail(f"{name}: needs a value right after it, such as {_EXAMPLES[name]}", where)
        if name == "author":
            self._add("authors", value)
            return
        value = value.rstrip("".join(_TERM_END))  # "cat:cs.CL," in pasted text
        category = known_category(value) if _CATEGORY.fullmatch(value) else None
        if category is None:
            near = closest_category(value)
            hint = f"did you mean {near}?" if near else "such as cs.CL, math.AG or quant-ph"
            self._fail(f'"{value}" is not an arXiv category; {hint}', start)
        self._add("categories", value)

    def _quoted(self, end: int) -> str:
        """The phrase between the quote at `pos` and its closing quote at `end` (blank: none)."""
        inside = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return inside if inside.strip() else ""

    def _word(self) -> str:
        start = self.pos
        self.pos = _WORD_PART.match(self.text, start).end()  # type: ignore[union-attr]  # matches ""
        return self.text[start : self.pos]

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
