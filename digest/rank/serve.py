"""Which of a chunk's eligible matches make each digest: not the papers already sent, and for a subscriber
with several topics, each topic's share first.

A subscriber with n topics has each topic's best max(1, k // 2n) papers guaranteed a place (a quota), when
they are good matches for that topic (relevance to it at least `topic_quota_score`), so that every topic
with matches is served and one strong word cannot take every place; the other half of the digest goes to
the best papers, whichever topic found them. Pinned papers (followed authors) come before both. The quota
decides which papers make the digest, not their order in it: the picks are then ordered best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from digest.rank.profile import Profile
from digest.rank.sparse import among, served_first, top_k
from digest.rank.state import RunState

# Added to pinned papers' order key so that they come before everything else.
PIN_OFFSET = 1e6
# Added to the selection key of the papers a topic is guaranteed: after pins, before the rest.
QUOTA_OFFSET = 1e3

Floats = NDArray[np.float32]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Eligible:
    """A chunk's eligible (subscriber x papers + paper) keys, with what choosing among them needs."""

    keys: Ints
    row: Ints  # the topic row that explains each key
    final: Floats  # its final score
    pinned: NDArray[np.bool_]
    to_topic: Floats  # its relevance to that topic
    topics: Ints  # how many topics its subscriber has


def choose(state: RunState, profiles: Sequence[Profile], found: Eligible) -> Ints:
    """Positions in `found` of each subscriber's picks, grouped by subscriber, best first."""
    settings, n_papers = state.settings, len(state.index.papers)
    fresh = np.flatnonzero(~_sent(state, profiles, found.keys, n_papers))
    keys, shown = found.keys[fresh], found.final[fresh] + found.pinned[fresh] * PIN_OFFSET
    k, topics = settings.max_papers, found.topics[fresh]
    quota = np.where(topics > 1, np.maximum(1, k // (2 * np.maximum(topics, 1))), 0)
    served = served_first(found.row[fresh], shown, quota) & (
        found.to_topic[fresh] >= settings.topic_quota_score
    )
    chosen = top_k(keys, shown + served * QUOTA_OFFSET, k, n_papers)
    ordered: Ints = fresh[chosen[np.lexsort((-shown[chosen], keys[chosen] // n_papers))]]
    return ordered


def _sent(state: RunState, profiles: Sequence[Profile], keys: Ints, n_papers: int) -> NDArray[np.bool_]:
    """Whether each (subscriber x papers + paper) key is a paper that subscriber was already sent."""
    sent = np.unique(
        np.array(
            [
                row * n_papers + state.position[paper_id]
                for row, profile in enumerate(profiles)
                if profile.exclude
                for paper_id in profile.exclude
                if paper_id in state.position
            ],
            dtype=np.int64,
        )
    )
    return among(keys, sent)
