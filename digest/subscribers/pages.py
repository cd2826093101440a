"""What a reader sees in the browser: their last digest again, and what interests would match today.

The ledger keeps which papers a digest carried (best first), not the reasons; the reasons are worked out
again from the subscriber's interests by the same ranker, so the page reads like the email did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from digest.context import Context
from digest.errors import InterestError
from digest.mail.compose import Links, digest_view
from digest.mail.render import web_link
from digest.rank import Interests, Profile, parse_interests, rank, trending
from digest.records import Candidate, Ranked
from digest.store.db import transaction
from digest.store.ledger import latest_sent, sent_on
from digest.store.papers import candidates_by_id, candidates_since, papers_by_id
from digest.store.subscribers import interests_text
from digest.subscribers.actions import subscriber_for_link
from digest.tokens import Purpose

PREVIEW_LIMIT = 5


@dataclass(frozen=True, slots=True)
class PreviewItem:
    title: str
    url: str | None  # None when the feed's link is not http(s): the link is dropped, the paper kept
    explanation: str


def latest_digest_html(ctx: Context, token: str, now: datetime, day: date | None = None) -> str | None:
    """The HTML of the digest sent for `day` (else the latest one sent), or None when none was sent."""
    with transaction(ctx.sessions) as session:
        subscriber = subscriber_for_link(ctx, session, Purpose.DIGEST, token)
        delivery = sent_on(session, subscriber.id, day) if day else latest_sent(session, subscriber.id)
        if delivery is None or not delivery.paper_ids:
            return None
        papers = papers_by_id(session, delivery.paper_ids)
        ids = [paper_id for paper_id in delivery.paper_ids if paper_id in papers]
        try:
            interests: Interests | None = parse_interests(interests_text(subscriber))
        except InterestError:
            interests = None
        picks = explained_picks(ctx, candidates_by_id(session, ids), ids, interests, now)
        links = Links(ctx.settings, ctx.tokens, subscriber)
        view = digest_view(
            ctx.settings, links, subscriber, delivery.digest_date, picks, papers, new_count=len(ids)
        )
        return ctx.renderer.digest(view).html


def explained_picks(
    ctx: Context, candidates: list[Candidate], ids: list[int], interests: Interests | None, now: datetime
) -> list[Ranked]:
    """One Ranked per paper, in the digest's order: why it matches, else why it was trending."""
    settings = ctx.rank_settings.model_copy(update={"max_papers": max(1, len(ids)), "min_score": 0.0})
    matched = rank(candidates, [Profile(0, interests)], settings, now).get(0, []) if interests else []
    why = {pick.paper_id: pick for pick in matched}
    for pick in trending(candidates, settings, now, len(candidates)):
        why.setdefault(pick.paper_id, pick)
    return [why[paper_id] for paper_id in ids if paper_id in why]


def preview_matches(ctx: Context, interests: Interests, now: datetime) -> list[PreviewItem]:
    """What these interests would have picked from the papers of the catch-up window (nothing stored)."""
    since = now - timedelta(days=ctx.settings.digest.catchup_days)
    with transaction(ctx.sessions) as session:
        candidates = candidates_since(session, since)
        settings = ctx.rank_settings.model_copy(update={"max_papers": PREVIEW_LIMIT})
        picks = rank(candidates, [Profile(0, interests)], settings, now).get(0, [])
        papers = papers_by_id(session, [pick.paper_id for pick in picks])
        return [
            PreviewItem(papers[p.paper_id].title, web_link(papers[p.paper_id].url), p.explanation)
            for p in picks
            if p.paper_id in papers
        ]
