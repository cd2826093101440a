"""Turn ranked papers and database rows into the plain view the templates render."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from urllib.parse import urlencode

from digest.config import Settings
from digest.models import Paper, Subscriber
from digest.records import DigestItem, DigestView, Ranked
from digest.render import shorten_authors, summarise
from digest.tokens import Purpose, Tokens


class Links:
    """The signed links of one subscriber's emails."""

    def __init__(self, settings: Settings, tokens: Tokens, subscriber: Subscriber) -> None:
        self._base = settings.web.base_url.rstrip("/")
        self._tokens = tokens
        self._subscriber = subscriber

    def url(self, purpose: Purpose, **query: str | int) -> str:
        token = self._tokens.make(purpose, self._subscriber.id, self._subscriber.token_version)
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self._base}/{purpose}/{token}{suffix}"

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
) -> DigestView:
    return DigestView(
        email=subscriber.email,
        digest_date=digest_date,
        items=tuple(_item(papers[pick.paper_id], pick, links) for pick in ranked),
        new_count=new_count,
        topics=tuple(interest.query for interest in subscriber.interests),
        manage_url=links.url(Purpose.MANAGE),
        unsubscribe_url=links.unsubscribe,
        web_url=links.url(Purpose.DIGEST, date=digest_date.isoformat()),
        postal_address=settings.mail.postal_address,
        trending_only=trending_only,
    )


def _item(paper: Paper, pick: Ranked, links: Links) -> DigestItem:
    hf_url = f"https://huggingface.co/papers/{paper.arxiv_id}" if "hf_daily" in paper.seen_in else None
    return DigestItem(
        title=paper.title,
        url=paper.url,
        authors=shorten_authors(paper.authors),
        published=paper.published.date() if paper.published else None,
        categories=tuple(paper.categories),
        summary=summarise(paper.abstract, paper.ai_summary),
        explanation=pick.explanation,
        matched=pick.matched,
        pdf_url=paper.pdf_url,
        code_url=paper.github_repo,
        hf_url=hf_url,
        upvotes=paper.upvotes,
        comments=paper.comments,
        github_stars=paper.github_stars,
        more_url=links.url(Purpose.FEEDBACK, paper=paper.id, vote="more"),
        less_url=links.url(Purpose.FEEDBACK, paper=paper.id, vote="less"),
    )
