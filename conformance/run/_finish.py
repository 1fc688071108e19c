"""After a failure is found: re-run it, post-minimise it, explain it (the counterexample pipeline)."""

from __future__ import annotations

import time
from typing import Any

from conformance.candidates import Executor
from conformance.diagnose import DIAGNOSED_KINDS, analyse
from conformance.judge import Evaluation, Judge, evaluate, rerun_check
from conformance.oracle import Oracle
from conformance.outcome import Counterexample
from conformance.run._minimize import minimize
from conformance.run._minimize_amortized import minimize_amortized
from conformance.run._options import CheckOptions
from conformance.spec import Case


def finish_counterexample(
    failing: Evaluation,
    source: str,
    executor: Executor,
    oracle: Oracle,
    options: CheckOptions,
    judge: Judge,
    dtypes: frozenset[str],
    *,
    skip_minimize: bool,
) -> Counterexample:
    """The Counterexample of ``failing``: minimized (within the run's dtypes) and analysed, unless skipped.

    Wrong numbers that change when the same case runs again make the finding nondeterminism;
    a minimized case that no longer fails the same way falls back to the case as found.
    """
    kind = failing.comparison.kind
    case, final = failing.case, failing
    limit_calls(executor, options.finish_by, "confirm")
    if failing.candidate is not None and kind != "nondeterminism" and executor.info.deterministic and not skip_minimize:
        try:
            rerun = rerun_check(failing, executor, judge=judge)
        except TimeoutError:  # the time budget ran out during the re-run: the finding stands as found
            rerun = failing
        if rerun is not failing:
            return Counterexample(case=case, evaluation=rerun, shrunk_case=case, source=source, target=executor.target)
    if options.minimize and not skip_minimize and kind != "nondeterminism":
        case, final = _minimized(failing, executor, oracle, options, judge, dtypes)
    artifacts = _artifacts(executor, case)  # before diagnosis runs other cases through the candidate
    analysis = None
    if options.diagnose and not skip_minimize:
        seconds = options.diagnose_seconds
        if options.finish_by is not None:
            seconds = max(0.1, min(seconds, options.finish_by - time.monotonic()))
        try:
            analysis = analyse(final, executor, judge=judge, max_seconds=seconds)
        except TimeoutError:  # a variant's call cut short by the time budget
            analysis = None
    return Counterexample(case=case, evaluation=final, shrunk_case=failing.case, source=source,
                          target=executor.target, analysis=analysis, artifacts=artifacts)


def _artifacts(executor: Executor, case: Case) -> dict[str, bytes]:
    """What an in-process candidate's ``converted_model(case)`` gives for the counterexample: the converted
    model and the converter's log (converter candidates); nothing for other candidates or isolated runs."""
    fn = getattr(getattr(executor, "loaded", None), "fn", None)
    produce = getattr(fn, "converted_model", None)
    if not callable(produce):
        return {}
    try:
        model, suffix, log = produce(case)
    except Exception as exc:  # noqa: BLE001 - the counterexample stands without its files
        return {".converter.log": f"could not produce the converted model: {exc}".encode()}
    out = {".converter.log": log.encode()}
    if model is not None:
        out[suffix] = model
    return out


def _minimized(failing: Evaluation, executor: Executor, oracle: Oracle, options: CheckOptions, judge: Judge,
               dtypes: frozenset[str]) -> tuple[Case, Evaluation]:
    kind = failing.comparison.kind
    seconds, deadline = options.minimize_seconds, None
    if options.finish_by is not None:
        # What the run has left: diagnosis's share, then the confirmation of the minimized case, then this.
        left = options.finish_by - time.monotonic()
        diagnosis = min(options.diagnose_seconds, 0.4 * left) if options.diagnose and kind in DIAGNOSED_KINDS else 0.0
        # The confirmation may need a fresh worker (a hang kills the last one): its start, then its timeout.
        call_limit = getattr(executor, "call_limit", None)
        confirm = 0.0 if call_limit is None else min(
            0.4 * left, (call_limit(failing.case) or 0.0) + getattr(executor, "boot_seconds", 0.0) + 0.2)
        seconds = max(0.0, min(seconds, left - diagnosis - confirm))
        deadline = time.monotonic() + seconds

    def still_fails(trial: Case) -> bool:
        if options.params is not None and not options.params.matches(trial):
            return False  # pinned weights and config are the run's premise, never simplified away
        try:
            ev = evaluate(trial, executor, oracle, judge=judge)
        except TimeoutError:  # cut short by the deadline: cannot tell, so not kept
            return False
        return not ev.comparison.passed and ev.comparison.kind == kind

    # Probes of a hang time out sooner than a verdict's call (conformance.candidates.AdaptiveTimeouts); the
    # minimized case is confirmed below with the ordinary timeout before it is kept.  Probes of other faults
    # get the ordinary timeout: a slow way to fail (a runaway allocation) must not read as a hang.
    limit_calls(executor, deadline, "minimize" if kind == "hang" else "confirm")
    try:
        # A converter re-converts for every new parameter set: its inputs are minimised first, parameters fixed.
        shrink = minimize_amortized if executor.info.per_params_cost else minimize
        case = shrink(failing.case, still_fails, max_seconds=seconds, dtypes=dtypes,
                        keep_features=options.require_features)
    finally:
        limit_calls(executor, options.finish_by, "confirm")
    if case is failing.case:
        return failing.case, failing
    try:
        final = evaluate(case, executor, oracle, judge=judge)
    except TimeoutError:
        return failing.case, failing
    if final.comparison.passed or final.comparison.kind != kind:
        # The candidate is not a function of its input (it passed on a re-run): keep the original.
        return failing.case, failing
    return case, final


def limit_calls(executor: Any, deadline: float | None, phase: str) -> None:
    """Bound an isolated executor's calls (``limit_calls`` of conformance.candidates.AdaptiveTimeouts): none runs
    past ``deadline``; ``phase`` picks its timeouts.  Executors without timeouts (in-process) ignore it."""
    limit = getattr(executor, "limit_calls", None)
    if limit is not None:
        limit(deadline, phase)
