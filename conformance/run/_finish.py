"""After a failure is found: re-run it, post-minimise it, explain it (the counterexample pipeline)."""

from __future__ import annotations

from conformance.candidates import Executor
from conformance.diagnose import analyse
from conformance.judge import Evaluation, Judge, evaluate, rerun_check
from conformance.oracle import Oracle
from conformance.outcome import Counterexample
from conformance.run._minimize import minimize
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
    if failing.candidate is not None and kind != "nondeterminism" and executor.info.deterministic and not skip_minimize:
        rerun = rerun_check(failing, executor, judge=judge)
        if rerun is not failing:
            return Counterexample(case=case, evaluation=rerun, shrunk_case=case, source=source, target=executor.target)
    if options.minimize and not skip_minimize and kind != "nondeterminism":
        case, final = _minimized(failing, executor, oracle, options, judge, dtypes)
    analysis = None
    if options.diagnose and not skip_minimize:
        analysis = analyse(final, executor, judge=judge, max_seconds=options.diagnose_seconds)
    return Counterexample(case=case, evaluation=final, shrunk_case=failing.case, source=source,
                          target=executor.target, analysis=analysis)


def _minimized(failing: Evaluation, executor: Executor, oracle: Oracle, options: CheckOptions, judge: Judge,
               dtypes: frozenset[str]) -> tuple[Case, Evaluation]:
    kind = failing.comparison.kind

    def still_fails(trial: Case) -> bool:
        ev = evaluate(trial, executor, oracle, judge=judge)
        return not ev.comparison.passed and ev.comparison.kind == kind

    case = minimize(failing.case, still_fails, max_seconds=options.minimize_seconds, dtypes=dtypes,
                    keep_features=options.require_features)
    final = evaluate(case, executor, oracle, judge=judge)
    if final.comparison.passed or final.comparison.kind != kind:
        # The candidate is not a function of its input (it passed on a re-run): keep the original.
        return failing.case, failing
    return case, final
