"""CSFCube query set: the dev fold's queries, each ranking its own judged pool.

    python bench/convert_csfcube.py ../shared/fixtures/ranking_eval/csfcube OUT_DIR [--fold fold1_dev]

Reads evaluation_splits.json (renamed csfcube_evaluation_splits.json in the fixtures) and the readable
annotation files (csfcube_readable_PID-FACET-adju.txt), and writes OUT_DIR/papers.jsonl (every judged
candidate once) and OUT_DIR/queries.jsonl: the query paper's title as the interests, the graded pool
(0-3) as relevance, and `candidates` listing the pool so that each query ranks its own pool, as CSFCube
is meant to be evaluated. The data (CC BY-NC 4.0) is not redistributed with the project.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

_SEPARATOR = re.compile(r"^=+\s*$", re.MULTILINE)
_LABEL = re.compile(r"^\w+_label: ", re.MULTILINE)


def _fields(block: str) -> dict[str, str]:
    found: dict[str, str] = {}
    pid = re.search(r"^paper_id: (\S+?);", block, re.MULTILINE)
    grade = re.search(r"^adju relevance: .*\(([+-]?\d)\)", block, re.MULTILINE)
    title = re.search(r"^TITLE: (.*)$", block, re.MULTILINE)
    abstract = re.search(r"^ABSTRACT: (.*)", block, re.MULTILINE | re.DOTALL)
    if pid:
        found["id"] = pid.group(1)
    if grade:
        found["grade"] = grade.group(1)
    if title:
        found["title"] = title.group(1).strip()
    if abstract:
        found["abstract"] = " ".join(_LABEL.sub("", abstract.group(1)).split())
    return found


def as_interests(title: str) -> str:
    """A title as plain interests: quotes, `;`, `word:` prefixes and leading `-` are syntax there."""
    text = re.sub(r'["\u201c\u201d\u201e;:]', " ", title)
    return " ".join(word.lstrip("-") for word in text.split() if word.lstrip("-"))


def read_annotation(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(query paper, judged candidates) of one readable annotation file."""
    blocks = [b for b in _SEPARATOR.split(path.read_text(encoding="utf-8")) if b.strip()]
    parsed = [_fields(b) for b in blocks]
    if not parsed or "title" not in parsed[0]:
        raise ValueError(f"{path.name}: no query paper found")
    return parsed[0], [p for p in parsed[1:] if "id" in p and "grade" in p]


def convert(folder: Path, out: Path, fold: str) -> tuple[int, int]:
    splits = json.loads((folder / "csfcube_evaluation_splits.json").read_text(encoding="utf-8"))
    # "all" repeats the facets' lists; dict.fromkeys keeps each query once, in order.
    wanted = list(dict.fromkeys(name for facet in splits.values() for name in facet.get(fold, [])))
    papers: dict[str, dict[str, str]] = {}
    queries = []
    for name in wanted:
        pid, facet = name.split("_", 1)
        path = folder / f"csfcube_readable_{pid}-{facet}-adju.txt"
        if not path.exists():
            print(f"warning: {path.name} is missing; query {name} skipped", file=sys.stderr)
            continue
        query, pool = read_annotation(path)
        for paper in pool:
            papers.setdefault(paper["id"], {k: paper[k] for k in ("id", "title", "abstract")})
        relevant = {p["id"]: int(p["grade"]) for p in pool if int(p["grade"]) > 0}
        # The annotation files list each pool best first; sorting by id keeps that order (which would
        # decide ties) out of the evaluation.
        candidates = sorted(p["id"] for p in pool)
        queries.append(
            {
                "id": name,
                "interests": as_interests(query["title"]),
                "relevant": relevant,
                "candidates": candidates,
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    with (out / "papers.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(papers[key]) + "\n" for key in sorted(papers))
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(q) + "\n" for q in queries)
    return len(papers), len(queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the csfcube fixtures folder")
    parser.add_argument("out", type=Path, help="folder for papers.jsonl and queries.jsonl")
    parser.add_argument("--fold", default="fold1_dev")
    args = parser.parse_args()
    try:
        papers, queries = convert(args.folder, args.out, args.fold)
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: cannot convert {args.folder}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {papers} papers and {queries} queries to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
