"""Compute the embeddings of the demo's bundled snapshot (digest/snapshot/), so that `digest demo` ranks by
meaning without embedding 1,500 papers first (minutes on one core).

    python bench/snapshot_vectors.py        # writes digest/snapshot/vectors.npz

The file holds the papers' keys (as the store keys them), their float32 vectors and the model's name and
file hashes; `digest demo` stores them for the snapshot's papers when the installed model is the same, and
embeds only what is missing otherwise. Run it again when the snapshot or the model changes.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from digest import sources
from digest.embedding.model import FILES_SHA256, MODEL_NAME, load, paper_text

SNAPSHOT = Path(__file__).resolve().parent.parent / "digest" / "snapshot"
KINDS = (("hf_daily.json", "hf_daily"), ("arxiv_rss.xml", "arxiv_rss"))


def main() -> None:
    papers = {}
    for name, kind in KINDS:
        for paper in sources.parse(kind, (SNAPSHOT / name).read_bytes()).papers:
            papers.setdefault(paper.key, paper)
    keys = sorted(papers)
    start = time.perf_counter()
    vectors = load().embed([paper_text(papers[k].title, papers[k].abstract) for k in keys])
    seconds = time.perf_counter() - start
    np.savez_compressed(
        SNAPSHOT / "vectors.npz",
        keys=np.array(keys),
        vectors=vectors.astype(np.float32),
        model=np.array(MODEL_NAME),
        files=np.array(sorted(FILES_SHA256.items())),
    )
    print(f"{len(keys)} papers embedded in {seconds:.1f} s -> {SNAPSHOT / 'vectors.npz'}")


if __name__ == "__main__":
    main()
