"""The baselines bench/rank_quality.py compares digest's ranker with; each returns the top k paper ids.

Deliberately simple, the way the tools they stand for work: no stemming, no phrases, no field weights.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from digest.records import Candidate

_WORD = re.compile(r"\w+")
_TERM = re.compile(r'"([^"]+)"|([^\s;"]+)')
K1, B = 1.2, 0.75


def _text(paper: Candidate) -> str:
    return f"{paper.title} {paper.abstract}".lower()


def _top(scores: Sequence[float], papers: Sequence[Candidate], k: int) -> list[int]:
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return [papers[i].paper_id for i in order if scores[i] > 0]


def substring(papers: Sequence[Candidate], interests: str, k: int) -> list[int]:
    """How many of the typed words and "phrases" occur as substrings of title + abstract."""
    terms = {(m.group(1) or m.group(2)).lower() for m in _TERM.finditer(interests)}
    return _top([sum(t in _text(p) for t in terms) for p in papers], papers, k)


def _grams(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def tfidf_cosine(papers: Sequence[Candidate], interests: str, k: int) -> list[int]:
    """Cosine of sublinear tf-idf vectors over words and word pairs, as arxiv-sanity does."""
    docs = [Counter(_grams(_text(p))) for p in papers]
    df = Counter(term for doc in docs for term in doc)
    n = len(docs)

    def vector(counts: Counter[str]) -> dict[str, float]:
        vec = {t: (1 + math.log(c)) * (math.log((1 + n) / (1 + df[t])) + 1) for t, c in counts.items()}
        size = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / size for t, v in vec.items()}

    query = vector(Counter(_grams(interests.replace('"', " "))))
    scores = []
    for doc in docs:
        vec = vector(doc)
        scores.append(sum(w * vec.get(t, 0.0) for t, w in query.items()))
    return _top(scores, papers, k)


def bm25_plain(papers: Sequence[Candidate], interests: str, k: int) -> list[int]:
    """Okapi BM25 over lower-cased words of title + abstract, without stemming, phrases or fields."""
    docs = [Counter(_WORD.findall(_text(p))) for p in papers]
    lengths = [sum(d.values()) for d in docs]
    avgdl = (sum(lengths) / len(docs)) if docs else 1.0
    df = Counter(term for doc in docs for term in doc)
    n = len(docs)
    query = set(_WORD.findall(interests.lower()))
    scores = []
    for doc, length in zip(docs, lengths, strict=True):
        score = 0.0
        for term in query & doc.keys():
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            tf = doc[term]
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avgdl))
        scores.append(score)
    return _top(scores, papers, k)
