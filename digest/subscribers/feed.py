"""A subscriber's private Atom feed of their picks (`/feed/{token}`): the papers of their last digests, each
entry with the reason it was picked, for readers who would rather follow a feed than read email.

The entries are the digests the ledger recorded as sent, so the feed and the email never disagree; the
reasons are worked out again as the digest page does (`pages.explained_picks`). Atom 1.0 (RFC 4287), built
with ElementTree so that every title and summary is escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from digest.context import Context
from digest.errors import InterestError
from digest.mail.render import summarise
from digest.rank import parse_interests
from digest.store.db import transaction
from digest.store.ledger import recent_sent
from digest.store.models import Delivery, Paper, Subscriber
from digest.store.papers import candidates_by_id, papers_by_id
from digest.store.subscribers import interests_text
from digest.subscribers.actions import subscriber_for_link
from digest.subscribers.pages import explained_picks
from digest.tokens import Purpose

ATOM = "http://www.w3.org/2005/Atom"
DIGESTS_SHOWN = 10
ET.register_namespace("", ATOM)


def atom_feed(ctx: Context, token: str, now: datetime) -> bytes:
    """The feed's bytes; TokenError (404) for a link that is not valid or was revoked."""
    with transaction(ctx.sessions) as session:
        subscriber = subscriber_for_link(ctx, session, Purpose.FEED, token)
        deliveries = recent_sent(session, subscriber.id, DIGESTS_SHOWN)
        papers = papers_by_id(session, [pid for d in deliveries for pid in d.paper_ids])
        try:
            interests = parse_interests(interests_text(subscriber))
        except InterestError:
            interests = None
        entries = []
        for delivery in deliveries:
            ids = [pid for pid in delivery.paper_ids if pid in papers]
            picks = explained_picks(ctx, candidates_by_id(session, ids), ids, interests, now)
            entries += [(delivery, papers[pick.paper_id], pick.explanation) for pick in picks]
        root = _feed(ctx, subscriber, deliveries, now)
        base = ctx.settings.web.base_url.rstrip("/")
        ET.SubElement(root, f"{{{ATOM}}}link", rel="self", href=f"{base}/feed/{token}")
        root.extend(_entry(ctx, subscriber, *entry) for entry in entries)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _tag(ctx: Context, *parts: object) -> str:
    """A tag URI (RFC 4151): stable ids that do not depend on the link's token."""
    host = urlsplit(ctx.settings.web.base_url).hostname or "localhost"
    return f"tag:{host},2026:" + ":".join(str(part) for part in parts)


def _when(delivery: Delivery) -> datetime:
    return delivery.sent_at or datetime.combine(delivery.digest_date, time(), UTC)


def _feed(ctx: Context, subscriber: Subscriber, deliveries: list[Delivery], now: datetime) -> ET.Element:
    root = ET.Element(f"{{{ATOM}}}feed")
    name = ctx.settings.mail.from_name
    _text(root, "title", f"{name}: papers picked for {subscriber.email}")
    _text(root, "id", _tag(ctx, "feed", subscriber.id))
    _text(root, "updated", (_when(deliveries[0]) if deliveries else now).isoformat())
    _text(ET.SubElement(root, f"{{{ATOM}}}author"), "name", name)
    ET.SubElement(root, f"{{{ATOM}}}link", rel="alternate", href=ctx.settings.web.base_url)
    return root


def _entry(ctx: Context, subscriber: Subscriber, delivery: Delivery, paper: Paper, why: str) -> ET.Element:
    entry = ET.Element(f"{{{ATOM}}}entry")
    _text(entry, "title", paper.title)
    _text(entry, "id", _tag(ctx, "pick", subscriber.id, delivery.digest_date.isoformat(), paper.id))
    _text(entry, "updated", _when(delivery).isoformat())
    ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=paper.url)
    for author in paper.authors[:20]:
        _text(ET.SubElement(entry, f"{{{ATOM}}}author"), "name", author)
    for category in paper.categories:
        ET.SubElement(entry, f"{{{ATOM}}}category", term=category)
    summary = f"Why: {why}\n\n" if why else ""
    _text(entry, "summary", summary + summarise(paper.abstract, paper.ai_summary, 600))
    return entry


def _text(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}{name}").text = value
