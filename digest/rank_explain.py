"""Trending signals and the one-line explanation every ranked paper carries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from digest.rank_index import Fields, PaperIndex
from digest.rank_query import TopicKeys
from digest.records import Candidate
from digest.terms import author_keys, category_keys

# Raw trending at which a paper gets half of the maximum boost; about 100 upvotes on a fresh paper.
TRENDING_HALF = 5.0
# Feedback adjustments smaller than this are not worth a mention.
FEEDBACK_SHOWN = 0.05
# A paper is said to be "close in meaning" when meaning gives at least this share of its relevance.
MEANING_SHOWN = 0.5


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
    """Builds explanations, caching what picks share: per paper its signals, per topic its columns.

    Most of the cost of explaining is in work that does not depend on the pick (the paper's popularity
    line, the topic's vocabulary lookups); with a million picks a run, doing it once matters.
    """

    def __init__(self, index: PaperIndex) -> None:
        self.index = index
        self._signals: dict[int, str] = {}
        self._places: dict[int, dict[int, str]] = {}
        self._columns: dict[int, tuple[TopicKeys, list[tuple[str, str, int]]]] = {}

    def explain(
        self, keys: TopicKeys, row: int, parts: dict[str, float], several_topics: bool
    ) -> tuple[tuple[str, ...], str]:
        """(matched words and phrases as written, one-line explanation) for paper `row` under `keys`."""
        return self._build(keys, row, parts, several_topics)

    def _build(
        self, keys: TopicKeys, row: int, parts: dict[str, float], several_topics: bool
    ) -> tuple[tuple[str, ...], str]:
        paper = self.index.papers[row]
        pieces: list[str] = []
        if parts.get("pinned"):
            pieces.append(f"by {_followed_author(keys, paper)}, an author you follow")
        matched, where = self._matched(keys, row)
        if len(where) == 1:  # the common case, without the generator below
            ((place, terms),) = where.items()
            pieces.append(f"matched {', '.join(terms)} in {place}")
        elif where:
            pieces.append(
                "matched " + " and ".join(f"{', '.join(terms)} in {place}" for place, terms in where.items())
            )
        # Picked for meaning: the embedding share is most of the topic's relevance (or no word matched).
        meaning = parts.get("meaning", 0.0)
        if meaning > 0 and (not where or meaning >= MEANING_SHOWN * parts.get("relevance", 0.0)):
            pieces.append(f'close in meaning to "{keys.topic.text}"')
        category = _matched_category(keys, paper) if keys.categories else None
        if category:
            pieces.append(f"in {category}")
        if several_topics:
            pieces.append(f"topic: {keys.topic.text}")
        feedback = parts.get("feedback", 0.0)
        if feedback >= FEEDBACK_SHOWN:
            pieces.append("like papers you wanted more of")
        elif feedback <= -FEEDBACK_SHOWN:
            pieces.append("like papers you wanted less of")
        popularity = self._signals.get(row)
        if popularity is None:
            popularity = self._signals[row] = signals(paper)
        if popularity:
            pieces.append(popularity)
        return matched, "; ".join(pieces)

    def _matched(self, keys: TopicKeys, row: int) -> tuple[tuple[str, ...], dict[str, list[str]]]:
        places = self._places.get(row)
        if places is None:
            places = self._places[row] = _places(self.index.fields[row])
        matched: list[str] = []
        where: dict[str, list[str]] = {}
        for shown, display, col in self._topic_columns(keys):
            place = places.get(col)
            if place:
                matched.append(shown)
                where.setdefault(place, []).append(display)
        return tuple(matched), where

    def _topic_columns(self, keys: TopicKeys) -> list[tuple[str, str, int]]:
        # Keyed by identity: rank shares one TopicKeys object among every subscriber with that topic. The
        # object is kept in the value so that its id cannot be reused while the cache lives.
        found = self._columns.get(id(keys))
        if found is None:
            vocab = self.index.vocab
            columns = [
                (shown, f'"{shown}"' if " " in key else shown, vocab[key])
                for shown, key in keys.match
                if key in vocab
            ]
            found = self._columns[id(keys)] = (keys, columns)
        return found[1]


def explain(
    keys: TopicKeys, index: PaperIndex, row: int, parts: dict[str, float], several_topics: bool
) -> tuple[tuple[str, ...], str]:
    """(matched words and phrases as written, one-line explanation) for paper `row` under topic `keys`."""
    return Explainer(index).explain(keys, row, parts, several_topics)


def _places(fields: Fields) -> dict[int, str]:
    """Column -> where it occurs in one paper, title before abstract before keywords (as Fields.where)."""
    places = dict.fromkeys(fields.keywords, "keywords")
    places.update(dict.fromkeys(fields.abstract, "abstract"))
    places.update(dict.fromkeys(fields.title, "title"))
    return places


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
