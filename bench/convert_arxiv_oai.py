"""Physics/maths category query set: arXiv OAI-PMH records (metadataPrefix=arXiv), one query per category.

    python bench/convert_arxiv_oai.py \
        ../shared/fixtures/ranking_eval/arxiv-oai-pmh_ListRecords_arXiv-format_2013_1000records.xml OUT_DIR

Writes OUT_DIR/papers.jsonl and OUT_DIR/queries.jsonl for bench/rank_eval.py. As in
convert_arxiv_categories.py, the interests were written by hand the way a researcher in each field would
describe it (several `;` topics), from the category names alone, before looking at the papers; relevant =
the papers listing that category (grade 1). Categories are left out of the papers, being the labels.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

_NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "a": "http://arxiv.org/OAI/arXiv/"}

INTERESTS = {
    "hep-ph": "particle phenomenology; physics beyond the standard model; dark matter candidates; QCD",
    "hep-th": "string theory; quantum field theory; AdS/CFT holography; supersymmetry",
    "quant-ph": "quantum entanglement; qubits; quantum information and quantum computing",
    "astro-ph.CO": (
        "cosmology; cosmic microwave background; dark energy; large-scale structure of the universe"
    ),
    "cs.AI": "artificial intelligence; reasoning and planning; knowledge representation; multi-agent systems",
    "gr-qc": "general relativity; black holes; gravitational waves; quantum gravity",
    "cond-mat.mes-hall": "mesoscopic physics; quantum dots; graphene; topological insulators; spin transport",
    "astro-ph.SR": "stellar physics; stellar evolution; the Sun and solar activity; binary stars",
    "math.IT": "information theory; channel capacity; coding theory; wireless communication",
    "cs.IT": "information theory; channel coding; network coding; MIMO communication",
    "math.AP": "partial differential equations; well-posedness and regularity; nonlinear PDEs",
    "math.MP": "mathematical physics; spectral theory of operators; integrable systems",
    "math-ph": "mathematical physics; Schrodinger operators; exactly solvable models",
    "cond-mat.mtrl-sci": "materials science; crystal structure; first-principles calculations; thin films",
    "math.PR": "probability theory; stochastic processes; random walks; random matrices",
    "astro-ph.HE": "high-energy astrophysics; gamma-ray bursts; cosmic rays; neutron stars and pulsars",
    "nucl-th": "nuclear theory; nuclear structure; heavy-ion collisions; nuclear matter equation of state",
    "math.AG": "algebraic geometry; algebraic varieties; moduli spaces; sheaves and cohomology",
    "cond-mat.stat-mech": (
        "statistical mechanics; phase transitions; non-equilibrium dynamics; critical phenomena"
    ),
    "math.CO": "combinatorics; graph theory; enumerative combinatorics; extremal problems",
    "cond-mat.str-el": "strongly correlated electrons; Hubbard model; quantum magnetism; Kondo effect",
    "hep-ex": "collider experiments; LHC measurements; particle detectors; cross section measurement",
    "astro-ph.GA": "galaxies; galaxy formation and evolution; the Milky Way; star formation",
    "astro-ph.EP": "exoplanets; planet formation; protoplanetary disks; the solar system",
    "math.DG": "differential geometry; Riemannian manifolds; curvature; geometric flows",
    "cs.LG": "machine learning; neural networks; supervised learning; learning algorithms",
    "math.OC": "optimization; optimal control; convex optimization; control theory",
    "math.DS": "dynamical systems; ergodic theory; chaos; bifurcations",
    "physics.optics": "optics; lasers; photonics; nonlinear optics",
    "cond-mat.quant-gas": "ultracold atoms; Bose-Einstein condensates; optical lattices; quantum gases",
    "math.NT": "number theory; prime numbers; modular forms; diophantine equations",
    "math.FA": "functional analysis; Banach spaces; operator theory; Hilbert spaces",
    "math.GT": "geometric topology; knot theory; three-manifolds; mapping class groups",
    "math.AC": "commutative algebra; rings and ideals; modules; homological algebra",
}


def _text(element: ET.Element | None) -> str:
    return " ".join((element.text or "").split()) if element is not None else ""


def convert(source: Path, out: Path) -> tuple[int, int]:
    root = ET.parse(source).getroot()
    relevant: dict[str, dict[str, int]] = {cat: {} for cat in INTERESTS}
    rows = []
    for record in root.iterfind(".//oai:record", _NS):
        meta = record.find(".//a:arXiv", _NS)
        if meta is None:
            continue
        pid = _text(meta.find("a:id", _NS))
        rows.append(
            {
                "id": pid,
                "title": _text(meta.find("a:title", _NS)),
                "abstract": _text(meta.find("a:abstract", _NS)),
            }
        )
        for cat in _text(meta.find("a:categories", _NS)).split():
            if cat in relevant:
                relevant[cat][pid] = 1
    out.mkdir(parents=True, exist_ok=True)
    with (out / "papers.jsonl").open("w", encoding="utf-8") as papers:
        papers.writelines(json.dumps(row) + "\n" for row in rows)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for cat, interests in INTERESTS.items():
            queries.write(json.dumps({"id": cat, "interests": interests, "relevant": relevant[cat]}) + "\n")
    return len(rows), len(INTERESTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("xml", type=Path, help="arxiv-oai-pmh_ListRecords_arXiv-format_2013_1000records.xml")
    parser.add_argument("out", type=Path, help="folder for papers.jsonl and queries.jsonl")
    args = parser.parse_args()
    try:
        papers, queries = convert(args.xml, args.out)
    except (OSError, ET.ParseError) as exc:
        print(f"error: cannot convert {args.xml}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {papers} papers and {queries} queries to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
