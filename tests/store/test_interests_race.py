"""Two saves of one subscriber's interests that read the same topics: the second replaces the first."""

from __future__ import annotations

import pytest
from conftest import NOW

from digest.context import Context
from digest.rank import parse_interests
from digest.store.db import transaction
from digest.store.subscribers import add_subscriber, interests_text, set_interests, subscriber_by_id


# PostgreSQL only: on SQLite `transaction()` takes the write lock at BEGIN, so the second session could
# not even read until the first committed (tests/web/test_load.py races two real requests on both).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_save_that_read_the_topics_before_another_save_committed_still_applies(ctx: Context) -> None:
    with transaction(ctx.sessions) as session:
        row = add_subscriber(session, "ada@example.org", parse_interests("graphs; diffusion; robotics"),
                             send_hour=7, timezone="UTC", now=NOW, confirmed=True)  # fmt: skip
        subscriber_id = row.id
    with ctx.sessions() as first, ctx.sessions() as second:
        mine, theirs = subscriber_by_id(first, subscriber_id), subscriber_by_id(second, subscriber_id)
        assert mine is not None and theirs is not None  # both read the three topics
        set_interests(mine, parse_interests("proteins; chemistry"))
        first.commit()
        set_interests(theirs, parse_interests("speech; vision; music"))
        second.commit()
    with transaction(ctx.sessions) as session:
        saved = subscriber_by_id(session, subscriber_id)
        assert saved is not None and interests_text(saved) == "speech\nvision\nmusic"
