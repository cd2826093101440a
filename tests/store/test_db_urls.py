"""Database URLs in messages never show a password, whichever form carries it."""

from __future__ import annotations

import pytest

from digest.errors import DigestError
from digest.store.db import make_engine, require_current_schema


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://digest:s3cret@127.0.0.1:9/digest",
        "postgresql://digest@127.0.0.1:9/digest?password=s3cret&sslmode=disable",
    ],
)
def test_an_unreachable_database_is_named_without_its_password(url: str) -> None:
    engine = make_engine(url)
    with pytest.raises(DigestError) as raised:  # ConfigError is a DigestError
        require_current_schema(engine)
    engine.dispose()
    assert "s3cret" not in str(raised.value)
    assert "127.0.0.1:9/digest" in str(raised.value) and "***" in str(raised.value)
