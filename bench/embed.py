"""Papers embedded per second on one core, for each installed backend of digest.embedding.model.

Each backend runs in its own process, pinned to CPU 0 with one BLAS / onnxruntime thread, over the
recorded arXiv RSS day (tests/fixtures, the first --papers papers, text = paper_text(title, abstract)):
load time (reading the weights, and for onnxruntime building the graph and the session), papers/s of
embed() (tokenising included) by the clock and per CPU-second of the process (the two differ when
other work shares CPU 0), and the process's peak memory. Then the least cosine between the
backends' vectors of the same paper.

    python bench/embed.py [--papers 500] [--json]

The float32 ceiling on one core: a paper of 220 tokens is about 5.1 GFLOP (6 layers of 384x1152, 384x384,
384x1536 and 1536x384 products per token, and attention), and numpy's sgemm runs at 87 GFLOP/s on one core
of this EPYC (AVX-512), so no float32 pass exceeds about 17 papers/s. Measured and not taken: int8 products
in onnxruntime (DynamicQuantizeMatMul on every dense layer) gave 17.4 papers/s but a least cosine of 0.991
against the float32 pass (0.998 with per-token activation scales, simulated); bfloat16 products with
float32 sums keep a least cosine of 0.99998 (simulated in numpy on 160 papers), but neither onnxruntime's
CPU kernels nor numpy's OpenBLAS offer a bfloat16 product here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy is imported; OPENBLAS_CORETYPE is left as it is
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402 - after the thread settings above

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest import sources  # noqa: E402
from digest.embedding import model as semantic  # noqa: E402

FEED = ROOT / "tests" / "fixtures" / "arxiv-rss_all-archives_2024-11-28.xml"


def texts(count: int) -> list[str]:
    papers = sources.parse("arxiv_rss", FEED.read_bytes()).papers[:count]
    return [semantic.paper_text(p.title, p.abstract) for p in papers]


def run_one(backend: str, count: int, out: Path) -> dict[str, object]:
    """In the child: load, warm up, time embed() over the papers, save the vectors to `out`."""
    os.sched_setaffinity(0, {0})
    items = texts(count)
    start = time.perf_counter()
    embedder = semantic.Embedder(semantic.model_dir() or Path("."), backend=backend)
    load_s = time.perf_counter() - start
    embedder.embed(items[:8])
    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = embedder.embed(items)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    np.save(out, vectors)
    tokens = [len(e.ids) for e in embedder.tokenizer.encode_batch(items)]
    return {
        "backend": embedder.backend,
        "papers": len(items),
        "mean_tokens": round(float(np.mean(tokens)), 1),
        "load_s": round(load_s, 2),
        "seconds": round(seconds, 2),
        "papers_per_s": round(len(items) / seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "papers_per_cpu_s": round(len(items) / cpu_seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def backends() -> list[str]:
    return ["numpy", *(["onnxruntime"] if semantic.onnxruntime_installed() else [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # backend:path, run by the parent
    args = parser.parse_args()
    if args.child:
        backend, out = args.child.split(":", 1)
        print(json.dumps(run_one(backend, args.papers, Path(out))))
        return
    if not semantic.available():
        raise SystemExit("the semantic extra is not installed")
    results, vectors = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends():
            out = Path(tmp) / f"{backend}.npy"
            command = [sys.executable, __file__, "--papers", str(args.papers), "--child", f"{backend}:{out}"]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            vectors[backend] = np.load(out)
    report: dict[str, object] = {"cpu_cores_used": 1, "backends": results}
    if len(vectors) > 1:
        first, second = vectors.values()
        report["min_cosine_between_backends"] = round(float((first * second).sum(axis=1).min()), 6)
    if args.json:
        print(json.dumps(report))
        return
    for r in results:
        print(
            f"{r['backend']:12s} {r['papers_per_s']:6.2f} papers/s on one core, {r['papers_per_cpu_s']:6.2f} "
            f"per CPU-second ({r['papers']} papers, "
            f"{r['mean_tokens']} tokens on average), load {r['load_s']} s, peak memory {r['peak_rss_mb']} MB"
        )
    if "min_cosine_between_backends" in report:
        print(f"least cosine between the backends' vectors: {report['min_cosine_between_backends']}")


if __name__ == "__main__":
    main()
