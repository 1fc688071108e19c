"""Precision-aware explanations: a candidate that is right but computes (part of) the cell in a narrower
dtype than the case's (a float64 port accumulating in float32; float16 or bfloat16 gates in a float32 run).

The test is the verdict's own rule in the narrower dtype: the case converted to that dtype
(:meth:`conformance.spec.Case.astype`), the candidate's result rounded to it, and
:meth:`conformance.judge.Judge.compare` against TF's semantics in that dtype (its tolerance plus the rounding
spread measured there).  A candidate is explained as reduced precision only when every informative case
passes so *and* its largest error is at the rounding level of that dtype (at most :data:`MAX_ROUNDOFFS` of its
unit roundoffs of the values' magnitude): the 16-bit tolerances are wide enough to pass an approximated
activation, whose error is tens of float16 roundoffs.  The explanation says the error in those units.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from conformance.judge import UNIT_ROUNDOFF, Judge
from conformance.spec import Case, Result, reference

#: Narrower dtypes tried for a case's dtype, most precise first.
NARROWER: dict[str, tuple[str, ...]] = {"float64": ("float32",), "float32": ("float16", "bfloat16")}
PREFIX = "reduced_precision_"
#: The largest error, in unit roundoffs of the narrower dtype times the values' magnitude, still called rounding.
MAX_ROUNDOFFS = 4.0


@dataclasses.dataclass(frozen=True)
class PrecisionFinding:
    """The narrower ``dtype`` explains ``explained`` of the ``tried`` informative cases."""

    dtype: str
    explained: int
    tried: int
    explanation: str
    fix: str

    @property
    def name(self) -> str:
        return PREFIX + self.dtype


def passes_in(dtype: str, case: Case, got: Result, judge: Judge) -> bool:
    """Whether ``got`` (the candidate on ``case``) passes the verdict's rule with everything in ``dtype``."""
    narrow = case.astype(dtype)
    npd = narrow.config.np_dtype
    with np.errstate(all="ignore"):
        expected = reference(narrow).astype(npd)
        cmp = judge.compare(narrow, got.astype(npd), expected, check_oracle=False)
    return cmp.passed


def explain_precision(pairs: Sequence[tuple[Case, Result, float]], judge: Judge) -> PrecisionFinding | None:
    """The narrowest-error explanation of ``(case, got, max abs error vs TF)`` informative triples as reduced
    precision, or None when no narrower dtype explains every one of them."""
    if not pairs:
        return None
    dtype = pairs[0][0].config.dtype
    for narrow in NARROWER.get(dtype, ()):
        u = UNIT_ROUNDOFF[narrow]
        worst_case, _, error = max(pairs, key=lambda p: p[2])
        magnitude = max(float(np.max(np.abs(a.astype(np.float64)), initial=0.0))
                        for a in reference(worst_case).arrays().values())
        ulps = error / (u * max(magnitude, 1.0))
        if not ulps <= MAX_ROUNDOFFS or not all(passes_in(narrow, case, got, judge) for case, got, _ in pairs):
            continue
        text = (f"consistent with {narrow} arithmetic inside a {dtype} run: the largest error {error:.2g} is "
                f"~{ulps:.1f} {narrow} unit roundoffs ({u:.3g}) of the values' magnitude ({magnitude:.2g}); "
                f"every informative case passes when judged in {narrow}")
        fix = (f"compute in {dtype} throughout (inputs, weights, matmul accumulation, gates and state); a {narrow} "
               f"accumulator or cast inside the cell costs {dtype}'s precision")
        return PrecisionFinding(narrow, len(pairs), len(pairs), text, fix)
    return None
