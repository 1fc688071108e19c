"""Fitted parameters: a catalogue variant with a numeric knob (a hard-coded clip, a constant forget-bias
offset) gets the value that reproduces the candidate best, and an explanation that says it.

The fit is one-dimensional: a grid over the knob's bounds (log-spaced for positive bounds), then a golden
section search around the best grid point, minimising the summed log10 of the candidate's largest error
against the variant's float64 spec on a few informative cases.  The value is then shortened to the fewest
significant digits that fit as well (3.0, not 2.9999998).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from conformance.diagnose._variants import Variant
from conformance.spec import Case, Result, Semantics, reference

#: Informative cases a fit looks at (the freshest first), grid points, golden-section steps.
FIT_CASES = 2
GRID_POINTS = 25
GOLDEN_STEPS = 24
_PHI = (math.sqrt(5.0) - 1.0) / 2.0


def _max_error(got: Result, expected: Result) -> float:
    worst = 0.0
    for name, want in expected.arrays().items():
        have = got.arrays()[name].astype(np.float64)
        if have.shape != want.shape:
            return 1e30
        with np.errstate(all="ignore"):
            diff = np.abs(have - want)
        if diff.size:
            worst = max(worst, float(np.max(np.where(np.isnan(diff), 1e30, diff))))
    return worst


def _loss(variant: Variant, knob: str, value: float, pairs: Sequence[tuple[Case, Result]]) -> float:
    semantics = Semantics(**{**dict(variant.knobs), knob: value})
    total = 0.0
    for case, got in pairs:
        with np.errstate(all="ignore"):
            expected = reference(case, semantics=semantics)
        total += math.log10(min(max(_max_error(got, expected), 1e-30), 1e30))
    return total


def fit_variant(variant: Variant, pairs: Sequence[tuple[Case, Result]]) -> Variant:
    """``variant`` with its :attr:`Variant.fit` knob fitted to the candidate's ``(case, got)`` pairs
    (informative cases, freshest first) and its explanation saying the value; ``variant`` itself when
    it has no parameter or no pair it is active and applicable on."""
    if variant.fit is None:
        return variant
    knob, low, high = variant.fit
    usable = [(c, g) for c, g in pairs if variant.active(c) and variant.applicable(c)][:FIT_CASES]
    if not usable:
        return variant
    log_scale = low > 0
    if log_scale:
        grid = list(np.geomspace(low, high, GRID_POINTS))
    else:
        grid = list(np.linspace(low, high, GRID_POINTS))
    losses = [_loss(variant, knob, float(v), usable) for v in grid]
    k = int(np.argmin(losses))
    a, b = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, len(grid) - 1)])
    best, best_loss = float(grid[k]), losses[k]
    # Golden section on [a, b] (the bracket around the best grid point).
    x1, x2 = b - _PHI * (b - a), a + _PHI * (b - a)
    f1, f2 = _loss(variant, knob, x1, usable), _loss(variant, knob, x2, usable)
    for _ in range(GOLDEN_STEPS):
        if f1 <= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - _PHI * (b - a)
            f1 = _loss(variant, knob, x1, usable)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + _PHI * (b - a)
            f2 = _loss(variant, knob, x2, usable)
    for x, f in ((x1, f1), (x2, f2)):
        if f < best_loss:
            best, best_loss = x, f
    value = _shortest(variant, knob, best, best_loss, usable, positive=log_scale)
    cfg = usable[0][0].config
    text = variant.fitted_explanation.format(value=value, cfg=cfg)
    return dataclasses.replace(variant, knobs={**dict(variant.knobs), knob: value}, explanation=text)


def _shortest(variant: Variant, knob: str, value: float, loss: float, pairs: Sequence[tuple[Case, Result]], *,
              positive: bool) -> float:
    """The value with the fewest significant digits (up to 8) whose fit is as good (within 2% in error)."""
    for digits in range(1, 9):
        short = float(f"{value:.{digits}g}")
        if positive and short <= 0:
            continue
        if _loss(variant, knob, short, pairs) <= loss + 0.01 * len(pairs):
            return short
    return value
