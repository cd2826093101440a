"""Category query set: the 1,000 multi-label arXiv CS papers, one query per category.

    python bench/convert_arxiv_categories.py \
        ../shared/fixtures/ranking_eval/arxiv-cs_1000papers_multilabel_titles-summaries-terms.csv OUT_DIR

Writes OUT_DIR/papers.jsonl and OUT_DIR/queries.jsonl for bench/rank_quality.py. The interests below were
written by hand the way a researcher in each field would describe it to a digest service, before looking
at the test papers; they are not derived from the data. Relevant = the papers labelled with the category
(grade 1). Categories are left out of the papers file, since they are the labels being predicted.
The data is not redistributed with the project: give the path to your copy.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import sys
from pathlib import Path

# One topic per `;`, as a subscriber would type them into the interests box.
INTERESTS = {
    "cs.CV": (
        "computer vision; image segmentation; object detection; image classification; visual recognition"
    ),
    "cs.LG": "machine learning; deep learning; neural networks training; representation learning",
    "stat.ML": "statistical learning theory; bayesian inference; kernel methods; probabilistic models",
    "cs.AI": "artificial intelligence; reasoning and planning; knowledge representation; intelligent agents",
    "eess.IV": "medical image analysis; image processing; image restoration and denoising; MRI CT imaging",
    "cs.RO": "robotics; robot manipulation and grasping; autonomous navigation; robot learning",
    "cs.CL": "natural language processing; language models; machine translation; text classification",
    "cs.NE": "evolutionary algorithms; genetic programming; neuroevolution; spiking neural networks",
    "math.OC": "optimization; convex optimization; stochastic gradient descent convergence; optimal control",
    "cs.SI": "social networks; graph mining; community detection; information diffusion",
    "cs.GR": "computer graphics; 3D shape modeling; rendering; mesh generation",
    "eess.SP": "signal processing; time series signals; radar and wireless signal analysis",
    "cs.IR": "information retrieval; recommender systems; search ranking",
}


def convert(source: Path, out: Path) -> tuple[int, int]:
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    relevant: dict[str, dict[str, int]] = {cat: {} for cat in INTERESTS}
    out.mkdir(parents=True, exist_ok=True)
    with (out / "papers.jsonl").open("w", encoding="utf-8") as papers:
        for i, row in enumerate(rows, start=1):
            pid = f"p{i}"
            papers.write(json.dumps({"id": pid, "title": row["titles"], "abstract": row["summaries"]}) + "\n")
            for cat in ast.literal_eval(row["terms"]):
                if cat in relevant:
                    relevant[cat][pid] = 1
    with (out / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for cat, interests in INTERESTS.items():
            line = {"id": cat, "interests": interests, "relevant": relevant[cat]}
            queries.write(json.dumps(line) + "\n")
    return len(rows), len(INTERESTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path, help="arxiv-cs_1000papers_multilabel_titles-summaries-terms.csv")
    parser.add_argument("out", type=Path, help="folder for papers.jsonl and queries.jsonl")
    args = parser.parse_args()
    try:
        papers, queries = convert(args.csv, args.out)
    except (OSError, KeyError, ValueError, SyntaxError) as exc:
        print(f"error: cannot convert {args.csv}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {papers} papers and {queries} queries to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
