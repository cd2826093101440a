"""How long ranking takes, and how much memory, for many subscribers.

    python bench/rank_scale.py --subscribers 100000 --papers 2000

Papers are the 1,504 real entries of a recorded arXiv RSS day (parsed with feedparser directly), topped up
to --papers with papers stitched from real titles and abstract sentences. Each synthetic subscriber has 2-4
topics with 3-10 words and phrases in all, each topic taken from one paper title's words; some add cat:,
-exclusions, author:, already-sent papers and feedback. Prints the time to rank everyone (consuming
`rank_iter`, as the pipeline does) and the process's peak resident memory. With --semantic, the hybrid
ranker runs on stored vectors (see `semantic_vectors` for how they are sampled) and the embedding rates
are printed.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

from digest.rank import Profile, RankSettings, parse_interests, rank_iter
from digest.rank.terms import STOPWORDS, is_stopword_only
from digest.records import Candidate, Vectors

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


def interests_text(rng: random.Random, titles: list[list[str]], papers: list[Candidate]) -> str:
    """2-4 topics, 3-10 words and phrases in all, each topic coherent: its terms come from one title.

    A researcher's topic is a subject ("graph neural networks; protein folding"), not words drawn
    independently from the whole vocabulary, which would describe no paper at all.
    """
    budget = rng.randint(3, 10)
    lines = []
    while budget > 0 and len(lines) < 4:
        words = rng.choice(titles)
        size = min(budget, rng.randint(1, 3), len(words))
        start = rng.randrange(len(words) - size + 1)
        picked = words[start : start + size]
        line = f'"{" ".join(picked)}"' if size > 1 and rng.random() < 0.5 else " ".join(picked)
        budget -= size
        if rng.random() < 0.2:
            line += " cat:" + rng.choice(rng.choice(papers).categories or ("cs.LG",))
        if rng.random() < 0.1:
            line += " -" + rng.choice(rng.choice(titles))
        lines.append(line)
    if rng.random() < 0.05:
        author = rng.choice(rng.choice(papers).authors or ("Yann LeCun",)).replace('"', "")
        lines.append(f'author:"{author}"')
    return "\n".join(lines)


def profiles(count: int, papers: list[Candidate], rng: random.Random) -> list[Profile]:
    titles = []
    for paper in papers:
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]+", paper.title.lower()) if len(w) > 2]
        words = [w for w in words if w not in STOPWORDS and not is_stopword_only(w)]
        if words:
            titles.append(words)
    ids = [p.paper_id for p in papers]
    made = []
    for sid in range(count):
        sent = frozenset(rng.sample(ids, 3)) if rng.random() < 0.3 else frozenset()
        feedback = {rng.choice(ids): rng.choice([1, -1])} if rng.random() < 0.1 else {}
        made.append(Profile(sid, parse_interests(interests_text(rng, titles, papers)), sent, feedback))
    return made


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def semantic_vectors(
    papers: list[Candidate], subs: list[Profile], sample_papers: int, sample_topics: int, rng: random.Random
) -> Vectors:
    """Real MiniLM vectors for a sample of papers and topics, shared out to all of them; prints rates.

    Embedding every synthetic paper and topic would take hours on this CPU and measure nothing more:
    scoring time depends on how many (topic, paper) pairs are similar, which real vectors of real texts
    give. The synthetic papers are stitched from real ones anyway.
    """
    from digest.embedding import model as semantic

    embedder = semantic.load()
    texts = [semantic.paper_text(p.title, p.abstract) for p in papers[:sample_papers]]
    started = time.perf_counter()
    paper_vecs = embedder.embed(texts)
    per_paper = (time.perf_counter() - started) / len(texts)
    topics = sorted({t.text for p in subs for t in p.interests.topics})
    sample = rng.sample(topics, min(sample_topics, len(topics)))
    started = time.perf_counter()
    topic_vecs = embedder.embed(sample)
    per_topic = (time.perf_counter() - started) / len(sample)
    print(
        f"embedding: {per_paper * 1000:.0f} ms a paper (sample of {len(texts)}), {per_topic * 1000:.1f} ms a "
        f"topic (sample of {len(sample)}); extrapolated: {per_paper * len(papers):.0f} s for {len(papers)} "
        f"papers, {per_topic * 100_000:.0f} s for 100,000 topics"
    )
    return Vectors(
        {p.paper_id: paper_vecs[i % len(paper_vecs)] for i, p in enumerate(papers)},
        {text: topic_vecs[i % len(topic_vecs)] for i, text in enumerate(topics)},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--semantic", action="store_true", help="the hybrid ranker, with stored vectors")
    parser.add_argument("--sample-papers", type=int, default=200, help="--semantic: papers really embedded")
    parser.add_argument("--sample-topics", type=int, default=2000, help="--semantic: topics really embedded")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    papers = all_papers(args.papers, rng)
    subs = profiles(args.subscribers, papers, rng)
    settings, vectors = RankSettings(), None
    if args.semantic:
        vectors = semantic_vectors(papers, subs, args.sample_papers, args.sample_topics, rng)
        settings = RankSettings(method="hybrid")
    before = peak_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    picked = empty = 0
    for _, ranked in rank_iter(papers, subs, settings, NOW, None, vectors):
        picked += len(ranked)
        empty += not ranked
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        f"{settings.method}: subscribers={args.subscribers} papers={len(papers)} ranked in {seconds:.2f} s "
        f"({cpu:.2f} s CPU; on a busy machine CPU time is the closer figure); "
        f"{picked} picks ({picked / max(1, args.subscribers):.1f} each, {empty} with none); "
        f"peak RSS {peak_mb():.0f} MB (inputs alone {before:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
