"""Four-class arXiv query set: 800 single-label papers (cs.AI, cs.LG, cs.CR, stat.ML; 200 each).

    python bench/convert_arxiv_4classes.py \
        ../shared/fixtures/ranking_eval/arxiv-cs_800papers_4classes_title-summary-category.csv OUT_DIR

Writes OUT_DIR/papers.jsonl and OUT_DIR/queries.jsonl for bench/rank_eval.py. The interests were written
by hand from the category names, as a researcher would describe the field, before looking at the papers;
relevant = the papers with that label (grade 1).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

INTERESTS = {
    "cs.AI": "artificial intelligence; reasoning and planning; knowledge representation; intelligent agents",
    "cs.LG": "machine learning; deep learning; neural networks training; representation learning",
    "cs.CR": "computer security; cryptography; privacy; malware and intrusion detection",
    "stat.ML": "statistical learning theory; bayesian inference; kernel methods; probabilistic models",
}


def convert(source: Path, out: Path) -> tuple[int, int]:
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    relevant: dict[str, dict[str, int]] = {cat: {} for cat in INTERESTS}
    out.mkdir(parents=True, exist_ok=True)
    with (out / "papers.jsonl").open("w", encoding="utf-8") as papers:
        for i, row in enumerate(rows, start=1):
            pid = f"p{i}"
            text = {
                "id": pid,
                "title": " ".join(row["title"].split()),
                "abstract": " ".join(row["summary"].split()),
            }
            papers.write(json.dumps(text) + "\n")
            if row["category"] in relevant:
                relevant[row["category"]][pid] = 1
    with (out / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for cat, interests in INTERESTS.items():
            queries.write(json.dumps({"id": cat, "interests": interests, "relevant": relevant[cat]}) + "\n")
    return len(rows), len(INTERESTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path, help="arxiv-cs_800papers_4classes_title-summary-category.csv")
    parser.add_argument("out", type=Path, help="folder for papers.jsonl and queries.jsonl")
    args = parser.parse_args()
    try:
        papers, queries = convert(args.csv, args.out)
    except (OSError, KeyError) as exc:
        print(f"error: cannot convert {args.csv}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {papers} papers and {queries} queries to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
