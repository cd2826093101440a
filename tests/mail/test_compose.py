"""Digest views: the per-run card cache and per-email tokens change no byte of what subscribers get.

Papers and subscribers here are transient ORM objects (no database): compose only reads their fields.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from conftest import FIXTURES, make_settings

from digest.mail.compose import Links, digest_view
from digest.mail.render import Renderer
from digest.records import DigestItem, Ranked
from digest.store.models import Interest, Paper, Subscriber
from digest.tokens import Purpose, TokenClaims, Tokens

DAY = date(2026, 6, 16)


def papers() -> dict[int, Paper]:
    entries = json.loads((FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_text("utf-8"))
    found = {}
    for number, entry in enumerate(entries[:12], start=1):
        paper = entry["paper"]
        found[number] = Paper(
            id=number,
            key=f"arxiv:{paper['id']}",
            arxiv_id=paper["id"],
            title=paper["title"],
            abstract=paper["summary"],
            authors=[a["name"] for a in paper["authors"]],
            categories=["cs.CL", "cs.LG"],
            url=f"https://arxiv.org/abs/{paper['id']}",
            pdf_url=f"https://arxiv.org/pdf/{paper['id']}",
            published=datetime.fromisoformat(paper["publishedAt"].replace("Z", "+00:00")),
            upvotes=paper["upvotes"],
            comments=entry["numComments"],
            github_repo="https://github.com/example-org/repo" if number % 2 else None,
            ai_summary=paper.get("ai_summary") if number % 3 else None,
            seen_in=["hf_daily"] if number % 2 else ["arxiv_rss"],
        )
    return found


def subscriber(number: int, topics: tuple[str, ...]) -> Subscriber:
    person = Subscriber(id=number, email=f"reader{number}@example.org", token_version=1 + number % 2)
    person.interests = [Interest(position=i, query=topic) for i, topic in enumerate(topics)]
    return person


def picks(ids: list[int], matched: tuple[str, ...]) -> list[Ranked]:
    return [Ranked(i, 1.0 / i, matched[0], matched, f'matched "{matched[0]}" in abstract') for i in ids]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_a_card_cache_shared_by_many_subscribers_renders_exactly_as_without_it(
    tmp_path: Path, renderer: Renderer
) -> None:
    settings = make_settings("sqlite:///unused.db", tmp_path)
    tokens, shown = Tokens("test-secret"), papers()
    cards: dict[int, DigestItem] = {}
    readers = [
        (subscriber(1, ("agents",)), [1, 2, 3, 4], ("agents",)),
        (subscriber(2, ("language models", "reasoning")), [3, 4, 5, 6, 7], ("language", "reasoning")),
        (subscriber(3, ("video",)), [7, 1, 12], ("video", "model")),
    ]
    for person, ids, matched in readers * 2:  # the second round is served wholly from the cache
        links = Links(settings, tokens, person)
        ranked = picks(ids, matched)
        plain = digest_view(settings, links, person, DAY, ranked, shown, new_count=40)
        cached = digest_view(settings, links, person, DAY, ranked, shown, new_count=40, cards=cards)
        assert cached == plain
        assert renderer.digest(cached) == renderer.digest(plain)
    assert set(cards) == {1, 2, 3, 4, 5, 6, 7, 12}
    assert all(card.more_url is None and card.explanation == "" for card in cards.values())


def test_every_feedback_link_of_an_email_carries_one_valid_token_of_its_reader(tmp_path: Path) -> None:
    settings = make_settings("sqlite:///unused.db", tmp_path)
    tokens = Tokens("test-secret")
    person = subscriber(7, ("agents",))
    view = digest_view(
        settings, Links(settings, tokens, person), person, DAY, picks([1, 2, 3], ("agents",)), papers(),
        new_count=3,
    )  # fmt: skip
    urls = [url for item in view.items for url in (item.more_url, item.less_url) if url]
    found = {url.split("/feedback/")[1].split("?")[0] for url in urls}
    assert len(urls) == 6 and len(found) == 1
    claims = tokens.read(Purpose.FEEDBACK, found.pop())
    assert (claims.subscriber_id, claims.version) == (7, person.token_version)
    assert [url.split("?")[1] for url in urls[:2]] == ["paper=1&vote=more", "paper=1&vote=less"]


def test_a_reused_serializer_still_keeps_purposes_apart(tmp_path: Path) -> None:
    tokens = Tokens("test-secret")
    made = tokens.make(Purpose.MANAGE, 5, 1)
    assert tokens.make(Purpose.MANAGE, 6, 1) != made  # the cached serializer signs each call afresh
    assert tokens.read(Purpose.MANAGE, made).subscriber_id == 5
    with pytest.raises(Exception, match="not valid"):
        tokens.read(Purpose.UNSUBSCRIBE, made)


def test_tokens_are_those_itsdangerous_makes_and_reads() -> None:
    # Tokens skip the serializer's zlib attempt; the bytes must stay the library's own, so that links
    # already sent keep opening and the library alone can read them.
    import hashlib

    from itsdangerous import URLSafeTimedSerializer

    tokens = Tokens("a-secret")
    for purpose in Purpose:
        library = URLSafeTimedSerializer(
            "a-secret", salt=f"digest.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
        )
        for subscriber_id in (1, 42, 987_654_321):
            made = tokens.make(purpose, subscriber_id, 7)
            # payload.timestamp.signature: the payload is the library's (the second may tick between the two)
            assert made.split(".")[0] == library.dumps([subscriber_id, 7]).split(".")[0]
            assert library.loads(made) == [subscriber_id, 7]
            assert tokens.read(purpose, library.dumps([subscriber_id, 7])).subscriber_id == subscriber_id


def test_feedback_links_equal_the_general_url_builder(tmp_path: Path) -> None:
    links = Links(make_settings("sqlite://", tmp_path), Tokens("k"), Subscriber(id=5, token_version=1))
    for paper_id in (1, 42, 10**9):
        for vote in ("more", "less"):
            assert links.feedback(paper_id, vote) == links.url(Purpose.FEEDBACK, paper=paper_id, vote=vote)


def test_tokens_equal_the_librarys_to_the_byte_at_any_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tokens copy a keyed HMAC instead of letting the library build a signer per token: with the clock
    # pinned, every token must be the one the library's own dumps makes, for any claims and moment.
    import hashlib
    import random

    from itsdangerous import URLSafeTimedSerializer
    from itsdangerous.timed import TimestampSigner

    rng = random.Random(5)
    for secret in ("a-secret", "ключ", "x" * 80):
        tokens = Tokens(secret)
        for purpose in Purpose:
            library = URLSafeTimedSerializer(
                secret, salt=f"digest.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
            )
            for _ in range(40):
                moment = rng.choice((1, 255, 256, 65536, 2**31 - 1, 2**32 + 5, rng.randrange(2**34)))
                monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self, at=moment: at)
                claims = [rng.choice((0, 1, -7, rng.randrange(10**12))), rng.randrange(1000)]
                made = tokens.make(purpose, *claims)
                assert made == library.dumps(claims)
                assert tokens.read(purpose, made) == TokenClaims(*claims)


def test_items_are_the_card_with_the_readers_fields_replaced(tmp_path: Path) -> None:
    # _item builds each DigestItem positionally; a field added or moved in DigestItem must fail here.
    from dataclasses import replace

    from digest.mail.compose import paper_card

    settings = make_settings("sqlite:///unused.db", tmp_path)
    shown, person = papers(), subscriber(3, ("agents",))
    links = Links(settings, Tokens("test-secret"), person)
    ranked = picks(sorted(shown), ("agents", "model"))
    view = digest_view(settings, links, person, DAY, ranked, shown, new_count=12, cards={})
    for item, pick in zip(view.items, ranked, strict=True):
        expected = replace(
            paper_card(shown[pick.paper_id]),
            explanation=pick.explanation,
            matched=pick.matched,
            more_url=links.feedback(pick.paper_id, "more"),
            less_url=links.feedback(pick.paper_id, "less"),
        )
        assert item == expected


def test_the_digest_link_equals_the_general_url_builder(tmp_path: Path) -> None:
    links = Links(make_settings("sqlite://", tmp_path), Tokens("k"), Subscriber(id=5, token_version=1))
    for day in (date(1, 1, 1), DAY, date(9999, 12, 31)):
        assert links.digest(day) == links.url(Purpose.DIGEST, date=day.isoformat())
