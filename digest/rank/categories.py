"""arXiv's subject classes, for checking `cat:` in interests: a typo there would otherwise match nothing,
silently, every day.

From arXiv's category taxonomy (arxiv.org/category_taxonomy), with the archives that only old papers carry
(their ids look like `solv-int/9901001`), since feeds and the arXiv API still return them.
"""

from __future__ import annotations

import difflib

_GROUPS = {
    "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA NE NI OH OS "
    "PF PL RO SC SD SE SI SY",
    "econ": "EM GN TH",
    "eess": "AS IV SP SY",
    "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA RA RT SG SP ST",
    "astro-ph": "CO EP GA HE IM SR",
    "cond-mat": "dis-nn mes-hall mtrl-sci other quant-gas soft stat-mech str-el supr-con",
    "nlin": "AO CD CG PS SI",
    "physics": "acc-ph ao-ph app-ph atm-clus atom-ph bio-ph chem-ph class-ph comp-ph data-an ed-ph flu-dyn "
    "gen-ph geo-ph hist-ph ins-det med-ph optics plasm-ph pop-ph soc-ph space-ph",
    "q-bio": "BM CB GN MN NC OT PE QM SC TO",
    "q-fin": "CP EC GN MF PM PR RM ST TR",
    "stat": "AP CO ME ML OT TH",
}
# Archives without subject classes, and the archives of the 1990s that were later merged into others.
_ARCHIVES = (
    "gr-qc hep-ex hep-lat hep-ph hep-th math-ph nucl-ex nucl-th quant-ph "
    "acc-phys adap-org alg-geom ao-sci atom-ph bayes-an chao-dyn chem-ph cmp-lg comp-gas dg-ga funct-an "
    "mtrl-th patt-sol plasm-ph q-alg solv-int supr-con"
)

_CLASSES = [f"{group}.{name}" for group, names in _GROUPS.items() for name in names.split()]
CATEGORIES: frozenset[str] = frozenset([*_CLASSES, *_GROUPS, *_ARCHIVES.split()])
_FOLDED = {category.casefold(): category for category in CATEGORIES}


def known_category(value: str) -> str | None:
    """The category as arXiv spells it ("cs.CL" for "cs.cl"), or None when arXiv has no such category."""
    return _FOLDED.get(value.strip().casefold())


def closest_category(value: str) -> str | None:
    """The known category nearest to a misspelt one, for "did you mean ...?"."""
    found = difflib.get_close_matches(value.strip().casefold(), _FOLDED, n=1, cutoff=0.6)
    return _FOLDED[found[0]] if found else None
