"""Rank, render and build the messages of a batch of claimed ledger rows: the CPU half of sending.

A batch is ranked at once (one index over the day's candidates for all its subscribers), the papers of
all its picks are read in one query, and each message is built by one `MessageTemplate` per run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from digest.context import Context
from digest.delivery.report import DigestPicks, SendReport
from digest.delivery.windows import WeeklyWindow, digest_size, exclusions
from digest.embedding.vectors import vectors_for_ranking
from digest.errors import DeliveryError, InterestError
from digest.mail.compose import Links, digest_view
from digest.mail.headers import message_id
from digest.mail.mime_template import MessageTemplate
from digest.rank import Profile, parse_interests, rank_iter, trending
from digest.rank.index import StemCache
from digest.records import Candidate, DigestItem, Ranked, RenderedEmail, pickled_by_fields
from digest.schedule.cadence import is_weekly
from digest.store.ledger import Claimed, Result, sent_paper_ids
from digest.store.models import DeliveryStatus, Paper, Subscriber, SubscriberStatus
from digest.store.papers import candidates_by_id, candidates_since, papers_by_id
from digest.store.subscribers import feedback_for, interests_text, load_subscribers

log = logging.getLogger(__name__)
TRENDING_FALLBACK = 5


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Job:
    """One claimed row with its message built, ready for the transport."""

    delivery_id: int
    subscriber_id: int
    email: str
    digest_date: date
    attempts: int  # attempts before this one
    message_id: str
    message: bytes
    paper_ids: tuple[int, ...]  # the ranked papers, best first: what the ledger records
    # None once a helper process dropped them for a sender that keeps no outcomes: they cost ~50 us a
    # message to pickle there and unpickle in the sender, which needs only the ids.
    picks: DigestPicks | None


@dataclass
class RunCache:
    """What stays the same for every batch of one drain: candidates, papers, the message template."""

    template: MessageTemplate
    candidates: list[Candidate] | None = None
    stems: StemCache = field(default_factory=StemCache)  # the index's stem columns, for every batch
    papers: dict[int, Paper] = field(default_factory=dict)
    cards: dict[int, DigestItem] = field(default_factory=dict)  # see compose.digest_view
    weekly: WeeklyWindow | None = None  # loaded by the first batch with a weekly reader

    def candidates_for(self, ctx: Context, session: Session, now: datetime) -> list[Candidate]:
        if self.candidates is None:
            self.candidates = candidates_since(
                session, now - timedelta(days=ctx.settings.digest.catchup_days)
            )
        return self.candidates

    def weekly_for(self, ctx: Context, session: Session, now: datetime) -> WeeklyWindow:
        if self.weekly is None:
            self.weekly = WeeklyWindow.load(ctx, session, now)
        return self.weekly

    def warm(self, ctx: Context, session: Session, now: datetime) -> None:
        """Load what every batch of the run shares (the candidates, the index's stem columns) ahead of the
        first batch, through the path a batch takes, so that the cache is the one it will find."""
        candidates = self.candidates_for(ctx, session, now)
        for _ in rank_iter(candidates, [], ctx.rank_settings, now, stem_cache=self.stems):
            pass

    def papers_for(self, session: Session, ids: Iterable[int]) -> dict[int, Paper]:
        missing = set(ids) - self.papers.keys()
        if missing:
            self.papers.update(papers_by_id(session, missing))
        return self.papers


def pick_papers(
    ctx: Context,
    session: Session,
    subscribers: Sequence[Subscriber],
    now: datetime,
    candidates: list[Candidate] | None = None,
    stems: StemCache | None = None,
    weekly: WeeklyWindow | None = None,
) -> dict[int, DigestPicks]:
    """Rank the papers new in the catch-up window for every daily (and weekdays) subscriber at once, and
    those since each weekly subscriber's previous digest for the weekly ones (`weekly`, else loaded)."""
    weeklies = [s for s in subscribers if is_weekly(s.cadence)]
    others = [s for s in subscribers if not is_weekly(s.cadence)]
    picks: dict[int, DigestPicks] = {}
    if others or not weeklies:
        if candidates is None:
            candidates = candidates_since(session, now - timedelta(days=ctx.settings.digest.catchup_days))
        picks.update(_pick_group(ctx, session, others, now, candidates, stems, {}))
    if weeklies:
        window = weekly or WeeklyWindow.load(ctx, session, now)
        covered = window.covered(session, weeklies, now)
        picks.update(_pick_group(ctx, session, weeklies, now, window.candidates, window.stems, covered))
    return picks


def _pick_group(
    ctx: Context,
    session: Session,
    subscribers: Sequence[Subscriber],
    now: datetime,
    candidates: list[Candidate],
    stems: StemCache | None,
    covered: dict[int, frozenset[int]],
) -> dict[int, DigestPicks]:
    ids = [subscriber.id for subscriber in subscribers]
    lowest = min((c.paper_id for c in candidates), default=0)  # no sent paper below it can be ranked
    sent, votes = sent_paper_ids(session, ids, lowest), feedback_for(session, ids)
    profiles, sizes = [], {subscriber.id: digest_size(ctx, subscriber) for subscriber in subscribers}
    for subscriber in subscribers:
        try:
            interests = parse_interests(interests_text(subscriber))
        except InterestError as exc:
            log.error("subscriber %s has interests that no longer parse: %s", subscriber.id, exc)
            continue
        exclude = exclusions(sent, covered, subscriber.id)
        profiles.append(Profile(subscriber.id, interests, exclude, votes.get(subscriber.id, {})))
    # Ranked once at the batch's largest size: each reader's list is the top of it, cut to their own.
    settings = ctx.rank_settings
    largest = max(sizes.values(), default=settings.max_papers)
    if largest != settings.max_papers:
        settings = settings.model_copy(update={"max_papers": largest})
    voted = {paper_id for profile in profiles for paper_id in profile.feedback}
    feedback_papers = {c.paper_id: c for c in candidates_by_id(session, voted)}
    vectors = vectors_for_ranking(
        session,
        ctx.rank_settings.method,
        [c.paper_id for c in candidates],
        [p.subscriber_id for p in profiles],
    )
    ranked = dict(rank_iter(candidates, profiles, settings, now, feedback_papers, vectors, stems))
    return _choose(ctx, candidates, profiles, ranked, now, sizes)


def _choose(
    ctx: Context,
    candidates: list[Candidate],
    profiles: Sequence[Profile],
    ranked: dict[int, list[Ranked]],
    now: datetime,
    sizes: dict[int, int],
) -> dict[int, DigestPicks]:
    """Each subscriber's picks, or what is trending when nothing matched (unless no mail is wanted)."""
    on_skip = ctx.settings.digest.on_no_match == "skip"
    picks: dict[int, DigestPicks] = {}
    candidate_ids = {c.paper_id for c in candidates}
    by_popularity: list[Ranked] | None = None  # every candidate, most trending first; built once if needed
    for profile in profiles:
        fresh = (
            len(candidate_ids) - len(candidate_ids & profile.exclude)
            if profile.exclude
            else len(candidate_ids)
        )
        size = sizes[profile.subscriber_id]
        chosen = ranked.get(profile.subscriber_id, [])[:size]
        if chosen or on_skip:
            picks[profile.subscriber_id] = DigestPicks(tuple(chosen), fresh)
        else:
            if by_popularity is None:
                by_popularity = trending(candidates, ctx.rank_settings, now, len(candidates))
            # Trending is per paper, so dropping this subscriber's sent papers keeps the same order.
            fallback = [r for r in by_popularity if r.paper_id not in profile.exclude]
            fallback = fallback[: min(size, TRENDING_FALLBACK)]
            picks[profile.subscriber_id] = DigestPicks(tuple(fallback), fresh, trending_only=True)
    return picks


def render_with(
    ctx: Context,
    papers: dict[int, Paper],
    subscriber: Subscriber,
    day: date,
    picks: DigestPicks,
    cards: dict[int, DigestItem] | None = None,
) -> tuple[RenderedEmail, Links]:
    links = Links(ctx.settings, ctx.tokens, subscriber)
    view = digest_view(
        ctx.settings, links, subscriber, day, picks.ranked, papers,
        new_count=picks.new_count, trending_only=picks.trending_only, cards=cards,
        weekly=is_weekly(subscriber.cadence),
    )  # fmt: skip
    return ctx.renderer.digest(view), links


def prepare_batch(
    ctx: Context,
    session: Session,
    claimed: Sequence[Claimed],
    now: datetime,
    cache: RunCache,
    report: SendReport,
) -> tuple[list[Job], list[Result], dict[int, str]]:
    """Jobs to send, and results decided without sending (skipped, unparseable, unbuildable).

    Also returns each row's email, for the report.
    """
    with report.timed("rank"):
        subscribers = load_subscribers(session, [c.subscriber_id for c in claimed])
        active = [s for s in subscribers.values() if s.status == SubscriberStatus.ACTIVE]
        weekly = cache.weekly_for(ctx, session, now) if any(is_weekly(s.cadence) for s in active) else None
        candidates = cache.candidates_for(ctx, session, now)
        picks = pick_papers(ctx, session, active, now, candidates, cache.stems, weekly)
        papers = cache.papers_for(session, {r.paper_id for p in picks.values() for r in p.ranked})
    jobs: list[Job] = []
    results: list[Result] = []
    emails = {
        c.delivery_id: subscribers[c.subscriber_id].email for c in claimed if c.subscriber_id in subscribers
    }
    for row in claimed:
        subscriber = subscribers.get(row.subscriber_id)
        chosen = picks.get(row.subscriber_id)
        if subscriber is None or subscriber.status != SubscriberStatus.ACTIVE:
            results.append(_skip(row, "the subscriber is no longer active"))
        elif chosen is None:
            results.append(_fail(row, "interests do not parse"))
        elif not chosen.ranked:
            results.append(_skip(row, "nothing matched"))
        else:
            try:
                jobs.append(
                    build_job(ctx, cache.template, papers, subscriber, row, chosen, now, report, cache.cards)
                )
            except DeliveryError as exc:
                results.append(_fail(row, str(exc)))
    return jobs, results, emails


def build_job(
    ctx: Context,
    template: MessageTemplate,
    papers: dict[int, Paper],
    subscriber: Subscriber,
    row: Claimed,
    picks: DigestPicks,
    now: datetime,
    report: SendReport | None = None,
    cards: dict[int, DigestItem] | None = None,
) -> Job:
    timing = report or SendReport(keep=False)
    with timing.timed("render"):
        rendered, links = render_with(ctx, papers, subscriber, row.digest_date, picks, cards)
    with timing.timed("mime"):
        msg_id = message_id(subscriber.id, row.digest_date, template.sender.domain)
        message = template.build(
            rendered, to=subscriber.email, message_id=msg_id, unsubscribe_url=links.unsubscribe, when=now
        )
    return Job(
        row.delivery_id,
        subscriber.id,
        subscriber.email,
        row.digest_date,
        row.attempts,
        msg_id,
        message,
        tuple(p.paper_id for p in picks.ranked),
        picks,
    )


def _skip(row: Claimed, why: str) -> Result:
    return Result(row.delivery_id, row.subscriber_id, DeliveryStatus.SKIPPED, why)


def _fail(row: Claimed, why: str) -> Result:
    return Result(row.delivery_id, row.subscriber_id, DeliveryStatus.FAILED, why)


def render_digest(
    ctx: Context, session: Session, subscriber: Subscriber, day: date, picks: DigestPicks
) -> tuple[RenderedEmail, Links]:
    papers = papers_by_id(session, [pick.paper_id for pick in picks.ranked])
    return render_with(ctx, papers, subscriber, day, picks)
