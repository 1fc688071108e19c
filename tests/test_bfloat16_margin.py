"""Issue 17 item 2: the correct numpy-reference is never judged NONCONFORMANT for want of rounding allowance.

Three bfloat16 cases from ``fuzz numpy-reference --budget 10m --dtype float16 --dtype bfloat16 --seed 7
--db none`` (370,199 examples) on which the reference was judged NONCONFORMANT (tests/regressions/
bfloat16_margin/): a 43-step one-cell case (error 0.127 > allowed 0.111), a 16-step chaotic one (kernel
entries up to 34; 0.621 > 0.29) and a 106-step bidirectional one whose backward memory unit the reference's
rounding kicks to -1.42 where the float64 spec keeps 0.003 (``outputs_bw``, 0.891 > 0.877).

Why the model under-estimated them: the noisy runs of conformance.judge._rounding deviated at a sensitive
step and then re-converged, so the spread of the later steps was small, while the reference's rounding at
that step tipped a unit onto another branch and kept it there (forget gate ~1).  Each case passed with most
seeds of the random runs and failed with the one the fuzz ran (seed 0): over 370,000 examples, some fixed
sample of perturbations is always unlucky.  The model now carries a deviation once reached forward in
the order each direction computes its steps (the backward direction from its last step down).

The wrong implementations must still be caught: every one in tests/wrong_impls.py and
``seed-missing-forget-bias``, in float16, bfloat16 and float32, against the TF oracle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance.candidates import InProcessExecutor, resolve
from conformance.judge import DEFAULT_JUDGE, UNIT_ROUNDOFF, evaluate, measure_spread
from conformance.spec import Case, reference_trace
from conformance.testing import assert_conformant
from tests import wrong_impls as W

HERE = Path(__file__).parent / "regressions" / "bfloat16_margin"
NAMES = ["counterexample", "counterexample-2", "counterexample-3"]


#: counterexample-4: from the 30-minute isolated fuzz (`fuzz numpy-reference --budget 30m --dtype float16 --dtype
#: bfloat16 --seed 11 --db none --max-time 200`, 256,687 examples): 9 units, 9 steps, kernel entries up to 16;
#: 2 random runs of the rounding model gave score 2.2 (0.5 > allowed 0.48), 4 or more 0.12-0.14.  Fixed by the
#: judge's confirmation with more runs before a case fails (Judge.confirm_runs).
@pytest.mark.parametrize("name", [*NAMES, "counterexample-4"])
def test_reference_is_conformant_on_the_bfloat16_margin_cases(name, oracle):
    case = Case.load_npz(HERE / f"{name}.npz")
    assert_conformant("numpy-reference", case, oracle=oracle)


@pytest.mark.parametrize("name", NAMES)
def test_reference_is_within_the_allowance_of_the_spec_whatever_the_seed_of_the_random_runs(name):
    """No TF: the reference against the float64 spec, with the spread measured from ten seeds of the random
    runs.  Before the model carried deviations forward, seed 0 (the verdict's) failed all three cases."""
    case = Case.load_npz(HERE / f"{name}.npz")
    got_a = InProcessExecutor(resolve("numpy-reference")).run(case).arrays()
    trace = reference_trace(case)
    spec_a = trace[0].arrays()
    failing = []
    for seed in range(10):
        spread = measure_spread(case, UNIT_ROUNDOFF[case.config.dtype], random_runs=DEFAULT_JUDGE.random_runs,
                                gate_rounding=True, base=trace, seed=seed)
        errs, allowed, fails = DEFAULT_JUDGE.elementwise(case, got_a, spec_a, spread.final())
        for k, f in fails.items():
            if f.any():
                at = tuple(int(i) for i in np.argwhere(f)[0])
                failing.append(f"seed {seed}: {k}{list(at)} error {errs[k][at]:.3g} > allowed {allowed[k][at]:.3g}")
    assert not failing, failing


@pytest.mark.parametrize("name", NAMES)
def test_the_spread_never_decreases_in_the_order_steps_are_computed(name):
    """Forward arrays from step 0 up, a backward direction's from step T - 1 down; a final state's spread is at
    least that of the step it is the state after."""
    case = Case.load_npz(HERE / f"{name}.npz")
    spread = DEFAULT_JUDGE.spread(case)
    final = spread.final()
    for k, s in {**final, "cells": spread.cells}.items():
        if s.ndim != 3:
            continue
        steps = s.max(axis=(0, 2))
        ordered = steps[::-1] if k.endswith("_bw") else steps
        assert (np.diff(ordered) >= 0).all(), (k, steps)
        assert (s == steps[None, :, None]).all(), k  # one value per step
    assert final["h"].min() >= final["outputs"][:, -1].max()
    assert final["c"].min() >= spread.cells[:, -1].max()
    if "outputs_bw" in final:
        assert final["bw/h"].min() >= final["outputs_bw"][:, 0].max()


# -- the other side: the model must not let the wrong implementations through --------------------------------
#: (implementation, dtype) pairs no case below exposes: the mistake is below bfloat16's resolution there
#: (measured before and after the change to the model, issue 17; both never caught on these cases).
BELOW_RESOLUTION = {("hard_sigmoid", "bfloat16"), ("peephole_output_old_c", "bfloat16")}
WRONG = sorted(W.WRONG) + ["seed-missing-forget-bias"]


def _cases(name: str, dtype: str):
    """The implementation's exposing cases: 4, 40 and 120 steps (where the case allows), three seeds each."""
    changes = dict(W.WRONG[name][1]) if name in W.WRONG else {}
    fixed_time = "time" in changes or "sequence_length" in changes
    for T in (4,) if fixed_time else (4, 40, 120):
        for seed in (1, 2, 3):
            yield W.dense_case(changes if fixed_time else {**changes, "time": T}, dtype=dtype, seed=seed,
                               initial_state=name != "seed-missing-forget-bias")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("name", WRONG)
def test_every_wrong_implementation_is_still_caught(name, dtype, oracle):
    if (name, dtype) in BELOW_RESOLUTION:
        pytest.skip("below bfloat16's resolution on these cases (never caught, before the model change too)")
    if name in W.WRONG:
        cls = W.WRONG[name][0]
        ex = W.executor_for(W.as_candidate(cls, name, dtypes=("float16", "bfloat16", "float32", "float64")))
    else:
        ex = InProcessExecutor(resolve(name))
    scores = []
    for case in _cases(name, dtype):
        cmp = evaluate(case, ex, oracle).comparison
        if not cmp.passed:
            return
        scores.append(round(float(cmp.score or 0.0), 3))
    pytest.fail(f"{name} in {dtype}: judged CONFORMANT on every case (scores {scores})")
