"""Telling apart variants that explain the same cases (conformance.diagnose._search calls it).

The evidence the search gathered may be unable to tell two variants apart: a port clipping h at a
cell_clip >= 1 computes exactly what a port ignoring cell_clip computes, since |h| < 1.  When the best
variants tie, fresh cases are drawn (conformance.diagnose._fresh.tie_candidates: clips swept across the
range the clipped values take, other sizes, other features) and kept where the tied variants' float64
results differ by far more than the dtype's rounding; the candidate is then run on those, and the search
re-ranks.  A tie that survives is reported as such ("ambiguous: X and Y explain the same cases").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from conformance.candidates import CandidateInfo
from conformance.diagnose._fresh import tie_candidates
from conformance.diagnose._variants import Variant, compose
from conformance.spec import Case, InvalidArgument, Result, reference

#: Unit roundoff per dtype: the separation a discriminating case needs is far beyond it.
_UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "float32": 2.0**-24, "float64": 2.0**-53}


def predict(variant: Variant, case: Case) -> Result | None:
    """``variant``'s float64 Result on ``case`` (its parts that ``case`` activates; TF's semantics when none
    does), or None where it cannot run (``applicable`` is False)."""
    parts = variant.parts or (variant,)
    active = [p for p in parts if p.active(case)]
    if not active:
        return reference(case)
    effective = variant if len(active) == len(parts) else compose(*active)
    if effective is None or not effective.applicable(case):
        return None
    with np.errstate(all="ignore"):
        return effective.run(case)


def separation(a: Result, b: Result) -> float:
    """The largest difference between two Results (outputs, c, h), relative to 1 + the largest |value| of ``a``."""
    worst = 0.0
    for name, x in a.arrays().items():
        y = b.arrays()[name]
        if x.size == 0:
            continue
        with np.errstate(all="ignore"):
            d = float(np.nanmax(np.abs(x - y))) / (1.0 + float(np.nanmax(np.abs(x))))
        worst = max(worst, d if np.isfinite(d) else 1.0)
    return worst


def threshold(dtype: str) -> float:
    """The separation a case must show to tell two variants apart in ``dtype``: 100 unit roundoffs, at
    least 1e-4 (far beyond any comparison's tolerance), at most 0.1."""
    return min(0.1, max(1e-4, 100.0 * _UNIT_ROUNDOFF.get(dtype, 2.0**-24)))


def tie_breaking_cases(tied: Sequence[Variant], like: list[Case], info: CandidateInfo, *, seed: int = 0,
                       per_pair: int = 2, max_cases: int = 6) -> list[Case]:
    """Fresh cases on which the first of ``tied`` and each other one give results far apart (the
    ``per_pair`` most separated per pair, at most ``max_cases`` in all); ``like``: the cases seen so far."""
    try:
        pool = tie_candidates(like, info, seed=seed)
    except InvalidArgument:  # a swept clip the config rejects: nothing to gain from this pool
        return []
    predictions = [[predict(v, c) for c in pool] for v in tied]
    chosen: list[int] = []
    for other in range(1, len(tied)):
        scored = []
        for k, (a, b) in enumerate(zip(predictions[0], predictions[other])):
            if a is None or b is None:
                continue
            s = separation(a, b)
            if s > threshold(pool[k].config.dtype):
                scored.append((s, k))
        scored.sort(reverse=True)
        picked = 0
        for _, k in scored:
            if picked >= per_pair:
                break
            if k not in chosen:
                chosen.append(k)
                picked += 1
    return [pool[k] for k in chosen[:max_cases]]

