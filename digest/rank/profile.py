"""What ranking is given: each subscriber's profile, and the settings it ranks with.

`RankSettings` is the `[ranking]` section with the digest's size (`[digest] max_papers`) beside it: one model,
so every default is written once, in `digest.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import Field

from digest.config import DigestSettings, RankingSettings, Settings
from digest.rank.interests import Interests


class RankSettings(RankingSettings):
    max_papers: int = Field(default=DigestSettings.model_fields["max_papers"].default, ge=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> RankSettings:
        return cls(max_papers=settings.digest.max_papers, **settings.ranking.model_dump())


@dataclass(frozen=True, slots=True)
class Profile:
    subscriber_id: int
    interests: Interests
    exclude: frozenset[int] = frozenset()  # paper ids already sent: never ranked
    feedback: Mapping[int, int] = field(default_factory=dict)  # paper id -> +1 more / -1 less like this
