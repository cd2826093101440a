from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from conftest import FIXTURES, NOW
from sqlalchemy import select

from digest import sources
from digest.context import Context
from digest.records import PaperIn
from digest.store.db import transaction
from digest.store.models import Paper
from digest.store.papers import candidates_since, count_papers, upsert_papers

PAPER = PaperIn(
    key="arxiv:2411.00001",
    arxiv_id="2411.00001",
    title="Speculative decoding at scale",
    abstract="We speed up decoding.",
    url="https://arxiv.org/abs/2411.00001",
    source_kind="arxiv_rss",
    authors=("Ada Lovelace",),
    categories=("cs.CL",),
)


def test_the_same_paper_twice_is_one_row(ctx: Context) -> None:
    with transaction(ctx.sessions) as session:
        first = upsert_papers(session, [PAPER], NOW)
        second = upsert_papers(session, [PAPER], NOW + timedelta(hours=1))
        assert (first.new, second.new, second.unchanged) == (1, 0, 1)
        assert count_papers(session) == 1


def test_a_later_source_merges_its_signals_into_the_row(ctx: Context) -> None:
    from_hf = replace(
        PAPER, source_kind="hf_daily", upvotes=12, abstract="", github_repo="https://github.com/x/y"
    )
    grown = replace(from_hf, upvotes=40)
    with transaction(ctx.sessions) as session:
        upsert_papers(session, [PAPER], NOW)
        assert upsert_papers(session, [from_hf], NOW).updated == 1
        assert upsert_papers(session, [grown], NOW).updated == 1
        row = session.scalars(select(Paper)).one()
        assert row.upvotes == 40
        assert row.abstract == "We speed up decoding."  # an empty abstract never replaces a real one
        assert row.github_repo == "https://github.com/x/y"
        assert row.seen_in == ["arxiv_rss", "hf_daily"]


def test_recorded_hf_and_arxiv_responses_ingested_twice_leave_one_row_per_paper(ctx: Context) -> None:
    hf = sources.parse("hf_daily", (FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_bytes())
    rss = sources.parse("arxiv_rss", (FIXTURES / "arxiv-rss_all-archives_2024-11-28.xml").read_bytes())
    # The same paper as arXiv would report it, for every HF paper: the key must make them one row.
    as_arxiv = [replace(p, source_kind="arxiv_api", upvotes=None) for p in hf.papers]
    with transaction(ctx.sessions) as session:
        for batch in (hf.papers, rss.papers, hf.papers, rss.papers, as_arxiv):
            upsert_papers(session, batch, NOW)
        keys = {p.key for p in (*hf.papers, *rss.papers)}
        assert count_papers(session) == len(keys)
        assert len(candidates_since(session, NOW)) == len(keys)
        assert candidates_since(session, NOW + timedelta(seconds=1)) == []
