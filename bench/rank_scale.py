"""How long ranking takes, and how much memory, for many subscribers.

    python bench/rank_scale.py --subscribers 100000 --papers 2000

Papers are the 1,504 real entries of a recorded arXiv RSS day (parsed with feedparser directly), topped up
to --papers with papers stitched from real titles and abstract sentences. Each synthetic subscriber has 1-3
topics with 3-10 words and phrases in all, drawn from title vocabulary; some add cat:, -exclusions,
author:, already-sent papers and feedback. Prints the time to rank everyone (consuming `rank_iter`, as
the pipeline does) and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import resource
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

from digest.interests import parse_interests
from digest.rank import Profile, RankSettings, rank_iter
from digest.records import Candidate
from digest.terms import STOPWORDS, is_stopword_only

FIXTURE = Path(__file__).resolve().parent.parent / "tests/fixtures/arxiv-rss_all-archives_2024-11-28.xml"
NOW = datetime(2024, 11, 28, 5, tzinfo=UTC)


def real_papers() -> list[Candidate]:
    feed = feedparser.parse(str(FIXTURE))
    papers = []
    for i, entry in enumerate(feed.entries):
        abstract = entry.summary.split("Abstract:", 1)[-1].strip()
        authors = tuple(a.strip() for a in entry.get("author", "").split(",") if a.strip())
        cats = tuple(tag["term"] for tag in entry.get("tags", []))
        papers.append(
            Candidate(i + 1, entry.title, abstract, authors, cats, (), NOW - timedelta(hours=i % 48))
        )
    return papers


def all_papers(count: int, rng: random.Random) -> list[Candidate]:
    real = real_papers()
    sentences = [s for p in real for s in re.split(r"(?<=\.) ", p.abstract) if len(s) > 40]
    papers = real[:count]
    while len(papers) < count:
        base = rng.choice(real)
        abstract = " ".join(rng.sample(sentences, 6))
        papers.append(
            Candidate(
                len(papers) + 1,
                rng.choice(real).title,
                abstract,
                base.authors,
                base.categories,
                (),
                base.published,
                rng.choice([0, 0, 1, 3, 12, 80]),
                rng.choice([0, 2, 5]),
                None,
            )
        )
    return papers


def interests_text(rng: random.Random, words: list[str], bigrams: list[str], papers: list[Candidate]) -> str:
    terms = [
        rng.choice(bigrams) if rng.random() < 0.3 else rng.choice(words) for _ in range(rng.randint(3, 10))
    ]
    topics = [terms[i::3] for i in range(rng.randint(1, 3))]
    lines = []
    for topic in topics:
        line = " ".join(f'"{t}"' if " " in t else t for t in topic if t)
        if rng.random() < 0.2:
            line += " cat:" + rng.choice(rng.choice(papers).categories or ("cs.LG",))
        if rng.random() < 0.1:
            line += " -" + rng.choice(words)
        lines.append(line)
    if rng.random() < 0.05:
        author = rng.choice(rng.choice(papers).authors or ("Yann LeCun",)).replace('"', "")
        lines.append(f'author:"{author}"')
    return "\n".join(line for line in lines if line.strip())


def profiles(count: int, papers: list[Candidate], rng: random.Random) -> list[Profile]:
    vocab: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for paper in papers:
        toks = list(re.findall(r"[A-Za-z][A-Za-z-]+", paper.title.lower()))
        vocab.update(t for t in toks if t not in STOPWORDS and len(t) > 3)
        pairs.update(f"{a} {b}" for a, b in itertools.pairwise(toks) if STOPWORDS.isdisjoint((a, b)))
    words = [w for w, _ in vocab.most_common(3000) if not is_stopword_only(w)]
    bigrams = [p for p, n in pairs.most_common(1500) if n > 1]
    ids = [p.paper_id for p in papers]
    made = []
    for sid in range(count):
        sent = frozenset(rng.sample(ids, 3)) if rng.random() < 0.3 else frozenset()
        feedback = {rng.choice(ids): rng.choice([1, -1])} if rng.random() < 0.1 else {}
        made.append(
            Profile(sid, parse_interests(interests_text(rng, words, bigrams, papers)), sent, feedback)
        )
    return made


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    papers = all_papers(args.papers, rng)
    subs = profiles(args.subscribers, papers, rng)
    before = peak_mb()
    started = time.perf_counter()
    picked = empty = 0
    for _, ranked in rank_iter(papers, subs, RankSettings(), NOW):
        picked += len(ranked)
        empty += not ranked
    seconds = time.perf_counter() - started
    print(
        f"subscribers={args.subscribers} papers={len(papers)} ranked in {seconds:.2f} s; "
        f"{picked} picks ({picked / max(1, args.subscribers):.1f} each, {empty} with none); "
        f"peak RSS {peak_mb():.0f} MB (inputs alone {before:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
