"""Drives Hypothesis over one candidate and owns a run's lifecycle.

``check(target, options)``:

1. replays ``options.replay`` cases (a regression corpus) first;
2. lets Hypothesis generate cases narrowed to what the candidate declares (by
   default 16 per example from one seed, see GENERATIONS), steering toward large
   errors with ``hypothesis.target`` (and, drawing every choice, shrink a failure);
3. post-minimises and explains the failing case (conformance.run._finish);
4. returns a :class:`~conformance.outcome.CheckResult` that reports are written from.

A time budget, Ctrl-C or SIGTERM (raised as KeyboardInterrupt by the CLI) end
the run early with everything found so far kept.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import hashlib
import random
import time
from typing import Any

import numpy as np

from conformance.candidates import Executor, LoadedCandidate, make_executor, resolve
from conformance.judge import Comparison, Evaluation, Judge, evaluate, rerun_check, submit_all
from conformance.oracle import Oracle, PendingResult
from conformance.outcome import CheckResult, Counterexample, Progress
from conformance.run._database import database_key, open_database
from conformance.run._finish import finish_counterexample, limit_calls
from conformance.run._options import SEEDED_BATCH, CheckOptions, executor_limits
from conformance.run._scope import Scope, cases_for, pinned_options, scope
from conformance.run._tally import Tally
from conformance.run._threads import pools_beside_the_oracle
from conformance.spec import SIGNALS, Case, signal_name

#: Hypothesis' Flaky failures, and the exception group it may wrap several failures in (a builtin
#: from Python 3.11 on).
_GROUP: Any = getattr(builtins, "BaseExceptionGroup", None)
#: max_examples at or above this means "until the time is up" (a fuzz slice), not an ask.
_UNBOUNDED = 10**8


class _Stop(KeyboardInterrupt):
    """Raised inside the Hypothesis test to end a run (budget).

    A KeyboardInterrupt because that is the one exception Hypothesis neither shrinks
    nor saves to the example database (any other BaseException is saved there as if
    it were a failure, and the next run would replay a passing example first).
    """


class Nonconformance(AssertionError):
    """Raised inside the Hypothesis test for a failing example; carries the Evaluation."""

    def __init__(self, evaluation: Evaluation):
        super().__init__(evaluation.comparison.message)
        self.evaluation = evaluation


_FAILURE_CLASSES: dict[str, type[Nonconformance]] = {}


def _failure_class(kind: str) -> type[Nonconformance]:
    # One class per kind, so Hypothesis treats a crash and a mismatch as distinct bugs
    # and never shrinks one into the other.
    cls = _FAILURE_CLASSES.get(kind)
    if cls is None:
        cls = type(f"Nonconformance_{kind}", (Nonconformance,), {})
        _FAILURE_CLASSES[kind] = cls
    return cls


def _settings(options: CheckOptions, database: Any) -> Any:
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    seeded = options.generation == "seeded"
    return settings(
        # A seeded example is a batch of cases (the runner counts the cases and stops at max_examples).
        max_examples=-(-options.max_examples // SEEDED_BATCH) if seeded else options.max_examples,
        deadline=None,
        database=database,
        derandomize=False,
        print_blob=False,
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        # Shrinking a seed only finds other random cases: a seeded failure goes to the post-minimiser as found.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target] + ([] if seeded else [Phase.shrink]),
    )


@dataclasses.dataclass(frozen=True)
class _Ending:
    """How the search ended: the failure to report (if any) and why it stopped."""

    failing: Evaluation | None = None
    source: str = "generated"
    budget_exhausted: bool = False
    signal: str | None = None


class _CheckRun:
    """One run of :func:`check`: its options, scope, judge, executor, oracle and tally."""

    def __init__(self, loaded: LoadedCandidate, options: CheckOptions, executor: Executor | None,
                 oracle: Oracle | None) -> None:
        self.loaded = loaded
        options = pinned_options(loaded, options)
        self.options = options
        self.scope: Scope = scope(loaded.info, options)  # bad options fail here, before anything runs
        self.database = open_database(options.database)  # a bad --db too, before TensorFlow is imported
        self.judge = Judge.from_tolerances(options.tolerances)
        self.own_executor = executor is None
        self.executor = executor or make_executor(loaded, **executor_limits(options))
        if oracle is None:
            from conformance.oracle import default_oracle

            oracle = default_oracle()
        self.oracle: Oracle = oracle
        prepare = getattr(oracle, "prepare", None)
        if callable(prepare):  # everything is checked: TensorFlow's import can overlap the rest of the start
            prepare()
        # Every run has a seed, recorded in its result and reports, so that any run can be replayed
        # (`--seed N`); one is drawn here when none was given.
        self.seed = options.seed if options.seed is not None else random.getrandbits(63)
        self.tally = Tally()
        self.hung: dict[str, Evaluation] = {}  # by _case_key: the cases that hung in this run
        self.started = time.monotonic()
        self.deadline = self.started + options.budget_seconds if options.budget_seconds else None

    # -- the lifecycle -------------------------------------------------------------------------------
    def execute(self) -> CheckResult:
        cx, signal = None, None
        # An isolated candidate's calls end by the run's end (a hang is timed against what passed; one found
        # late in the search still leaves the minimisation's share); the search itself stops at its deadline.
        finish_by = self.options.finish_by
        limit_calls(self.executor, finish_by if finish_by is not None else self.deadline, "search")
        try:
            # With a failure the executor stays open (its worker warm) for the minimisation.
            ending = self._search(first_report=True)
            signal = ending.signal
            try:  # the display ends on the run's own count, not the last throttled one
                self._progress(None, force=True)
            except KeyboardInterrupt as exc:  # a stop asked for by the callback (fuzz, workers) or Ctrl-C
                signal = signal or signal_name(exc)
                ending = dataclasses.replace(ending, signal=signal)
            if ending.failing is not None:
                cx, signal = self._counterexample(ending)
        finally:
            limit_calls(self.executor, None, "search")
            if self.own_executor:
                self.executor.close()
        return self._result(ending, cx, signal)

    def _search(self, *, first_report: bool = False) -> _Ending:
        try:
            if first_report:  # everything is checked and TensorFlow not loaded yet: the display can start
                self._progress(None, force=True)
            failing = self._replay()
            if failing is not None:
                return _Ending(failing, "replay")
            return _Ending(self._generate())
        except _Stop:
            return _Ending(self.tally.best, budget_exhausted=True)
        except KeyboardInterrupt as exc:
            return _Ending(self.tally.best, signal=signal_name(exc))

    def _replay(self) -> Evaluation | None:
        for case in self.options.replay:
            if self.options.params is not None and not self.options.params.matches(case):
                continue  # a corpus case of other weights: not this pinned run's premise (a model ignores them)
            ev = self._run_one(case)
            if not ev.comparison.passed:
                return ev
        return None

    def _generate(self) -> Evaluation | None:
        import hypothesis
        from hypothesis import given

        test = given(cases_for(self.loaded.info, self.options, self.scope))(self._body())
        # Seed before settings: @seed alone switches the example database off, and a seeded
        # fuzz worker sharing a database must still replay (and store) failures.
        test = hypothesis.seed(self.seed)(test)
        test = _settings(self.options, self.database)(test)
        # Key stored examples by what they mean, not by this closure's source (see conformance.run._database):
        # the slice drawn from (a worker's share of the dtypes draws other cases from the same choices).
        test._hypothesis_internal_database_key = database_key(
            self.loaded.target, self.scope.features, self.scope.drawn_dtypes(self.options), self.options.generation)
        unrepeatable = (hypothesis.errors.Flaky, *((_GROUP,) if _GROUP is not None else ()))
        try:
            test()
        except Nonconformance as exc:
            return exc.evaluation
        except unrepeatable as exc:
            return self._flaky_to_fault(exc)
        return None

    def _body(self) -> Any:
        from hypothesis import target as hyp_target

        options, tally = self.options, self.tally
        # How many cases of each seeded batch this run uses: the last batch is cut at
        # max_examples, and Hypothesis' replay of a failing batch must run the same cases.
        used: dict[int, int] = {}

        def body(batch: list[Case]) -> None:
            seed = getattr(batch, "seed", None)
            if seed is not None:
                if seed not in used and self.loaded.info.accepts is not None:
                    tally.rejected += max(0, SEEDED_BATCH - len(batch))  # filtered out by accepts= (cases_for)
                left = max(1, options.max_examples - tally.examples)
                batch = batch[: used.setdefault(seed, min(len(batch), left))]
            worst = None
            try:
                for case, pending in zip(batch, submit_all(batch, self.oracle, overlap=self._overlap())):
                    ev = self._run_one(case, pending)
                    if ev.comparison.score != float("inf"):
                        worst = max(worst or 0.0, min(ev.comparison.score, 1e12))
                    if not ev.comparison.passed:
                        raise _failure_class(ev.comparison.kind or "mismatch")(ev)
            finally:
                if worst is not None:
                    hyp_target(worst, label="error / allowed error")

        return body

    def _run_one(self, case: Case, pending: PendingResult | None = None) -> Evaluation:
        SIGNALS.raise_pending()
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Stop()
        tally, options = self.tally, self.options
        tally.examples += 1
        key = _case_key(case) if self.hung else ""
        if key in self.hung:  # Hypothesis replays a failing example: a hang found in this run is not waited for twice
            ev = self.hung[key]
            tally.record(ev)
            return ev
        try:
            ev = evaluate(case, self.executor, self.oracle, judge=self.judge, pending=pending, overlap=self._overlap())
            if (ev.comparison.passed and self.loaded.info.deterministic and options.determinism_every
                    and tally.examples % options.determinism_every == 0):
                ev = rerun_check(ev, self.executor, judge=self.judge)
        except TimeoutError:  # the budget ended mid-call, before the call's timeout could tell a hang
            tally.examples -= 1
            raise _Stop() from None
        except KeyboardInterrupt:  # Ctrl-C/SIGTERM mid-example (say, waiting for TensorFlow): not an example run
            tally.examples -= 1
            raise
        if ev.comparison.kind == "hang":
            self.hung[_case_key(case)] = ev
        tally.record(ev)
        self._progress(None if ev.comparison.passed else ev.comparison.kind)
        return ev

    def _overlap(self) -> bool:
        """Whether the oracle runs on its thread while the candidate runs; not until TensorFlow is imported (in
        the background, conformance/oracle/_preload.py): until then each case runs the candidate first."""
        return self.options.overlap_oracle and getattr(self.oracle, "ready", True)

    def _progress(self, kind: str | None, *, force: bool = False) -> None:
        now = time.monotonic()
        tally = self.tally
        # Every half second, and at the first failure (shrinking fails many times: don't flood).
        first_failure = kind is not None and tally.failures == 1
        if self.options.progress and (now - tally.last_progress > 0.5 or first_failure or force):
            tally.last_progress = now
            self.options.progress(Progress(tally.examples, now - self.started, tally.failures, kind,
                                           total=self.options.max_examples))

    def _flaky_to_fault(self, exc: BaseException) -> Evaluation:
        """Hypothesis saw a failure that did not repeat: the candidate is not deterministic."""
        best = self.tally.best
        if best is None:
            # No candidate failure behind it: an error of the harness (the oracle, say) that did not
            # repeat.  Never a silent "conformant": the run ends in that error.
            raise exc
        if best.comparison.kind == "nondeterminism":  # found by a re-run check: its message says more
            return best
        message = f"the same case failed once and passed when re-run ({best.comparison.message})"
        cmp = Comparison(passed=False, kind="nondeterminism", message=message, score=float("inf"),
                         max_abs_error=best.comparison.max_abs_error)
        return Evaluation(best.case, cmp, best.oracle, best.candidate)

    def _counterexample(self, ending: _Ending) -> tuple[Counterexample, str | None]:
        """The finished counterexample (minimized and explained unless interrupted), and the signal if any."""
        failing = ending.failing
        assert failing is not None
        try:
            cx = finish_counterexample(failing, ending.source, self.executor, self.oracle, self.options,
                                       self.judge, self.scope.dtypes, skip_minimize=ending.signal is not None)
            return cx, ending.signal
        except KeyboardInterrupt as exc:
            cx = Counterexample(failing.case, failing, failing.case, ending.source, self.loaded.target)
            return cx, ending.signal or signal_name(exc)

    def _result(self, ending: _Ending, cx: Counterexample | None, signal: str | None) -> CheckResult:
        tally = self.tally
        # A check asked for examples that ran none (its time budget spent loading TensorFlow, say, or every case
        # turned down by accepts=) has shown nothing: never "conformant".  A fuzz slice (unbounded) may run none.
        empty = cx is None and tally.examples == 0 and self.options.max_examples < _UNBOUNDED
        return CheckResult(
            verdict="error" if empty else "conformant" if cx is None else "nonconformant",
            error=(f"no example ran (of {self.options.max_examples} asked"
                   + (f"; the {self.options.budget_seconds:g} s budget ended first)" if ending.budget_exhausted
                      else f"; {tally.rejected} drawn case(s) turned down by the candidate's accepts=)"
                      if tally.rejected else ")")) if empty else None,
            target=self.loaded.target, candidate=self.loaded.info, examples=tally.examples,
            elapsed=time.monotonic() - self.started, seed=self.seed, counterexample=cx,
            interrupted=signal is not None, signal=signal, budget_exhausted=ending.budget_exhausted,
            oracle_deviations=tally.deviations, oracle_deviation_examples=tuple(tally.deviation_examples),
            max_score=tally.max_score, max_abs_error=tally.max_abs, features=self.scope.sorted_features(),
            dtypes=self.scope.sorted_dtypes(), tolerances=self.options.tolerances,
            weights=None if self.options.params is None else self.options.params.describe(),
            max_abs_error_relative=tally.max_abs_relative, rejected_by_accepts=tally.rejected,
            examples_asked=self.options.max_examples if self.options.max_examples < _UNBOUNDED else None,
        )


def _case_key(case: Case) -> str:
    """A digest of everything a case holds (its config, row lengths and arrays)."""
    digest = hashlib.sha256(repr((case.config, case.lengths().tolist())).encode())
    for name, array in sorted(case.arrays().items()):
        if array is not None:
            digest.update(name.encode() + str(array.dtype).encode() + str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def check(
    target: str | LoadedCandidate | Any,
    options: CheckOptions | None = None,
    *,
    executor: Executor | None = None,
    oracle: Oracle | None = None,
) -> CheckResult:
    """Check one candidate against the oracle; never raises for candidate misbehaviour.

    ``target``: a target string, a LoadedCandidate, or a Python object :func:`conformance.candidates.resolve`
    takes (a callable ``fn(case)``, a module holding one ``@candidate`` function, a model object).
    """
    loaded = resolve(target)
    options = options or CheckOptions()
    # The oracle computes on its own thread beside the candidate and the judge (conformance/run/_threads.py);
    # the cap comes first: the run's start begins TensorFlow's import, which loads libraries with pools.
    with (pools_beside_the_oracle(candidate_env=loaded.info.env) if options.overlap_oracle
          else contextlib.nullcontext()):
        return _CheckRun(loaded, options, executor, oracle).execute()
