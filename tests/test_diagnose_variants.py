"""Every catalogue variant: a hand-written wrong implementation (tests/wrong_impls.py) is diagnosed as it, first.

The failing case is minimized against the float64 spec first (as the runner does
against TF), so the diagnosis sees the same kind of tiny counterexample a real run gives.
"""

from __future__ import annotations

import pytest

from conformance.diagnose import diagnose, variants
from conformance.run import minimize
from tests import wrong_impls as W
from tests import wrong_impls_catalogue as WC

#: Every hand-written wrong implementation of a catalogue variant (the grown catalogue's in their own module).
ALL_WRONG = {**W.WRONG, **WC.WRONG}



def test_every_builtin_variant_has_a_wrong_implementation():
    missing = [v.name for v in variants() if v.name not in ALL_WRONG]
    assert not missing, f"catalogue variants without a hand-written wrong implementation in tests/wrong_impls.py: {missing}"


@pytest.mark.parametrize("name", sorted(ALL_WRONG))
def test_wrong_implementation_is_diagnosed_as_its_variant_first(name):
    cell, changes = ALL_WRONG[name]
    ex = W.executor_for(W.as_candidate(cell, name))
    still_fails = W.spec_fails(ex)
    case = W.dense_case(changes, seed=1)
    assert still_fails(case), f"{name}: the wrong implementation agrees with the spec on the starting case {case.describe()}"
    case = minimize(case, still_fails, max_evaluations=200, max_seconds=10)
    result = diagnose(case, ex.run(case), ex)
    ranked = [(m.variant, m.explained_cases, m.tried_cases) for m in result.matches]
    assert ranked, (f"{name}: no variant reported (cases {result.cases}, informative {result.informative}, "
                    f"skipped {result.skipped}); minimized case {case.describe()}")
    assert ranked[0][0] == name, f"{name}: diagnosed first as {ranked[0]}, full ranking {ranked}"
    best = result.matches[0]
    assert best.explained_cases == best.tried_cases == result.informative, (
        f"{name}: explains {best.explained_cases}/{best.tried_cases} cases, "
        f"{result.informative} of {result.cases} informative")
    assert best.explanation and best.fix, f"{name}: empty explanation or fix in {best}"
