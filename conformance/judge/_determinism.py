"""Same input, different outputs: re-running a case on a candidate that declares itself deterministic.

Two runs count as different when they disagree beyond the dtype's tolerance (the same
``atol + rtol * |first|`` rule the :class:`~conformance.judge.Judge` applies against the oracle),
in shape or dtype, or when one run faults and the other does not: a candidate whose
re-runs differ only in the last bits is still conformant on each of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.candidates import Executor
from conformance.judge._compare import Comparison
from conformance.judge._evaluate import Evaluation
from conformance.judge._judge import DEFAULT_JUDGE, Judge
from conformance.spec import CandidateFault


def _nondeterminism(ev: Evaluation, message: str, **metrics: Any) -> Evaluation:
    cmp = Comparison(passed=False, kind="nondeterminism", message=message, score=float("inf"), **metrics)
    return Evaluation(ev.case, cmp, ev.oracle, ev.candidate, None)


def rerun_check(
    ev: Evaluation, executor: Executor, *, judge: Judge = DEFAULT_JUDGE
) -> Evaluation:
    """Run ``ev.case`` on the candidate again; ``ev`` itself if both runs agree, else a nondeterminism Evaluation.

    ``ev`` must hold the first run's Result (outputs [B, T, P], c [B, H], h [B, P]).
    """
    first = ev.candidate
    if first is None:
        return ev
    try:
        second = executor.run(ev.case)
    except CandidateFault as fault:
        return _nondeterminism(ev, f"the first run returned a result; re-running the same case gave "
                                   f"{fault.kind}: {fault.message}")
    a, b = first.arrays(), second.arrays()
    if set(a) != set(b):
        return _nondeterminism(ev, f"re-running the same case returned {sorted(b)} instead of {sorted(a)}")
    for name in a:
        if a[name].shape != b[name].shape or a[name].dtype != b[name].dtype:
            return _nondeterminism(ev, f"re-running the same case changed {name} from {a[name].dtype}"
                                       f"{list(a[name].shape)} to {b[name].dtype}{list(b[name].shape)}")
    errs, allowed, fails = judge.elementwise(ev.case, b, a)
    for name in a:
        if fails[name].any():
            index = tuple(int(i) for i in np.argwhere(fails[name])[0])
            where = f"{name}{list(index)}" + (f" (time step {index[1]})" if a[name].ndim == 3 else " (final state)")
            was, now = float(a[name][index]), float(b[name][index])
            max_abs = max(float(np.max(e)) for e in errs.values())
            return _nondeterminism(
                ev, f"re-running the same case changed {where} from {was:.6g} to {now:.6g} "
                    f"(|diff| {abs(now - was):.3g} > allowed {float(allowed[name][index]):.3g})",
                max_abs_error=max_abs,
            )
    return ev


__all__ = ["rerun_check"]
