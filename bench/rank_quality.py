"""Ranking quality: nDCG@10 and P@10 of digest's ranker and of three baselines, in one run.

    python bench/rank_quality.py --papers PAPERS.jsonl --queries QUERIES.jsonl [--json]

Papers: one JSON object a line (`id`, `title`, `abstract`, optional `authors`, `categories`, `keywords`,
`published`, `upvotes`). Queries: one a line, `{"id", "interests", "relevant": {paper_id: grade}}`, with
an optional `candidates` list restricting that query to its own pool (CSFCube's protocol). Build the two
sets with bench/convert_arxiv_categories.py and bench/convert_csfcube.py.

Digest's ranker runs through `digest.rank.rank`, exactly as the pipeline calls it, with `min_score` 0:
the minimum relevance is production's cut against weak matches, and would otherwise leave fewer than
ten papers to judge. The baselines: substring keyword match (what mail filters and most feed readers do),
tf-idf cosine over words and word pairs (arxiv-sanity's method), and BM25 on lower-cased words without
stemming or phrases. With the `semantic` extra installed, `embedding` (cosine of all-MiniLM-L6-v2
vectors) and `hybrid` (digest's ranker with `method = "hybrid"`) are added.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rank_baselines import bm25_plain, substring, tfidf_cosine

from digest.rank import Profile, RankSettings, parse_interests, rank
from digest.records import Candidate

K = 10
NOW = datetime(2030, 1, 1, tzinfo=UTC)  # no paper is fresh: quality is measured without trending signals
RANKER = "digest"


@dataclass(frozen=True, slots=True)
class Query:
    id: str
    interests: str
    relevant: dict[str, int]
    candidates: tuple[str, ...] | None


# A method ranks `papers` for one interests text: the ids of its top K, best first.
Method = Callable[[Sequence[Candidate], str], list[int]]


def load_papers(path: Path) -> tuple[list[Candidate], dict[str, int]]:
    papers: list[Candidate] = []
    ids: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = str(row["id"])
            ids[key] = len(ids) + 1
            papers.append(_candidate(ids[key], row))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a paper ({exc})") from exc
    return papers, ids


def _candidate(paper_id: int, row: dict[str, object]) -> Candidate:
    published = row.get("published")
    when = datetime.fromisoformat(str(published)) if published else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Candidate(
        paper_id,
        str(row["title"]),
        str(row.get("abstract") or ""),
        tuple(str(a) for a in row.get("authors") or ()),  # type: ignore[attr-defined]
        tuple(str(c) for c in row.get("categories") or ()),  # type: ignore[attr-defined]
        tuple(str(k) for k in row.get("keywords") or ()),  # type: ignore[attr-defined]
        when,
        int(row["upvotes"]) if row.get("upvotes") is not None else None,  # type: ignore[call-overload]
    )


def load_queries(path: Path) -> list[Query]:
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            pool = row.get("candidates")
            queries.append(
                Query(
                    str(row["id"]),
                    str(row["interests"]),
                    {str(k): int(v) for k, v in row["relevant"].items()},
                    tuple(str(p) for p in pool) if pool is not None else None,
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a query ({exc})") from exc
    return queries


def digest_method(settings: RankSettings) -> Method:
    def ranked(papers: Sequence[Candidate], interests: str) -> list[int]:
        profile = Profile(0, parse_interests(interests))
        return [pick.paper_id for pick in rank(papers, [profile], settings, NOW)[0]]

    return ranked


def methods(papers_path: Path, papers: Sequence[Candidate]) -> dict[str, Method]:
    settings = RankSettings(max_papers=K, min_score=0.0)
    found: dict[str, Method] = {
        RANKER: digest_method(settings),
        "substring": lambda pool, text: substring(pool, text, K),
        "tfidf-cosine": lambda pool, text: tfidf_cosine(pool, text, K),
        "bm25-plain": lambda pool, text: bm25_plain(pool, text, K),
    }
    try:
        from semantic_methods import Store, embedding_methods
    except ImportError:
        print("semantic extra not installed: embedding and hybrid are left out", file=sys.stderr)
        return found
    store = Store()
    store.load_file(papers_path, papers)
    found.update(embedding_methods(settings, K, digest_method, store))
    return found


def ndcg(ranked: Sequence[str], relevant: dict[str, int]) -> float:
    gains = [(2 ** relevant.get(pid, 0) - 1) / math.log2(i + 2) for i, pid in enumerate(ranked[:K])]
    ideal = sorted(relevant.values(), reverse=True)[:K]
    best = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return sum(gains) / best if best else 0.0


def precision(ranked: Sequence[str], relevant: dict[str, int]) -> float:
    return sum(1 for pid in ranked[:K] if relevant.get(pid, 0) > 0) / K


def evaluate(
    papers: list[Candidate], ids: dict[str, int], queries: list[Query], found: dict[str, Method]
) -> dict[str, dict[str, float]]:
    names = {number: key for key, number in ids.items()}
    totals = {name: np.zeros(2) for name in found}
    for query in queries:
        pool = (
            papers if query.candidates is None else [papers[ids[p] - 1] for p in query.candidates if p in ids]
        )
        for name, method in found.items():
            ranked = [names[n] for n in method(pool, query.interests)]
            totals[name] += (ndcg(ranked, query.relevant), precision(ranked, query.relevant))
    count = max(1, len(queries))
    return {n: {"ndcg@10": round(t[0] / count, 4), "p@10": round(t[1] / count, 4)} for n, t in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    try:
        papers, ids = load_papers(args.papers)
        queries = load_queries(args.queries)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = evaluate(papers, ids, queries, methods(args.papers, papers))
    if args.json:
        print(json.dumps({"ranker": RANKER, "methods": results}))
        return 0
    print(f"{len(queries)} queries over {len(papers)} papers")
    print(f"{'method':<16}{'nDCG@10':>9}{'P@10':>8}")
    for name, scores in sorted(results.items(), key=lambda item: -item[1]["ndcg@10"]):
        print(f"{name:<16}{scores['ndcg@10']:>9.4f}{scores['p@10']:>8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
