"""Properties every LSTM has, checked on the candidate alone (no oracle), each pointing at a cause.

* ``batch_rows_independent``: row b of a batch equals running row b alone
  (violated by reductions over the batch axis, or state shared between rows);
* ``state_carried``: T steps equal T1 steps, then T - T1 steps started from the state
  the first run returned (violated by state that is not fully returned, or by
  behaviour that depends on the absolute step); only for candidates that declare
  ``initial_state``;
* ``causal``: the first T1 outputs do not depend on later inputs (running the
  prefix gives the same outputs);
* ``deterministic``: the same case twice gives the same result (skipped for
  candidates declaring ``deterministic=False``).

Agreement uses the comparison's rule (conformance._compare.compare with
``check_oracle=False``): the per-dtype tolerance plus the measured rounding spread.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from conformance._compare import Tolerance, compare
from conformance._errors import CandidateFault
from conformance._spec import Case, Result

PROPERTIES = ("batch_rows_independent", "state_carried", "causal", "deterministic")


def _agree(case: Case, got: Result, expected: Result, tolerances) -> tuple[bool, str]:
    cmp = compare(case, got, expected, tolerances=tolerances, check_oracle=False)
    return cmp.passed, cmp.message


def _row(result: Result, b: int) -> Result:
    return Result(result.outputs[b : b + 1], result.c[b : b + 1], result.h[b : b + 1])


def _steps(result: Result, start: int, stop: int, state: Result | None = None) -> Result:
    s = state or result
    return Result(np.ascontiguousarray(result.outputs[:, start:stop]), s.c, s.h)


def _batch_rows(case: Case, full: Result, run: Callable[[Case], Result], tolerances) -> tuple[bool | None, str]:
    if case.batch < 2:
        return None, "needs a batch of 2 or more rows"
    for b in range(case.batch):
        alone_case = case.slice_batch(slice(b, b + 1))
        ok, why = _agree(alone_case, _row(full, b), run(alone_case), tolerances)
        if not ok:
            return False, f"row {b} of the batch differs from running row {b} alone: {why}"
    return True, f"each of the {case.batch} rows equals the row run alone"


def _state_carried(case: Case, full: Result, run, tolerances) -> tuple[bool | None, str]:
    if case.time < 2:
        return None, "needs 2 or more time steps"
    t1 = case.time // 2
    first = run(case.slice_time(0, t1))
    rest_case = case.slice_time(t1, case.time).with_initial_state(first.c, first.h)
    rest = run(rest_case)
    ok, why = _agree(rest_case, rest, _steps(full, t1, case.time), tolerances)
    if not ok:
        return False, (f"running steps {t1}..{case.time - 1} from the state returned after the first {t1} steps "
                       f"differs from running all {case.time} steps at once: {why}")
    return True, f"{case.time} steps equal {t1} steps then {case.time - t1} with the state carried over"


def _causal(case: Case, full: Result, run, tolerances) -> tuple[bool | None, str]:
    if case.time < 2:
        return None, "needs 2 or more time steps"
    t1 = max(1, case.time // 2)
    prefix_case = case.slice_time(0, t1)
    prefix = run(prefix_case)
    ok, why = _agree(prefix_case, Result(prefix.outputs, prefix.c, prefix.h),
                     _steps(full, 0, t1, prefix), tolerances)
    if not ok:
        return False, f"the first {t1} outputs change when later inputs are removed: {why}"
    return True, f"the first {t1} outputs do not depend on later steps"


def _deterministic(case: Case, full: Result, run, tolerances) -> tuple[bool | None, str]:
    ok, why = _agree(case, run(case), full, tolerances)
    if not ok:
        return False, f"the same case gave a different result the second time: {why}"
    return True, "the same case gave the same result twice"


_CHECKS = {
    "batch_rows_independent": _batch_rows,
    "state_carried": _state_carried,
    "causal": _causal,
    "deterministic": _deterministic,
}


def check_structure(
    case: Case,
    executor: Any,
    *,
    tolerances: Mapping[str, Tolerance] | None = None,
    full: Result | None = None,
) -> list[dict[str, Any]]:
    """Check :data:`PROPERTIES` of ``executor``'s candidate on ``case`` (B >= 2 and T >= 2 to check all).

    Returns one ``{"property", "holds", "message"}`` per property; ``holds`` is None
    when it was not checked (the message says why).
    """
    info = executor.info
    out = []
    try:
        full = full if full is not None else executor.run(case)
    except CandidateFault as exc:
        return [{"property": p, "holds": None, "message": f"candidate failed on the case: {exc.kind}"}
                for p in PROPERTIES]
    for name in PROPERTIES:
        if name == "state_carried" and "initial_state" not in info.features:
            out.append({"property": name, "holds": None,
                        "message": "the candidate does not declare initial_state"})
            continue
        if name == "deterministic" and not info.deterministic:
            out.append({"property": name, "holds": None, "message": "the candidate declares deterministic=False"})
            continue
        try:
            holds, message = _CHECKS[name](case, full, executor.run, tolerances)
        except CandidateFault as exc:
            holds, message = None, f"the candidate failed while checking: {exc.kind}: {exc.message}"
        out.append({"property": name, "holds": holds, "message": message})
    return out


def violated(structural: list[dict[str, Any]]) -> list[str]:
    """Names of the properties that were checked and do not hold."""
    return [s["property"] for s in structural if s["holds"] is False]
