"""A candidate that writes into the case it is handed is a finding, in process and isolated alike.

Before the harness handed candidates a private copy, an in-process candidate that changed
``case.params`` or ``case.inputs`` in place changed what the oracle (on its own thread, on the
same arrays) computed, and could pass as CONFORMANT; isolated, it was caught.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance import CheckOptions, check
from conformance.candidates import InProcessExecutor, resolve
from conformance.spec import CandidateFault
from tests import fault_candidates as fc
from tests.wrong_impls import dense_case


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "isolated"])
@pytest.mark.parametrize("name, array", [("clobbers_inputs_after", "inputs"),
                                         ("folds_forget_bias_into_callers_bias", "bias")])
def test_writing_into_the_case_is_reported_the_same_way_in_both_modes(name, array, isolate, oracle):
    options = CheckOptions(max_examples=20, seed=3, max_time=6, long_sequences=False, isolate=isolate,
                           timeout_seconds=30.0 if isolate else None, diagnose=False)
    result = check(fc.target(name), options, oracle=oracle)
    cx = result.counterexample
    assert result.verdict == "nonconformant" and cx is not None, (
        f"{name} ({'isolated' if isolate else 'in process'}): verdict {result.verdict}, error {result.error}")
    assert cx.kind == "input_mutation" and array in cx.comparison.message, (
        f"{name}: kind {cx.kind}, message {cx.comparison.message!r}")


def test_the_callers_arrays_are_untouched_and_a_correct_candidate_is_not_flagged():
    case = dense_case(seed=0)
    before = {k: v.copy() for k, v in case.arrays().items()}
    with pytest.raises(CandidateFault) as info:
        InProcessExecutor(resolve(fc.target("clobbers_inputs_after"))).run(case)
    assert info.value.kind == "input_mutation", info.value
    for name, array in case.arrays().items():
        assert np.array_equal(array, before[name]), f"the caller's {name} changed: {array} (was {before[name]})"
    result = InProcessExecutor(resolve("numpy-reference")).run(case)
    assert result.outputs.shape == (case.batch, case.time, case.config.output_size), result.outputs.shape
