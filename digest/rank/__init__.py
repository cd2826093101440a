"""Ranking: which of the day's papers each subscriber gets, and why. Pure: no database, network or clock.

interests (the query language) -> topic keys -> sparse products over the day's PaperIndex
-> relevance per topic, feedback, trending -> top k per subscriber, each pick explained
"""

from digest.rank.index import StemCache
from digest.rank.interests import Interests, Topic, parse_interests
from digest.rank.profile import Profile, RankSettings
from digest.rank.ranker import rank, rank_iter, trending

__all__ = [
    "Interests",
    "Profile",
    "RankSettings",
    "StemCache",
    "Topic",
    "parse_interests",
    "rank",
    "rank_iter",
    "trending",
]
