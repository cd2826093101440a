"""Rank the day's candidate papers for every subscriber at once, and explain each pick.

    candidates -> PaperIndex (BM25 weights, once) -> per chunk of subscribers:
        topic rows x papers    = sparse query x index products       (relevance per topic)
        subscriber x papers    = max over each subscriber's topics   (best topic wins)
        final                  = relevance x feedback x bounded trending boost, pins first
        top k per subscriber   = argpartition, then explanations for the k picks only

How the pieces combine, and why:
- Relevance per topic is BM25 over the day's candidates, divided by the best score the topic could reach
  (so 0..1, comparable across topics of different lengths), times the fraction of the topic's words and
  phrases the paper contains (so "speculative decoding" prefers papers with both words). A topic of 3-5
  words also matches its acronym ("LLMs" for "large language models"), as well as its words would.
- With the hybrid ranker (the default; hybrid.py) each topic's relevance is fused with the embedding
  similarity of topic and paper, and a subscriber with several topics gets most of their relevance from
  the meaning of their interests as a whole; every relevance stays in 0..1. The lexical ranker (no
  vectors, or `method = "lexical"`) takes the best topic's relevance plus `other_topics_weight` times the
  sum of the other topics' instead (a paper that fits two interests beats one that fits only one).
- Relevance gates. A paper is eligible only if its relevance (after feedback) reaches `min_score`, or an
  `author:` topic pins it. Trending then multiplies by at most `1 + trending_boost`, so popularity reorders
  papers of similar relevance but can never bring in an irrelevant one.
- Every topic is served: each topic's best good matches are guaranteed a share of the digest (serve.py).
- `cat:` alone restricts: every paper in the category matches with the flat `category_score`, and trending
  orders them. `cat:` with words boosts: the words decide the match, and a paper in the category has its
  relevance odds multiplied by `category_boost` (r -> b r / (1 + (b - 1) r), still within 0..1).
  `cat:cs` covers every cs.* category.
- Exclusions remove the paper from that topic only (another topic of the same subscriber may still match).
- Feedback moves relevance by at most +/- `feedback_weight` (as a factor), by similarity with the papers
  voted on: in embedding space with the hybrid ranker, of BM25 vectors otherwise (feedback.py).
- `author:` pins the author's papers above everything else (exclusions of that topic still apply).
- Papers in `Profile.exclude` (already sent) are never ranked.
Pure: no database, network or clock; `now` is given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

import numpy as np

from digest.rank.explain import signals, squash, trending_raw
from digest.rank.hybrid import prepare
from digest.rank.index import StemCache, build_index
from digest.rank.interests import Topic
from digest.rank.profile import Profile, RankSettings
from digest.rank.query import TopicKeys, topic_keys, topic_table
from digest.rank.score import score_chunk
from digest.rank.state import RunState
from digest.records import Candidate, Ranked, Vectors

# Topic rows x papers per chunk. Scoring is sparse (about 5% of cells match), so this bounds memory at a
# few tens of MB per temporary while keeping per-chunk overhead small.
CHUNK_CELLS = 8_000_000


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
    stem_cache: StemCache | None = None,
) -> Iterator[tuple[int, list[Ranked]]]:
    """Like `rank`, yielding chunk by chunk so that memory stays bounded for many subscribers.

    `stem_cache` keeps the phrase-independent part of the index for the next call over the same papers."""
    papers = list({c.paper_id: c for c in reversed(candidates)}.values())[::-1]
    ids: dict[Topic, int] = {}
    keys: list[TopicKeys] = []
    # Every profile's topics as TopicTable rows, flat (profile i's are topics[offsets[i]:offsets[i + 1]]):
    # one array rather than a list per profile, which with 100,000 profiles is that many more objects for
    # the garbage collector to walk again and again.
    topics = np.array([_topic_id(t, ids, keys) for p in profiles for t in p.interests.topics], dtype=np.int64)
    counts = np.array([len(p.interests.topics) for p in profiles], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).tolist()
    phrases = {phrase for k in keys for phrase in k.phrases}
    weights = settings.title_weight, settings.keywords_weight
    stems = stem_cache.get(papers, *weights) if stem_cache is not None else None
    index = build_index(papers, phrases, *weights, stems)
    raw = trending_raw(papers, _trend_weights(settings), settings.freshness_half_life_days, now)
    semantic = prepare(papers, vectors) if vectors is not None and settings.method == "hybrid" else None
    state = RunState(index, topic_table(index, keys), settings, squash(raw), feedback_papers or {}, semantic)
    for start, end in _chunks(counts.tolist(), max(1, CHUNK_CELLS // max(1, len(papers)))):
        rows = topics[offsets[start] : offsets[end]]
        yield from score_chunk(state, profiles[start:end], rows, counts[start:end])


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
            # The figures themselves are shown beside the paper; the line only says why it is here.
            "trending today" if signals(papers[i]) else "trending: among the newest papers",
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


def _topic_id(topic: Topic, ids: dict[Topic, int], keys: list[TopicKeys]) -> int:
    """The topic's row in the run's TopicTable: subscribers who wrote the same topic share one."""
    found = ids.get(topic)
    if found is None:
        found = ids[topic] = len(keys)
        keys.append(topic_keys(topic))
    return found


def _chunks(counts: list[int], max_rows: int) -> Iterator[tuple[int, int]]:
    """Ranges of profiles, each with at most `max_rows` topics in all (one profile at least)."""
    start = rows = 0
    for i, count in enumerate(counts):
        if i > start and rows + count > max_rows:
            yield start, i
            start, rows = i, 0
        rows += count
    if start < len(counts):
        yield start, len(counts)
