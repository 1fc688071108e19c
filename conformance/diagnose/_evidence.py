"""The evidence the diagnosis judges variants on: the candidate run on cases, each judged against TF's semantics."""

from __future__ import annotations

import dataclasses
import time as _time
from collections.abc import Iterable

import numpy as np

from conformance.candidates import Executor
from conformance.diagnose._fresh import discriminating_cases
from conformance.judge import Comparison, Judge, Spread
from conformance.spec import CandidateFault, Case, Result, reference_trace


@dataclasses.dataclass(frozen=True)
class Trial:
    case: Case
    got: Result
    baseline: Comparison  # the candidate against TF's semantics
    fresh: bool
    spread: Spread  # TF's rounding spread on this case (the judge's rounding model)

    @property
    def informative(self) -> bool:
        return not self.baseline.passed


#: Fresh cases run even when the time budget is spent (fewer cannot tell variants apart).
MIN_FRESH_CASES = 3


def gather(case: Case, got: Result, executor: Executor, judge: Judge, count: int, seed: int,
           deadline: float) -> tuple[list[Trial], list[str]]:
    """Run the candidate on the counterexample's fresh cases (until ``deadline``); judge each against TF's."""
    trials = [trial_of(case, got, judge, fresh=False)]
    skipped = []
    for fresh in discriminating_cases(case, executor.info, count=count, seed=seed):
        if len(trials) > MIN_FRESH_CASES and _time.monotonic() > deadline:
            skipped.append("not run: the diagnosis time budget was spent")
            break
        try:
            result = executor.run(fresh)
        except CandidateFault as exc:
            skipped.append(f"{exc.kind}: {exc.message}")
            continue
        trial = trial_of(fresh, result, judge, fresh=True)
        if trial.baseline.kind in ("wrong_shape", "wrong_dtype"):
            skipped.append(f"{trial.baseline.kind}: {trial.baseline.message}")
            continue
        trials.append(trial)
    return trials, skipped


def trial_of(case: Case, got: Result, judge: Judge, *, fresh: bool) -> Trial:
    trace = reference_trace(case)
    with np.errstate(all="ignore"):
        # One measurement of TF's rounding spread serves the baseline verdict and the prefilter.
        spread = judge.spread(case, base=trace)
        baseline = judge.compare(case, got, trace[0].astype(case.config.np_dtype), check_oracle=False,
                                 trace=trace, spread=spread)
    return Trial(case, got, baseline, fresh, spread)


def run_trials(cases: Iterable[Case], trials: list[Trial], executor: Executor, judge: Judge, deadline: float, *,
               minimum: int = 0) -> int:
    """Run the candidate on ``cases`` (fresh) until ``deadline`` (at least ``minimum`` of them); append each
    it runs with the right shapes to ``trials``; return how many were appended."""
    added = 0
    for case in cases:
        if added >= minimum and _time.monotonic() > deadline:
            break
        try:
            result = executor.run(case)
        except CandidateFault:
            continue
        trial = trial_of(case, result, judge, fresh=True)
        if trial.baseline.kind in ("wrong_shape", "wrong_dtype"):
            continue
        trials.append(trial)
        added += 1
    return added
