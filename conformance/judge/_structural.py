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

Agreement uses the verdict's own rule (:meth:`conformance.judge.Judge.compare` with
``check_oracle=False``): the per-dtype tolerance plus the measured rounding spread, so a
correct implementation never violates a property through rounding alone.  When the diagnosis
found the candidate computing in a narrower dtype (``rounding_dtype``: float32 arithmetic in a
float64 run), agreement is judged in that dtype: its rounding changes with the batch shape and the
split points, and that is no structural fault.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.candidates import Executor
from conformance.judge._judge import DEFAULT_JUDGE, Judge
from conformance.spec import CandidateFault, Case, Result

PROPERTIES = ("batch_rows_independent", "state_carried", "causal", "deterministic")


@dataclasses.dataclass(frozen=True)
class StructuralFinding:
    """One property checked on the candidate: ``holds`` is True, False, or None when it was not checked
    (``message`` says why, or what was seen)."""

    property: str
    holds: bool | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The entry of ``counterexample.structural`` in report.json."""
        return {"property": self.property, "holds": self.holds, "message": self.message}


_Run = Callable[[Case], Result]


def _agree(case: Case, got: Result, expected: Result, judge: Judge, rounding_dtype: str | None = None
           ) -> tuple[bool, str]:
    if rounding_dtype is not None and rounding_dtype != case.config.dtype:
        narrow = case.astype(rounding_dtype)
        npd = narrow.config.np_dtype
        with np.errstate(all="ignore"):
            cmp = judge.compare(narrow, got.astype(npd), expected.astype(npd), check_oracle=False)
        return cmp.passed, cmp.message + ("" if cmp.passed else f" (judged in {rounding_dtype})")
    cmp = judge.compare(case, got, expected, check_oracle=False)
    return cmp.passed, cmp.message


def _row(result: Result, b: int) -> Result:
    return Result.from_arrays({k: v[b : b + 1] for k, v in result.arrays().items()})


def _steps(result: Result, start: int, stop: int, state: Result | None = None) -> Result:
    """``result``'s outputs over steps [start, stop) with the final states of ``state`` (default: its own)."""
    states = (state or result).arrays()
    return Result.from_arrays({k: np.ascontiguousarray(v[:, start:stop]) if v.ndim == 3 else states[k]
                               for k, v in result.arrays().items()})


def _batch_rows(case: Case, full: Result, run: _Run, judge: Judge, rd: str | None) -> tuple[bool | None, str]:
    if case.batch < 2:
        return None, "needs a batch of 2 or more rows"
    for b in range(case.batch):
        alone_case = case.slice_batch(slice(b, b + 1))
        ok, why = _agree(alone_case, _row(full, b), run(alone_case), judge, rd)
        if not ok:
            return False, f"row {b} of the batch differs from running row {b} alone: {why}"
    return True, f"each of the {case.batch} rows equals the row run alone"


def _state_carried(case: Case, full: Result, run: _Run, judge: Judge, rd: str | None) -> tuple[bool | None, str]:
    if not case.single_cell:
        return None, "checked on one forward layer (a network's states are per cell and direction)"
    if case.time < 2:
        return None, "needs 2 or more time steps"
    t1 = case.time // 2
    first = run(case.slice_time(0, t1))
    rest_case = case.slice_time(t1, case.time).with_initial_state(first.c, first.h)
    rest = run(rest_case)
    ok, why = _agree(rest_case, rest, _steps(full, t1, case.time), judge, rd)
    if not ok:
        return False, (f"running steps {t1}..{case.time - 1} from the state returned after the first {t1} steps "
                       f"differs from running all {case.time} steps at once: {why}")
    return True, f"{case.time} steps equal {t1} steps then {case.time - t1} with the state carried over"


def _causal(case: Case, full: Result, run: _Run, judge: Judge, rd: str | None) -> tuple[bool | None, str]:
    if case.bidirectional:
        return None, "a bidirectional network's outputs depend on later steps"
    if case.time < 2:
        return None, "needs 2 or more time steps"
    t1 = max(1, case.time // 2)
    prefix_case = case.slice_time(0, t1)
    prefix = run(prefix_case)
    ok, why = _agree(prefix_case, prefix, _steps(full, 0, t1, prefix), judge, rd)
    if not ok:
        return False, f"the first {t1} outputs change when later inputs are removed: {why}"
    return True, f"the first {t1} outputs do not depend on later steps"


def _deterministic(case: Case, full: Result, run: _Run, judge: Judge, rd: str | None) -> tuple[bool | None, str]:
    ok, why = _agree(case, run(case), full, judge, rd)
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
    executor: Executor,
    *,
    judge: Judge = DEFAULT_JUDGE,
    full: Result | None = None,
    rounding_dtype: str | None = None,
) -> tuple[StructuralFinding, ...]:
    """Check :data:`PROPERTIES` of ``executor``'s candidate on ``case`` (B >= 2 and T >= 2 to check all).

    ``rounding_dtype``: judge agreement in that (narrower) dtype, the rounding model of a candidate
    found computing in it.  Returns one :class:`StructuralFinding` per property, in :data:`PROPERTIES` order.
    """
    info = executor.info
    out: list[StructuralFinding] = []
    try:
        full = full if full is not None else executor.run(case)
    except CandidateFault as exc:
        return tuple(StructuralFinding(p, None, f"candidate failed on the case: {exc.kind}") for p in PROPERTIES)
    for name in PROPERTIES:
        if name == "state_carried" and "initial_state" not in info.features:
            out.append(StructuralFinding(name, None, "the candidate does not declare initial_state"))
            continue
        if name == "deterministic" and not info.deterministic:
            out.append(StructuralFinding(name, None, "the candidate declares deterministic=False"))
            continue
        try:
            holds, message = _CHECKS[name](case, full, executor.run, judge, rounding_dtype)
        except CandidateFault as exc:
            holds, message = None, f"the candidate failed while checking: {exc.kind}: {exc.message}"
        out.append(StructuralFinding(name, holds, message))
    return tuple(out)


def violated(structural: tuple[StructuralFinding, ...] | list[StructuralFinding]) -> list[str]:
    """Names of the properties that were checked and do not hold."""
    return [s.property for s in structural if s.holds is False]
