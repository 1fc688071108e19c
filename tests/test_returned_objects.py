"""What a candidate returns is its code too: converting it must not end or crash the harness.

Before, ``SystemExit`` raised by a returned object's ``__array__`` escaped ``call_candidate``
(it converted the result outside its guard) and ended an in-process run with exit 0, no
report and no output.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.candidates import InProcessExecutor, call_candidate, candidate, resolve
from conformance.spec import CandidateFault
from tests.wrong_impls import dense_case


class _Exits:
    def __array__(self, dtype=None, copy=None):
        raise SystemExit(0)


class _Raises:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("conversion failed deep inside the port")


@pytest.mark.parametrize("bad, kind, words", [(_Exits(), "exception", "SystemExit"),
                                              (_Raises(), "wrong_shape", "not an array")],
                         ids=["SystemExit", "RuntimeError"])
def test_an_exception_while_converting_the_result_is_a_fault(bad, kind, words):
    case = dense_case(seed=1)
    reference = resolve("numpy-reference").fn

    @candidate(features=[], dtypes=["float32"])
    def returns_a_hostile_object(case):
        outputs, (c, h) = reference(case)
        return bad, (c, h)

    with pytest.raises(CandidateFault) as info:
        call_candidate(returns_a_hostile_object, case)
    assert info.value.kind == kind and words in info.value.message, info.value


def test_a_normal_result_still_converts():
    case = dense_case(seed=2)
    got = InProcessExecutor(resolve("numpy-reference")).run(case)
    assert isinstance(got.outputs, np.ndarray) and got.outputs.shape == (case.batch, case.time, case.config.output_size)
