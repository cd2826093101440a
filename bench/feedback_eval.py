"""Does "more / less like this" feedback improve ranking? nDCG@10 before and after simulated votes.

    python bench/feedback_eval.py --papers PAPERS.jsonl --queries QUERIES.jsonl [--votes 3] [--json]

For each query, digest's default ranker (in-process through `digest.rank.rank`, `min_score` 0, vectors
cached beside PAPERS.jsonl) ranks every paper of the set. The subscriber then votes the way a reader
going down that list would: "more like this" on the first `--votes` relevant papers (grade > 0) and
"less like this" on the first `--votes` irrelevant ones (grade 0 or unjudged). The voted papers leave
the candidates (they are earlier days' papers now, given to the ranker as `feedback_papers`), and both
rankings, before and after the votes, are measured on the remaining papers: nDCG@10 with linear gains.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rank_eval import _renumbered, ndcg
from rank_quality import Query
from semantic_methods import Store

from digest.rank import Profile, RankSettings, parse_interests, rank
from digest.records import Candidate, Vectors

NOW = datetime(2030, 1, 1, tzinfo=UTC)  # no paper is fresh: no trending signal


def ranked(
    papers: Sequence[Candidate],
    profile: Profile,
    store: Store,
    settings: RankSettings,
    voted: dict[int, Candidate] | None = None,
) -> list[int]:
    vectors = Vectors(store.papers, store.topics)
    picks = rank(papers, [profile], settings, NOW, voted, vectors)[profile.subscriber_id]
    return [p.paper_id for p in picks]


def votes(order: Sequence[int], grades: dict[int, int], per_side: int) -> dict[int, int]:
    """The first `per_side` relevant papers of `order` voted +1, the first `per_side` others -1."""
    up = [pid for pid in order if grades.get(pid, 0) > 0][:per_side]
    down = [pid for pid in order if grades.get(pid, 0) <= 0][:per_side]
    return {**dict.fromkeys(up, 1), **dict.fromkeys(down, -1)}


def one_query(papers: list[Candidate], query: Query, store: Store, per_side: int) -> tuple[float, float]:
    store.topic_vectors(query.interests)
    grades = {int(pid): g for pid, g in query.relevant.items()}
    interests = parse_interests(query.interests)
    everything = RankSettings(max_papers=len(papers), min_score=0.0)
    given = votes(ranked(papers, Profile(0, interests), store, everything), grades, per_side)
    left = [p for p in papers if p.paper_id not in given]
    voted = {p.paper_id: p for p in papers if p.paper_id in given}
    settings = RankSettings(max_papers=10, min_score=0.0)
    remaining = {pid: g for pid, g in grades.items() if pid not in given}
    before = ndcg(ranked(left, Profile(0, interests), store, settings), remaining)
    after = ndcg(ranked(left, Profile(0, interests, feedback=given), store, settings, voted), remaining)
    return before, after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--votes", type=int, default=3, help="votes of each kind per query")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    papers, queries = _renumbered(args.papers, args.queries)
    store = Store()
    store.load_file(args.papers, papers)
    scores = np.array([one_query(papers, q, store, args.votes) for q in queries])
    before, after = (round(float(x), 4) for x in scores.mean(axis=0))
    if args.json:
        print(json.dumps({"queries": len(queries), "before": before, "after": after}))
    else:
        print(f"{len(queries)} queries, {args.votes} + {args.votes} votes each: nDCG@10 {before} -> {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
