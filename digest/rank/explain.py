"""Trending signals and the one-line explanation every ranked paper carries.

The line says why the paper is there: the words and phrases that matched and where, the category asked
for, "close in meaning to <topic>" when embeddings brought it, the topic, feedback, a followed author.
Popularity (upvotes, comments, stars) is not repeated in it: the email shows those figures on a line of
their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
from numpy.typing import NDArray

from digest.rank.index import PaperIndex
from digest.rank.query import TopicKeys
from digest.rank.terms import author_keys, category_keys
from digest.records import Candidate

# Raw trending at which a paper gets half of the maximum boost; about 100 upvotes on a fresh paper.
TRENDING_HALF = 5.0
# Feedback adjustments smaller than this are not worth a mention.
FEEDBACK_SHOWN = 0.05
# Entries per explanation cache (about 300 bytes each) before it is emptied and refilled.
CACHE_LIMIT = 300_000


def trending_raw(
    papers: Sequence[Candidate],
    weights: tuple[float, float, float, float],
    half_life_days: float,
    now: datetime,
) -> NDArray[np.float32]:
    """Weighted log-scaled upvotes, comments and stars plus freshness, per paper (0 = no signal)."""
    up_w, comments_w, stars_w, fresh_w = weights
    raw = np.zeros(len(papers), dtype=np.float32)
    for i, paper in enumerate(papers):
        score = up_w * math.log1p(paper.upvotes or 0) + comments_w * math.log1p(paper.comments or 0)
        score += stars_w * math.log1p(paper.github_stars or 0)
        if paper.published is not None:
            age_days = max(0.0, (now - paper.published).total_seconds() / 86400)
            score += fresh_w * 0.5 ** (age_days / half_life_days)
        raw[i] = score
    return raw


def squash(raw: NDArray[np.float32]) -> NDArray[np.float32]:
    """Map raw trending onto [0, 1) so the boost it gives is bounded."""
    return (raw / (raw + TRENDING_HALF)).astype(np.float32)


def signals(paper: Candidate) -> str:
    """The popularity figures worth showing, e.g. '212 upvotes, 40 GitHub stars'."""
    shown = [
        _count(paper.upvotes, "upvote"),
        _count(paper.github_stars, "GitHub star"),
        _count(paper.comments, "comment"),
    ]
    return ", ".join(s for s in shown if s)


def _count(value: int | None, noun: str) -> str:
    if not value:
        return ""
    return f"{value} {noun}" + ("" if value == 1 else "s")


class Explainer:
    """Builds explanations, caching what picks share.

    Most of a line depends only on the (topic, paper) pair: which words matched where, the category, the
    paper's popularity. With a million picks a run and thousands of subscribers sharing a topic, a line
    that depends on nothing else (no pin, no feedback worth a mention, no meaning share) is built once per
    pair and looked up for every pick (`lines`); the rest are assembled from the pair's cached pieces.
    Caches are keyed by topic id (the run's TopicTable row) and paper row, as (topic x papers + row), and
    are emptied when they reach `CACHE_LIMIT` entries, which bounds their memory for any number of picks.
    """

    def __init__(self, index: PaperIndex, topics: Sequence[TopicKeys]) -> None:
        self.index = index
        self.topics = topics
        self._columns: dict[int, tuple[tuple[str, str, int], ...]] = {}
        self._pieces: dict[int, _Pieces] = {}
        self._lines: dict[int, tuple[tuple[str, ...], str]] = {}

    def lines(
        self, picks: ToExplain, parts: Callable[[int], Mapping[str, float]]
    ) -> tuple[list[tuple[str, ...]], list[str]]:
        """(matched words and phrases as written, one-line explanation) for each pick; `parts(i)` gives
        pick i's score parts (asked only for picks that are not plain)."""
        n_papers = len(self.index.papers)
        pair = picks.topic * n_papers + picks.row
        # Lines that depend on the pick's own figures are built one by one below; key -1 finds nothing.
        keys = np.where(picks.plain, pair * 2 + picks.several, -1).tolist()
        if len(self._lines) > CACHE_LIMIT:
            self._lines.clear()
        for key in set(keys).difference(self._lines):
            if key >= 0:
                topic, row = divmod(key >> 1, n_papers)
                self._lines[key] = self._plain(topic, row, key & 1)
        found: list[tuple[tuple[str, ...], str] | None] = list(map(self._lines.get, keys))
        for at in np.flatnonzero(~picks.plain).tolist():
            topic, row = int(picks.topic[at]), int(picks.row[at])
            found[at] = self._line(topic, row, self._pair(topic, row), parts(at), bool(picks.several[at]))
        done = cast(list[tuple[tuple[str, ...], str]], found)  # every pick was filled in above
        return [f[0] for f in done], [f[1] for f in done]

    def explain(
        self, topic: int, row: int, parts: Mapping[str, float], several_topics: bool
    ) -> tuple[tuple[str, ...], str]:
        """(matched words and phrases as written, one-line explanation) for paper `row` under `topic`."""
        return self._line(topic, row, self._pair(topic, row), parts, several_topics)

    def _plain(self, topic: int, row: int, several_topics: int) -> tuple[tuple[str, ...], str]:
        """`_line` for a pick without pin, feedback worth a mention or meaning share: the common case,
        built for every (topic, paper) pair not seen before, so spelled out with no call it can spare."""
        matched, match, category = _computed(self, topic, row)
        line = [match] if match else []
        if category:
            line.append(f"in {category}")
        if several_topics:
            line.append(f"topic: {self.topics[topic].topic.text}")
        return matched, "; ".join(line)

    def _line(
        self, topic: int, row: int, pieces: _Pieces, parts: Mapping[str, float], several_topics: bool
    ) -> tuple[tuple[str, ...], str]:
        keys, paper = self.topics[topic], self.index.papers[row]
        matched, match, category = pieces
        line: list[str] = []
        if parts.get("pinned"):
            line.append(f"by {_followed_author(keys, paper)}, an author you follow")
        if match:
            line.append(match)
        # Picked for meaning: no word of the topic matched, so the embeddings brought it. (With the hybrid
        # ranker meaning is part of every relevance; when words matched, the line says which.) The line
        # then names the topic, so "topic:" would say it twice.
        close = parts.get("meaning", 0.0) > 0 and not match
        if close:
            line.append(f'close in meaning to "{keys.topic.text}"')
        if category:
            line.append(f"in {category}")
        if several_topics and not close:
            line.append(f"topic: {keys.topic.text}")
        feedback = parts.get("feedback", 0.0)
        if feedback >= FEEDBACK_SHOWN:
            line.append("like papers you wanted more of")
        elif feedback <= -FEEDBACK_SHOWN:
            line.append("like papers you wanted less of")
        return matched, "; ".join(line)

    def _pair(self, topic: int, row: int) -> _Pieces:
        key = topic * len(self.index.papers) + row
        found = self._pieces.get(key)
        if found is None:
            if len(self._pieces) > CACHE_LIMIT:
                self._pieces.clear()
            found = self._pieces[key] = _computed(self, topic, row)
        return found

    def matched(self, topic: int, row: int) -> tuple[tuple[str, ...], dict[str, list[str]]]:
        """The topic's words and phrases found in paper `row`, and where: {"title": [shown, ...], ...}."""
        index = self.index
        fields = index.fields[row]
        title, abstract, keywords = fields.title, fields.abstract, fields.keywords
        phrases, first_phrase, base = index.phrase_places, index.stem_columns, row * len(index.vocab)
        columns = self._columns.get(topic)
        if columns is None:
            columns = self._topic_columns(topic)
        matched: list[str] = []
        where: dict[str, list[str]] = {}
        for shown, display, col in columns:
            # As PaperIndex.where, spelled out: a paper's place of each topic column, for every new pair.
            if col >= first_phrase:
                place = phrases.get(base + col)
                if place is None:
                    continue
            elif col in title:
                place = "title"
            elif col in abstract:
                place = "abstract"
            elif col in keywords:
                place = "keywords"
            else:
                continue
            matched.append(shown)
            found = where.get(place)
            if found is None:
                where[place] = [display]
            else:
                found.append(display)
        return tuple(matched), where

    def _topic_columns(self, topic: int) -> tuple[tuple[str, str, int], ...]:
        found = self._columns.get(topic)
        if found is None:
            vocab = self.index.vocab
            # A tuple of tuples of strings and ints: the garbage collector stops tracking it after its first
            # pass, where a list would be walked in every full collection for the rest of the run.
            found = self._columns[topic] = tuple(
                (shown, f'"{shown}"' if " " in key else shown, vocab[key])
                for shown, key in self.topics[topic].match + self.topics[topic].acronym
                if key in vocab
            )
        return found


@dataclass(frozen=True, slots=True)
class ToExplain:
    """What `Explainer.lines` needs to know of a chunk's picks, one entry per pick."""

    topic: NDArray[np.int64]  # the best topic's id
    row: NDArray[np.int64]  # the paper's row in the index
    several: NDArray[np.int64]  # 1 when the subscriber has several topics (the line names the topic)
    plain: NDArray[np.bool_]  # the line depends on nothing but the three above


# (matched as written, "matched ... in ..." or "", the paper's category that the topic asked for or None)
_Pieces = tuple[tuple[str, ...], str, str | None]


def _computed(explainer: Explainer, topic: int, row: int) -> _Pieces:
    """The parts of a line that depend only on the (topic, paper) pair."""
    matched, where = explainer.matched(topic, row)
    if len(where) == 1:  # the common case, without the generator below
        ((place, terms),) = where.items()
        match = f"matched {', '.join(terms)} in {place}"
    elif where:
        match = "matched " + " and ".join(f"{', '.join(terms)} in {place}" for place, terms in where.items())
    else:
        match = ""
    keys = explainer.topics[topic]
    category = _matched_category(keys, explainer.index.papers[row]) if keys.categories else None
    return matched, match, category


def _followed_author(keys: TopicKeys, paper: Candidate) -> str:
    wanted = {key for _, key in keys.authors}
    for name in paper.authors:
        if wanted.intersection(author_keys(name)):
            return name
    return keys.authors[0][0] if keys.authors else "an author you follow"


def _matched_category(keys: TopicKeys, paper: Candidate) -> str | None:
    wanted = {key for _, key in keys.categories}
    for cat in paper.categories:
        if wanted.intersection(category_keys(cat)):
            return cat
    return None
