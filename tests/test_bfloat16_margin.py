"""Open (issue 17 item 2): three cases on which the correct numpy-reference is judged NONCONFORMANT in bfloat16.

Found by ``fuzz numpy-reference --budget 10m --dtype float16 --dtype bfloat16 --seed 7 --db none`` (370,199
examples): a one-cell proj_clip case (T = 43, error 0.127 > allowed 0.111), a stacked one and a bidirectional
one (the backward outputs).  The rounding model under-estimates how far two correct bfloat16 implementations
drift here; the fix belongs in the model (conformance/judge/_rounding.py), not in the tolerance table.  Strict
xfail: when the model is fixed these pass and the markers must go.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.spec import Case
from conformance.testing import assert_conformant

HERE = Path(__file__).parent / "regressions" / "bfloat16_margin"


@pytest.mark.xfail(strict=True, reason="open: the rounding model under-estimates bfloat16 drift on these cases")
@pytest.mark.parametrize("name", ["counterexample", "counterexample-2", "counterexample-3"])
def test_reference_is_conformant_on_the_bfloat16_margin_cases(name, oracle):
    case = Case.load_npz(HERE / f"{name}.npz")
    assert_conformant("numpy-reference", case, oracle=oracle)
