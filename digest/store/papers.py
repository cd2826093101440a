"""Every query about papers, as functions taking a Session.

Subscribers and the delivery ledger live in store_subscribers.py and store_ledger.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.records import Candidate, PaperIn
from digest.store.models import Paper

# Fields a later fetch may refresh (signals grow; a summary or repo may appear).
_REFRESHED = ("upvotes", "comments", "github_repo", "github_stars", "project_page", "ai_summary")
# Fields kept from the first source that had them (the first full record is the better one, e.g. arXiv).
_FILLED = ("doi", "pdf_url", "published", "announce_type", "arxiv_id")
_CHUNK = 500  # bound the size of IN (...) lists


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


def upsert_papers(session: Session, papers: Sequence[PaperIn], now: datetime) -> UpsertCounts:
    """Store papers so that one paper is one row, merging what several sources say about it."""
    unique = {paper.key: paper for paper in papers}  # a feed listing a paper twice: the last wins
    existing = _papers_by_key(session, unique)
    new = updated = 0
    for key, incoming in unique.items():
        row = existing.get(key)
        if row is None:
            session.add(_new_row(incoming, now))
            new += 1
        elif _merge(row, incoming, now):
            updated += 1
    session.flush()
    return UpsertCounts(new=new, updated=updated, unchanged=len(unique) - new - updated)


def _papers_by_key(session: Session, papers: dict[str, PaperIn]) -> dict[str, Paper]:
    keys = list(papers)
    found: dict[str, Paper] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        found.update((row.key, row) for row in session.scalars(select(Paper).where(Paper.key.in_(chunk))))
    return found


def _new_row(paper: PaperIn, now: datetime) -> Paper:
    return Paper(
        key=paper.key,
        arxiv_id=paper.arxiv_id,
        doi=paper.doi,
        title=paper.title,
        abstract=paper.abstract,
        authors=list(paper.authors),
        categories=list(paper.categories),
        keywords=list(paper.keywords),
        url=paper.url,
        pdf_url=paper.pdf_url,
        published=paper.published,
        announce_type=paper.announce_type,
        upvotes=paper.upvotes,
        comments=paper.comments,
        github_repo=paper.github_repo,
        github_stars=paper.github_stars,
        project_page=paper.project_page,
        ai_summary=paper.ai_summary,
        seen_in=[paper.source_kind],
        first_seen_at=now,
        updated_at=now,
    )


def _merge(row: Paper, paper: PaperIn, now: datetime) -> bool:
    """Fold a later report of the same paper into its row; True when anything changed."""
    changes: dict[str, object] = {}
    for name in _REFRESHED:
        value = getattr(paper, name)
        if value is not None and value != getattr(row, name):
            changes[name] = value
    for name in _FILLED:
        if getattr(row, name) is None and getattr(paper, name) is not None:
            changes[name] = getattr(paper, name)
    for name in ("authors", "categories", "keywords"):
        if not getattr(row, name) and getattr(paper, name):
            changes[name] = list(getattr(paper, name))
    if len(paper.abstract) > len(row.abstract):
        changes["abstract"] = paper.abstract
    if paper.source_kind not in row.seen_in:
        changes["seen_in"] = [*row.seen_in, paper.source_kind]
    for name, value in changes.items():
        setattr(row, name, value)
    if changes:
        row.updated_at = now
    return bool(changes)


def candidates_since(session: Session, since: datetime) -> list[Candidate]:
    """Papers first seen at or after `since`, as the ranker wants them."""
    rows = session.scalars(select(Paper).where(Paper.first_seen_at >= since).order_by(Paper.id))
    return [to_candidate(row) for row in rows]


def to_candidate(row: Paper) -> Candidate:
    return Candidate(
        paper_id=row.id,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(row.authors),
        categories=tuple(row.categories),
        keywords=tuple(row.keywords),
        published=row.published,
        upvotes=row.upvotes,
        comments=row.comments,
        github_stars=row.github_stars,
    )


def arxiv_ids_missing_details(session: Session, limit: int) -> list[str]:
    """arXiv ids of papers that a source named without an abstract, newest first."""
    query = (
        select(Paper.arxiv_id)
        .where(Paper.arxiv_id.is_not(None), Paper.abstract == "")
        .order_by(Paper.first_seen_at.desc())
        .limit(limit)
    )
    return [arxiv_id for arxiv_id in session.scalars(query) if arxiv_id]


def candidates_by_id(session: Session, ids: Iterable[int]) -> list[Candidate]:
    return [to_candidate(row) for row in papers_by_id(session, ids).values()]


def papers_by_id(session: Session, ids: Iterable[int]) -> dict[int, Paper]:
    wanted = sorted(set(ids))
    found: dict[int, Paper] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update((row.id, row) for row in session.scalars(select(Paper).where(Paper.id.in_(chunk))))
    return found


def count_papers(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Paper)) or 0


def papers_first_seen(session: Session, start: datetime, end: datetime) -> list[Paper]:
    """The papers first stored in [start, end), oldest first."""
    query = select(Paper).where(Paper.first_seen_at >= start, Paper.first_seen_at < end)
    return list(session.scalars(query.order_by(Paper.first_seen_at, Paper.id)))


def first_seen_around(
    session: Session, start: datetime, end: datetime
) -> tuple[datetime | None, datetime | None]:
    """When the last paper before `start` and the first one from `end` on were first stored."""
    before = session.scalar(select(func.max(Paper.first_seen_at)).where(Paper.first_seen_at < start))
    after = session.scalar(select(func.min(Paper.first_seen_at)).where(Paper.first_seen_at >= end))
    return before, after


def newest_first_seen(session: Session) -> datetime | None:
    return session.scalar(select(func.max(Paper.first_seen_at)))


def papers_stamp(session: Session) -> tuple[datetime | None, int]:
    """The last change to any paper and how many there are: a page built from papers is still current
    while these are the same."""
    changed, count = session.execute(select(func.max(Paper.updated_at), func.count(Paper.id))).one()
    return changed, int(count)
