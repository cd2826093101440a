"""What every entry point needs, built once from the settings: no import-time globals."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from digest import __version__
from digest.config import Settings, check_secret_key
from digest.errors import ConfigError
from digest.mail.render import Renderer
from digest.rank.profile import RankSettings
from digest.store.db import make_engine, make_sessions
from digest.store.secrets import generated_key
from digest.tokens import Tokens

log = logging.getLogger(__name__)


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
    def secret_key(self) -> str:
        """The key that signs every link: the configured one, else the installation's generated one, so
        every command (send, serve, preview, demo...) of one installation signs and checks alike."""
        configured = self.settings.web.secret_key
        if configured is not None:
            try:  # settings built without validation (model_copy) must not slip a placeholder through
                return check_secret_key(configured)
            except ValueError as exc:
                raise ConfigError(f"bad setting web.secret_key: {exc}") from None
        key, created = generated_key(self.engine)
        if created:
            log.warning(
                "web.secret_key is not set: generated a random key and stored it in the database "
                "(%s, table instance_secrets); every command using this database signs links with it",
                self.engine.url.render_as_string(hide_password=True),
            )
        return key

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.secret_key)

    @property
    def user_agent(self) -> str:
        # arXiv and Hugging Face ask automated clients to say who they are and how to reach them.
        return f"digest/{__version__} (+{self.settings.web.base_url}; mailto:{self.settings.fetch.contact})"

    @cached_property
    def rank_settings(self) -> RankSettings:
        return RankSettings.from_settings(self.settings)
