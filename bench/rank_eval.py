"""Ranking quality as a subscriber meets it: nDCG@10 of digest's default ranker and of four baselines.

    python bench/rank_eval.py --papers PAPERS.jsonl --queries QUERIES.jsonl [--fast] [--json]

The protocol (bench/RANKING.md): every query ranks ALL the set's papers (a query's own `candidates` pool,
if the file has one, is ignored); nDCG@10 with linear gains (trec_eval's ndcg_cut_10: gain = grade,
ideal from all the query's judged grades).

`digest` goes through the product's contracts: a temporary folder with its own SQLite database, the
set's papers written as one Atom feed and ingested with `digest ingest --file F --kind feed`, each query
a confirmed subscriber (`digest subscribe EMAIL --interests Q --confirmed`), and the picks read from
`digest preview EMAIL --json` with `DIGEST_RANKING__MIN_SCORE=0`, all as `python -m digest`
subprocesses with the default settings otherwise. `--fast` ranks in-process instead, through
`digest.rank.rank` (what the preview calls) with the default settings, `min_score` 0 and the vectors
cached beside PAPERS.jsonl; `--check` runs both and says whether their picks agree.

Baselines, computed in-process on the same papers: `substring`, `tfidf-cosine`, `bm25-plain` (see
rank_baselines.py) and `minilm-whole` (the whole interests text embedded once with all-MiniLM-L6-v2,
papers ordered by cosine with their title + abstract vectors).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rank_baselines import bm25_plain, substring, tfidf_cosine
from rank_quality import Query, load_papers, load_queries
from semantic_methods import Store

from digest.rank import Profile, RankSettings, parse_interests, rank
from digest.records import Candidate, Vectors

K = 10
Ranking = list[int]  # paper ids (1-based row of PAPERS.jsonl), best first
Method = Callable[[Sequence[Candidate], str], Ranking]


def ndcg(ranked: Sequence[int], relevant: dict[int, int]) -> float:
    """trec_eval's ndcg_cut_10: linear gains, the ideal ranking from every judged grade."""
    gains = sum(relevant.get(pid, 0) / math.log2(i + 2) for i, pid in enumerate(ranked[:K]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:K]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return gains / best if best else 0.0


def baselines(store: Store) -> dict[str, Method]:
    def whole_text(papers: Sequence[Candidate], interests: str) -> Ranking:
        query = store.text_vector(interests)
        matrix = np.stack([store.papers[p.paper_id] for p in papers])
        order = np.argsort(-(matrix @ query), kind="stable")[:K]
        return [papers[i].paper_id for i in order]

    return {
        "substring": lambda papers, text: substring(papers, text, K),
        "tfidf-cosine": lambda papers, text: tfidf_cosine(papers, text, K),
        "bm25-plain": lambda papers, text: bm25_plain(papers, text, K),
        "minilm-whole": whole_text,
    }


def digest_fast(store: Store, now: datetime) -> Method:
    """digest's default ranker in-process, as the preview calls it, with `min_score` 0."""
    settings = RankSettings(max_papers=K, min_score=0.0)

    def ranked(papers: Sequence[Candidate], interests: str) -> Ranking:
        store.topic_vectors(interests)
        vectors = Vectors(store.papers, store.topics)
        profile = Profile(0, parse_interests(interests))
        return [pick.paper_id for pick in rank(papers, [profile], settings, now, vectors=vectors)[0]]

    return ranked


def atom_feed(papers: Sequence[Candidate], now: datetime) -> str:
    """The papers as one Atom feed; each entry's link names its row, which maps the picks back."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = [
        f"<entry><id>https://eval.invalid/paper/{p.paper_id}</id><title>{escape(p.title)}</title>"
        f'<link href="https://eval.invalid/paper/{p.paper_id}"/><published>{stamp}</published>'
        f"<updated>{stamp}</updated><summary>{escape(p.abstract)}</summary></entry>"
        for p in papers
    ]
    head = '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    return f"{head}<title>eval</title><id>urn:eval</id><updated>{stamp}</updated>{''.join(entries)}</feed>"


class Cli:
    """One digest installation in a temporary folder, driven through `python -m digest`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {
            **os.environ,
            "DIGEST_DATABASE__URL": f"sqlite:///{folder / 'digest.db'}",
            "DIGEST_RANKING__MIN_SCORE": "0",
        }
        self.env.pop("DIGEST_CONFIG", None)

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "digest", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"digest {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def rows(self) -> dict[int, int]:
        """Database paper id -> the paper's row in PAPERS.jsonl (from the link the feed gave it)."""
        with sqlite3.connect(self.folder / "digest.db") as db:
            found = db.execute("SELECT id, url FROM papers").fetchall()
        return {int(pid): int(url.rsplit("/", 1)[1]) for pid, url in found}


def digest_cli(papers: Sequence[Candidate], queries: Sequence[Query], now: datetime) -> list[Ranking]:
    with tempfile.TemporaryDirectory(prefix="rank-eval-") as tmp:
        cli = Cli(Path(tmp))
        feed = Path(tmp) / "papers.xml"
        feed.write_text(atom_feed(papers, now), encoding="utf-8")
        cli.run("db", "upgrade")
        cli.run("ingest", "--file", str(feed), "--kind", "feed")
        rows = cli.rows()
        found = []
        for number, query in enumerate(queries):
            email = f"q{number}@example.org"
            cli.run("subscribe", email, "--interests", query.interests, "--confirmed")
            shown = json.loads(cli.run("preview", email, "--json"))
            found.append([rows[p["paper_id"]] for p in shown["papers"] if not shown["trending_only"]])
    return found


def evaluate(
    papers: list[Candidate], queries: list[Query], found: dict[str, list[Ranking]]
) -> dict[str, float]:
    del papers
    return {
        name: round(float(np.mean([ndcg(r, _grades(q)) for r, q in zip(rankings, queries, strict=True)])), 4)
        for name, rankings in found.items()
    }


def _grades(query: Query) -> dict[int, int]:
    return {int(pid): grade for pid, grade in query.relevant.items()}


def _renumbered(
    papers_path: Path, queries_path: Path, limit: int | None = None
) -> tuple[list[Candidate], list[Query]]:
    """Papers (the first `limit`, if given) and queries with relevance keyed by paper row (1-based), as
    the methods return them."""
    papers, ids = load_papers(papers_path)
    if limit is not None:
        papers, ids = papers[:limit], {key: row for key, row in ids.items() if row <= limit}
    queries = [
        Query(q.id, q.interests, {str(ids[p]): g for p, g in q.relevant.items() if p in ids}, None)
        for q in load_queries(queries_path)
    ]
    return papers, queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--fast", action="store_true", help="rank digest in-process, not through the CLI")
    parser.add_argument("--check", action="store_true", help="run both digest paths and compare picks")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--limit", type=int, default=None, help="only the first N papers (a quick check)")
    args = parser.parse_args()
    papers, queries = _renumbered(args.papers, args.queries, args.limit)
    now = datetime.now(UTC)
    store = Store()
    store.load_file(args.papers, papers)
    found = {name: [m(papers, q.interests) for q in queries] for name, m in baselines(store).items()}
    if args.fast or args.check:
        fast = digest_fast(store, now)
        found["digest" if args.fast else "digest-fast"] = [fast(papers, q.interests) for q in queries]
    if not args.fast:
        found["digest"] = digest_cli(papers, queries, now)
    results = evaluate(papers, queries, found)
    if args.check:
        same = sum(a == b for a, b in zip(found["digest"], found["digest-fast"], strict=True))
        results["picks-identical-queries"] = same
    if args.json:
        print(json.dumps({"queries": len(queries), "papers": len(papers), "ndcg@10": results}))
        return 0
    print(f"{len(queries)} queries over {len(papers)} papers; nDCG@10, linear gains")
    for name, score in sorted(results.items(), key=lambda item: -item[1]):
        print(f"{name:<24}{score:>9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
