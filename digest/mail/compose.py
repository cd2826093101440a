"""Turn ranked papers and database rows into the plain view the templates render."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from urllib.parse import urlencode

from digest.config import Settings
from digest.mail.render import shorten_authors, summarise
from digest.records import DigestItem, DigestView, Ranked
from digest.store.models import Paper, Subscriber
from digest.tokens import Purpose, Tokens


class Links:
    """The signed links of one subscriber's emails."""

    def __init__(self, settings: Settings, tokens: Tokens, subscriber: Subscriber) -> None:
        self._base = settings.web.base_url.rstrip("/")
        self._tokens = tokens
        self._subscriber = subscriber
        self._made: dict[Purpose, str] = {}

    def token(self, purpose: Purpose) -> str:
        """One token per purpose for the whole email: the ten feedback links of a digest differ only in
        their query, and a timed token signed a few milliseconds later would carry the same claims."""
        made = self._made.get(purpose)
        if made is None:
            made = self._made[purpose] = self._tokens.make(
                purpose, self._subscriber.id, self._subscriber.token_version
            )
        return made

    def url(self, purpose: Purpose, **query: str | int) -> str:
        token = self.token(purpose)
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self._base}/{purpose}/{token}{suffix}"

    def feedback(self, paper_id: int, vote: str) -> str:
        """`url(FEEDBACK, paper=paper_id, vote=vote)` without urlencode: twenty of these make every digest,
        and an int and a vote word ("more", "less") need no quoting."""
        return f"{self._base}/{Purpose.FEEDBACK}/{self.token(Purpose.FEEDBACK)}?paper={paper_id}&vote={vote}"

    def digest(self, day: date) -> str:
        """`url(DIGEST, date=day.isoformat())` without urlencode: an ISO date needs no quoting."""
        return f"{self._base}/{Purpose.DIGEST}/{self.token(Purpose.DIGEST)}?date={day.isoformat()}"

    @property
    def unsubscribe(self) -> str:
        return self.url(Purpose.UNSUBSCRIBE)


def digest_view(
    settings: Settings,
    links: Links,
    subscriber: Subscriber,
    digest_date: date,
    ranked: Sequence[Ranked],
    papers: Mapping[int, Paper],
    *,
    new_count: int,
    trending_only: bool = False,
    cards: dict[int, DigestItem] | None = None,
    weekly: bool = False,
) -> DigestView:
    """`cards` (optional, reused across subscribers) keeps each paper's subscriber-independent fields, so
    shortening authors and cutting summaries happen once per paper per run instead of once per digest."""
    shown = cards if cards is not None else {}
    return DigestView(
        email=subscriber.email,
        digest_date=digest_date,
        items=tuple(_item(papers[pick.paper_id], pick, links, shown) for pick in ranked),
        new_count=new_count,
        topics=tuple(interest.query for interest in subscriber.interests),
        manage_url=links.url(Purpose.MANAGE),
        unsubscribe_url=links.unsubscribe,
        web_url=links.digest(digest_date),
        feed_url=links.url(Purpose.FEED),
        postal_address=settings.mail.postal_address,
        trending_only=trending_only,
        weekly=weekly,
    )


def _item(paper: Paper, pick: Ranked, links: Links, cards: dict[int, DigestItem]) -> DigestItem:
    # pick.paper_id is the paper's id (papers are looked up by it), read without the ORM's attribute
    # machinery; and the item is built field by field, as dataclasses.replace(card, explanation=...,
    # matched=..., more_url=..., less_url=...) would build it, without replace's walk over the fields.
    # tests/test_compose.py checks the order against replace.
    paper_id = pick.paper_id
    card = cards.get(paper_id)
    if card is None:
        card = cards[paper_id] = paper_card(paper)
    return DigestItem(
        card.title, card.url, card.authors, card.published, card.categories, card.summary,
        pick.explanation, pick.matched, card.pdf_url, card.code_url, card.hf_url, card.upvotes,
        card.comments, card.github_stars, links.feedback(paper_id, "more"), links.feedback(paper_id, "less"),
    )  # fmt: skip


def paper_card(paper: Paper) -> DigestItem:
    """What every subscriber's digest shows of this paper, without their explanation and links."""
    hf_url = f"https://huggingface.co/papers/{paper.arxiv_id}" if "hf_daily" in paper.seen_in else None
    return DigestItem(
        title=paper.title,
        url=paper.url,
        authors=shorten_authors(paper.authors),
        published=paper.published.date() if paper.published else None,
        categories=tuple(paper.categories),
        summary=summarise(paper.abstract, paper.ai_summary),
        explanation="",
        matched=(),
        pdf_url=paper.pdf_url,
        code_url=paper.github_repo,
        hf_url=hf_url,
        upvotes=paper.upvotes,
        comments=paper.comments,
        github_stars=paper.github_stars,
    )
