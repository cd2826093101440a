"""What every entry point needs, built once from the settings: no import-time globals."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from digest import __version__
from digest.config import Settings
from digest.mail.render import Renderer
from digest.rank.profile import RankSettings
from digest.store.db import make_engine, make_sessions
from digest.tokens import Tokens


@dataclass
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def open(cls, settings: Settings) -> Context:
        engine = make_engine(settings.database.url)
        return cls(settings=settings, engine=engine, sessions=make_sessions(engine))

    def close(self) -> None:
        self.engine.dispose()

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer()

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.settings.web.secret_key)

    @property
    def user_agent(self) -> str:
        # arXiv and Hugging Face ask automated clients to say who they are and how to reach them.
        return f"digest/{__version__} (+{self.settings.web.base_url}; mailto:{self.settings.fetch.contact})"

    @cached_property
    def rank_settings(self) -> RankSettings:
        return RankSettings.from_settings(self.settings)
