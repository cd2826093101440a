"""Rank the day's candidate papers for every subscriber at once, and explain each pick.

    candidates -> PaperIndex (BM25 weights, once) -> per chunk of subscribers:
        topic rows x papers    = sparse query x index products       (relevance per topic)
        subscriber x papers    = max over each subscriber's topics   (best topic wins)
        final                  = relevance x feedback x bounded trending boost, pins first
        top k per subscriber   = argpartition, then explanations for the k picks only

How the pieces combine, and why:
- Relevance per topic is BM25 over the day's candidates, divided by the best score the topic could reach
  (so 0..1, comparable across topics of different lengths), times the fraction of the topic's words and
  phrases the paper contains (so "speculative decoding" prefers papers with both words).
- A subscriber's relevance is their best topic's, plus `other_topics_weight` times the sum of the other
  topics' (a paper that fits two of their interests beats one that fits only one, equally well).
- Relevance gates. A paper is eligible only if its relevance (after feedback) reaches `min_score`, or an
  `author:` topic pins it. Trending then multiplies by at most `1 + trending_boost`, so popularity reorders
  papers of similar relevance but can never bring in an irrelevant one.
- `cat:` alone restricts: every paper in the category matches with the flat `category_score`, and trending
  orders them. `cat:` with words boosts: the words decide the match, a paper in the category scores
  `category_boost` times more. `cat:cs` covers every cs.* category.
- Exclusions remove the paper from that topic only (another topic of the same subscriber may still match).
- Feedback is Rocchio-style: the papers a subscriber wanted more (less) of form a term vector; its cosine
  with a candidate moves relevance by at most +/- `feedback_weight` (as a factor), shown in the explanation.
- `author:` pins the author's papers above everything else (exclusions of that topic still apply).
- Papers in `Profile.exclude` (already sent) are never ranked.
Pure: no database, network or clock; `now` is given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from digest.interests import Interests, Topic
from digest.rank_explain import signals, squash, trending_raw
from digest.rank_hybrid import Vectors, prepare
from digest.rank_index import build_index
from digest.rank_query import TopicKeys, topic_keys
from digest.rank_score import Context, score_chunk
from digest.records import Candidate, Ranked

# Topic rows x papers per chunk. Scoring is sparse (about 5% of cells match), so this bounds memory at a
# few tens of MB per temporary while keeping per-chunk overhead small.
CHUNK_CELLS = 8_000_000


@dataclass(frozen=True, slots=True)
class RankSettings:
    max_papers: int = 10
    min_score: float = 0.3  # relevance is 0..1; one abstract mention of a one-word topic is about 0.45
    title_weight: float = 2.0  # a title occurrence counts this many abstract occurrences
    keywords_weight: float = 1.0
    upvotes_weight: float = 1.0  # trending = sum of weight x log(1 + count), plus freshness
    comments_weight: float = 0.25
    stars_weight: float = 0.5
    freshness_weight: float = 1.0  # 1.0 for a paper published now, halving every half-life
    freshness_half_life_days: float = 2.0
    trending_boost: float = 0.5  # the most popular paper scores at most 1.5 x its relevance
    category_boost: float = 1.5  # cat: combined with words
    category_score: float = 0.5  # relevance of a paper matched by cat: alone
    feedback_weight: float = 0.5  # more/less like this moves relevance by at most this factor
    other_topics_weight: float = 0.3  # share of the other topics' relevance added to the best topic's
    method: str = "lexical"  # "hybrid": fuse with embedding similarity when vectors are given
    semantic_weight: float = 0.7  # hybrid: share of a topic's relevance that comes from meaning
    semantic_floor: float = 0.2  # hybrid: cosine at or below which two texts are taken as unrelated


@dataclass(frozen=True, slots=True)
class Profile:
    subscriber_id: int
    interests: Interests
    exclude: frozenset[int] = frozenset()  # paper ids already sent: never ranked
    feedback: Mapping[int, int] = field(default_factory=dict)  # paper id -> +1 more / -1 less like this


def rank(
    candidates: Sequence[Candidate],
    profiles: Sequence[Profile],
    settings: RankSettings,
    now: datetime,
    feedback_papers: Mapping[int, Candidate] | None = None,
    vectors: Vectors | None = None,
) -> dict[int, list[Ranked]]:
    """subscriber_id -> that subscriber's papers, best first, at most `settings.max_papers`.

    `feedback_papers` holds the papers named in profiles' feedback that are not among `candidates`
    (earlier days' papers); feedback on a paper found in neither is ignored. `vectors` (stored embeddings)
    are used when `settings.method` is "hybrid"; without them ranking is lexical.
    """
    return dict(rank_iter(candidates, profiles, settings, now, feedback_papers, vectors))


def rank_iter(
    candidates: Sequence[Candidate],
    profiles: Sequence[Profile],
    settings: RankSettings,
    now: datetime,
    feedback_papers: Mapping[int, Candidate] | None = None,
    vectors: Vectors | None = None,
) -> Iterator[tuple[int, list[Ranked]]]:
    """Like `rank`, yielding chunk by chunk so that memory stays bounded for many subscribers."""
    papers = list({c.paper_id: c for c in reversed(candidates)}.values())[::-1]
    cache: dict[Topic, TopicKeys] = {}
    keys = [[_cached_keys(t, cache) for t in p.interests.topics] for p in profiles]
    phrases = {phrase for k in cache.values() for phrase in k.phrases}
    index = build_index(papers, phrases, settings.title_weight, settings.keywords_weight)
    raw = trending_raw(papers, _trend_weights(settings), settings.freshness_half_life_days, now)
    semantic = prepare(papers, vectors) if vectors is not None and settings.method == "hybrid" else None
    ctx = Context(index, settings, squash(raw), feedback_papers or {}, semantic)
    for chunk in _chunks(profiles, keys, max(1, CHUNK_CELLS // max(1, len(papers)))):
        yield from score_chunk(ctx, [profiles[i] for i in chunk], [keys[i] for i in chunk])


def trending(
    candidates: Sequence[Candidate],
    settings: RankSettings,
    now: datetime,
    limit: int,
    exclude: frozenset[int] = frozenset(),
) -> list[Ranked]:
    """The day's most popular papers, for "nothing matched today; here is what is trending"."""
    papers = [c for c in candidates if c.paper_id not in exclude]
    raw = trending_raw(papers, _trend_weights(settings), settings.freshness_half_life_days, now)
    boost = squash(raw)
    order = np.argsort(-raw, kind="stable")[: max(0, limit)]
    return [
        Ranked(
            papers[i].paper_id,
            float(boost[i]),
            "",
            (),
            "trending: " + (signals(papers[i]) or "among the newest papers"),
            {"trending": float(boost[i])},
        )
        for i in order
    ]


def _trend_weights(settings: RankSettings) -> tuple[float, float, float, float]:
    return (
        settings.upvotes_weight,
        settings.comments_weight,
        settings.stars_weight,
        settings.freshness_weight,
    )


def _cached_keys(topic: Topic, cache: dict[Topic, TopicKeys]) -> TopicKeys:
    found = cache.get(topic)
    if found is None:
        found = cache[topic] = topic_keys(topic)
    return found


def _chunks(profiles: Sequence[Profile], keys: list[list[TopicKeys]], max_rows: int) -> Iterator[list[int]]:
    """Profile positions grouped so that each group has at most `max_rows` topics (one profile at least)."""
    chunk: list[int] = []
    rows = 0
    for i in range(len(profiles)):
        if chunk and rows + len(keys[i]) > max_rows:
            yield chunk
            chunk, rows = [], 0
        chunk.append(i)
        rows += len(keys[i])
    if chunk:
        yield chunk
