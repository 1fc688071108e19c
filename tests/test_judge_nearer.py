"""Two correct implementations may sit on opposite sides of the exact result (issue 17 item 2).

A candidate within the rounding allowance of the float64 spec is right, even where the oracle's own
rounding fell the other way: the judge takes, per element, the nearer of the oracle and the spec.
No TensorFlow needed: the oracle's result is built around the spec by hand.
"""

from __future__ import annotations

import numpy as np

from conformance.judge import DEFAULT_JUDGE
from conformance.spec import Result, reference
from tests.wrong_impls import dense_case


def _around_spec(fraction_oracle: float, fraction_candidate: float):
    """A float16 case, and (oracle, candidate) Results off the spec by the given fractions of the allowed
    error at one output element (opposite signs make them disagree by the sum)."""
    case = dense_case({"forget_bias": 2.0}, dtype="float16", batch=2, time=6, seed=11)
    spec = reference(case)
    spread = DEFAULT_JUDGE.spread(case).final()
    tol = DEFAULT_JUDGE.tolerance("float16")
    idx = (1, 5, 0)
    allowed = tol.atol + tol.rtol * abs(spec.outputs[idx]) + DEFAULT_JUDGE.sensitivity_factor * spread["outputs"][idx]

    def shifted(fraction: float) -> Result:
        out = spec.outputs.copy()
        out[idx] += fraction * allowed
        # Rounded to float16 as any implementation's result is; the shift is many ulps, so it survives.
        return Result(out.astype(np.float16), spec.c.astype(np.float16), spec.h.astype(np.float16))

    return case, shifted(fraction_oracle), shifted(fraction_candidate), allowed


def test_oracle_and_candidate_on_opposite_sides_of_the_spec_agree():
    case, oracle, candidate, allowed = _around_spec(+0.8, -0.8)
    gap = abs(float(oracle.outputs[1, 5, 0]) - float(candidate.outputs[1, 5, 0]))
    assert gap > 1.2 * allowed, (gap, allowed)  # beyond one allowance from the oracle: the old rule failed it
    cmp = DEFAULT_JUDGE.compare(case, candidate, oracle)
    assert cmp.passed, cmp.message
    assert cmp.score <= 1.0, cmp.score


def test_a_candidate_outside_the_allowance_of_both_still_fails():
    case, oracle, candidate, allowed = _around_spec(+0.5, -1.6)
    cmp = DEFAULT_JUDGE.compare(case, candidate, oracle)
    assert not cmp.passed and cmp.kind == "mismatch", cmp
    assert "outputs[1, 5, 0]" in cmp.message and cmp.score > 1.0, cmp.message


def test_the_candidate_compared_with_itself_keeps_the_strict_rule():
    """check_oracle=False (a re-run, a structural property): agreement with the other run, not the spec."""
    case, first, second, _ = _around_spec(+0.8, -0.8)
    assert not DEFAULT_JUDGE.compare(case, second, first, check_oracle=False).passed
