"""A fresh benchmark database: real papers, and N subscribers written in bulk with realistic interests.

Interests: 1-3 topics of 3-10 words and phrases each, drawn from the titles of the real papers (so they
match the way readers' interests do); time zones spread over the world, each subscriber's send hour set to
the current hour in their zone, so that everyone is due now.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

from digest import sources
from digest.context import Context
from digest.rank.terms import STOPWORDS
from digest.records import PaperIn
from digest.store.db import transaction
from digest.store.models import Interest, Subscriber, SubscriberStatus
from digest.store.papers import upsert_papers

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DEFAULT_PAPERS = (
    ("arxiv-rss_all-archives_2024-11-28.xml", "arxiv_rss"),
    ("hf-daily-papers_2026-06_30papers.json", "hf_daily"),
)
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "America/Los_Angeles", "Asia/Kolkata",
         "Australia/Sydney", "Europe/London", "America/Sao_Paulo", "Africa/Lagos")  # fmt: skip
_WORD = re.compile(r"[a-z][a-z0-9-]{3,}")


def load_papers(ctx: Context, count: int | None, now: datetime, seed: int = 1) -> list[PaperIn]:
    """The recorded fixtures (1,534 papers), cut to `count` or topped up with papers stitched from them."""
    papers: list[PaperIn] = []
    for name, kind in DEFAULT_PAPERS:
        papers.extend(sources.parse(kind, (FIXTURES / name).read_bytes()).papers)
    rng = random.Random(seed)
    base = list(papers)
    while count is not None and len(papers) < count:
        a, b = rng.sample(base, 2)
        n = len(papers)
        title = " ".join(
            a.title.split()[: len(a.title.split()) // 2] + b.title.split()[len(b.title.split()) // 2 :]
        )
        abstract = a.abstract[: len(a.abstract) // 2] + b.abstract[len(b.abstract) // 2 :]
        url = f"https://bench.invalid/{n}"
        papers.append(
            replace(a, key=f"url:{url}", arxiv_id=None, doi=None, title=title, abstract=abstract, url=url)
        )
    papers = papers[:count] if count is not None else papers
    with transaction(ctx.sessions) as session:
        upsert_papers(session, papers, now)
    return papers


def interests_for(rng: random.Random, titles: list[list[str]]) -> str:
    topics = []
    for _ in range(rng.randint(1, 3)):
        words = rng.choice(titles)
        size = min(len(words), rng.randint(3, 10))
        start = rng.randint(0, len(words) - size)
        chosen = words[start : start + size]
        if len(chosen) >= 4 and rng.random() < 0.4:  # one quoted phrase in some topics
            chosen = [f'"{chosen[0]} {chosen[1]}"', *chosen[2:]]
        topics.append(" ".join(chosen))
    return "; ".join(topics)


def add_subscribers(ctx: Context, count: int, papers: list[PaperIn], now: datetime, seed: int = 2) -> None:
    rng = random.Random(seed)
    titles = [
        ws
        for p in papers
        if len(ws := [w for w in _WORD.findall(p.title.lower()) if w not in STOPWORDS]) >= 3
    ]
    people, topics = [], []
    for i in range(1, count + 1):
        zone = ZONES[i % len(ZONES)]
        local = now.astimezone(ZoneInfo(zone))
        due = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        people.append({"id": i, "email": f"reader{i}@example.org", "status": SubscriberStatus.ACTIVE,
                       "send_hour": local.hour, "timezone": zone, "token_version": 1, "bounce_count": 0,
                       "created_at": now, "confirmed_at": now, "next_send_at": due})  # fmt: skip
        for position, topic in enumerate(interests_for(rng, titles).split("; ")):
            topics.append({"subscriber_id": i, "position": position, "query": topic})
    with transaction(ctx.sessions) as session:
        for start in range(0, count, 5000):
            session.execute(insert(Subscriber), people[start : start + 5000])
        for start in range(0, len(topics), 5000):
            session.execute(insert(Interest), topics[start : start + 5000])
    settle(ctx)


def settle(ctx: Context) -> None:
    """On PostgreSQL, VACUUM ANALYZE now, as autovacuum would within a minute of a bulk load: the measured
    phase then neither runs on plans made for empty tables nor pays for that autovacuum (whose CPU the
    server's figure counts)."""
    if ctx.engine.dialect.name != "postgresql":
        return
    with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
