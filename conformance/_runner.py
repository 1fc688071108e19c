"""Drives Hypothesis over one candidate and owns a run's lifecycle.

``check(target, options)``:

1. replays ``options.replay`` cases (a regression corpus) first;
2. lets Hypothesis generate cases narrowed to what the candidate declares (by
   default 16 per example from one seed, see GENERATIONS), steering toward large
   errors with ``hypothesis.target`` (and, drawing every choice, shrink a failure);
3. post-minimises the failing case (conformance._minimize);
4. returns a :class:`CheckResult` that reports are written from.

A time budget, Ctrl-C or SIGTERM (raised as KeyboardInterrupt by the CLI) end
the run early with everything found so far kept.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Collection, Mapping, Sequence

from conformance._compare import Comparison, Tolerance
from conformance._database import database_key
from conformance._errors import CandidateFault, InvalidArgument, Terminated, raise_pending_signal
from conformance._determinism import rerun_check
from conformance._evaluate import Evaluation, Executor, evaluate, make_executor, submit_all
from conformance._minimize import minimize
from conformance._spec import DTYPES, FEATURES, Case
from conformance.candidates import CandidateInfo, LoadedCandidate, resolve


#: How a run draws cases.  "seeded": Hypothesis draws one seed per batch of SEEDED_BATCH cases,
#: which a numpy RNG turns into cases of the same distribution as strategies.cases() (one choice
#: per batch instead of 30-60 per case: several times the examples per second); a failure is
#: minimised by conformance._minimize alone.  "choices": strategies.cases(), every choice a
#: Hypothesis choice; Hypothesis shrinks a failure, then conformance._minimize.
GENERATIONS = ("seeded", "choices")
SEEDED_BATCH = 16


@dataclasses.dataclass
class CheckOptions:
    """How a run is driven.  ``database`` is None, a directory path, a ``redis://`` URL or an ExampleDatabase."""

    max_examples: int = 100
    seed: int | None = None
    tolerances: Mapping[str, Tolerance] | None = None
    database: Any = None
    features: Collection[str] | None = None  # further narrow what the candidate declares
    dtypes: Collection[str] | None = None
    max_batch: int = 4
    max_time: int = 24
    max_units: int = 16
    max_input_size: int = 16
    long_sequences: bool = True
    #: Shortest ordinary sequence (the matrix's long-sequence column sets 100).
    min_time: int = 1
    #: Features every drawn case exercises (the matrix forces one feature per column).
    require_features: Collection[str] = ()
    #: Draw kernel and bias densely at these scales (strategies.params), e.g. saturating ones.
    weight_scales: tuple[float, ...] | None = None
    minimize: bool = True
    minimize_seconds: float = 60.0
    #: Explain a mismatch after minimisation: convention variants, localization, structure (conformance._diagnose).
    diagnose: bool = True
    diagnose_seconds: float = 30.0
    budget_seconds: float | None = None
    replay: Sequence[Case] = ()
    progress: Callable[["Progress"], None] | None = None
    #: Run the candidate in a worker process (conformance._isolation) with these limits.
    isolate: bool = False
    timeout_seconds: float | None = None
    memory_limit_mb: int | None = None
    #: Re-run every Nth passing example of a candidate declaring ``deterministic=True`` (0: never).
    determinism_every: int = 10
    #: How cases are drawn (see GENERATIONS): "seeded" (fast; the post-minimiser shrinks a failure)
    #: or "choices" (every choice a Hypothesis choice, which Hypothesis shrinks before the post-minimiser).
    generation: str = "seeded"
    #: Run the oracle on its own thread while the candidate runs (TF releases the GIL, so it
    #: uses a second core); check_parallel turns it off where its workers already fill the cores.
    overlap_oracle: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.max_examples, bool) or not isinstance(self.max_examples, int) or self.max_examples < 1:
            raise InvalidArgument(f"max_examples={self.max_examples!r} must be an integer >= 1")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise InvalidArgument(f"seed={self.seed!r} must be an integer")
        for name in ("max_batch", "max_time", "max_units", "max_input_size", "min_time"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidArgument(f"{name}={v!r} must be an integer >= 1")
        if self.budget_seconds is not None and not self.budget_seconds > 0:
            raise InvalidArgument(f"budget_seconds={self.budget_seconds!r} must be > 0")
        v = self.determinism_every
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidArgument(f"determinism_every={v!r} must be an integer >= 0")
        if self.generation not in GENERATIONS:
            raise InvalidArgument(f"generation={self.generation!r} must be one of {', '.join(GENERATIONS)}")


@dataclasses.dataclass
class Progress:
    examples: int
    elapsed: float
    failures: int
    last_kind: str | None = None

    @property
    def rate(self) -> float:
        return self.examples / self.elapsed if self.elapsed > 0 else 0.0


@dataclasses.dataclass
class Counterexample:
    """A minimized failing case and what it showed.  ``diagnosis``/``localization`` are filled by analysis."""

    case: Case
    evaluation: Evaluation
    shrunk_case: Case  # as Hypothesis (or the corpus) left it, before post-minimisation
    source: str = "generated"  # or "replay"
    target: str | None = None
    repro: str | None = None
    diagnosis: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    localization: dict[str, Any] | None = None
    structural: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    diagnosed: bool = False  # True once the diagnosis ran (an empty ``diagnosis`` then means none fits)

    @property
    def comparison(self) -> Comparison:
        return self.evaluation.comparison

    @property
    def kind(self) -> str:
        return self.comparison.kind or "mismatch"


@dataclasses.dataclass
class CheckResult:
    verdict: str  # "conformant", "nonconformant" or "error"
    target: str
    candidate: CandidateInfo
    examples: int
    elapsed: float
    seed: int | None
    counterexample: Counterexample | None = None
    error: str | None = None
    interrupted: bool = False
    signal: str | None = None  # "SIGINT" or "SIGTERM" when interrupted
    budget_exhausted: bool = False
    oracle_deviations: int = 0
    oracle_deviation_examples: list[str] = dataclasses.field(default_factory=list)
    max_score: float = 0.0
    max_abs_error: float = 0.0
    features: list[str] = dataclasses.field(default_factory=list)
    dtypes: list[str] = dataclasses.field(default_factory=list)
    #: The tolerance table the run judged with (None: the documented defaults).
    tolerances: Mapping[str, Tolerance] | None = None
    #: A ``--workers`` run's per-worker summaries (conformance._parallel); empty for a serial run.
    workers: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 143 if self.signal == "SIGTERM" else 130
        return {"conformant": 0, "nonconformant": 1}.get(self.verdict, 2)


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


def narrowed(info: CandidateInfo, options: CheckOptions) -> tuple[frozenset[str], frozenset[str]]:
    """The features and dtypes a run covers: what the candidate declares, narrowed by the options."""
    features = frozenset(info.features)
    dtypes = frozenset(info.dtypes)
    if options.features is not None:
        bad = sorted(set(options.features) - set(FEATURES))
        if bad:
            raise InvalidArgument(f"features={bad!r} unknown; known: {', '.join(FEATURES)}")
        features &= frozenset(options.features)
    if options.dtypes is not None:
        bad = sorted(set(options.dtypes) - set(DTYPES))
        if bad:
            raise InvalidArgument(f"dtype={bad[0]!r} unknown; known: {', '.join(DTYPES)}")
        dtypes &= frozenset(options.dtypes)
        if not dtypes:
            raise InvalidArgument(
                f"dtypes={sorted(options.dtypes)!r}: the candidate supports only {sorted(info.dtypes)}"
            )
    return features, dtypes


def cases_for(info: CandidateInfo, options: CheckOptions):
    """The strategy a run draws from: lists of cases (one per list for ``generation="choices"``,
    SEEDED_BATCH for "seeded"), narrowed to the candidate's declared features, dtypes and sizes
    and to the cases it ``accepts``."""
    import strategies
    from hypothesis import strategies as st

    features, dtypes = narrowed(info, options)
    max_units = min(options.max_units, info.max_units or options.max_units)
    max_input = min(options.max_input_size, info.max_input_size or options.max_input_size)
    max_time = min(options.max_time, info.max_time or options.max_time)
    long_sequences = options.long_sequences and (info.max_time is None or info.max_time >= 100)
    max_long_time = min(160, info.max_time or 160)
    missing = sorted(set(options.require_features) - features)
    if missing:
        raise InvalidArgument(f"require_features={sorted(options.require_features)!r}: {missing} not among the "
                              f"features this run covers ({sorted(features)})")
    if options.min_time > max_time:
        raise InvalidArgument(f"min_time={options.min_time!r} exceeds the longest sequence allowed ({max_time})")
    common = dict(features=features, dtypes=dtypes, max_batch=options.max_batch, min_time=options.min_time,
                  max_time=max_time, max_units=max_units, max_input_size=max_input,
                  require=options.require_features, weight_scales=options.weight_scales)
    accepts = info.accepts
    if options.generation == "choices":
        one = strategies.cases(long_times=st.integers(100, max_long_time) if long_sequences else None, **common)
        # A library limit beyond features/dtypes/sizes (e.g. torch's proj_size < hidden_size).
        return (one.filter(accepts) if accepts is not None else one).map(lambda case: [case])
    batches = strategies.seeded_cases(count=SEEDED_BATCH, long_sequences=long_sequences,
                                      max_long_time=max_long_time, **common)
    if accepts is None:
        return batches
    return batches.map(lambda batch: strategies.CaseBatch(batch.seed, [c for c in batch if accepts(c)]))


def open_database(spec: Any) -> Any:
    """None -> no database; a path -> directory database; ``redis://`` -> Redis; an ExampleDatabase as is."""
    if spec is None:
        return None
    from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

    if isinstance(spec, ExampleDatabase):
        return spec
    text = str(spec)
    if text.startswith("redis://"):
        from conformance._database import redis_database

        return redis_database(text)
    return DirectoryBasedExampleDatabase(text)


def _settings(options: CheckOptions, database: Any):
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
        # Shrinking a seed only finds other random cases: a seeded failure goes to conformance._minimize as found.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target] + ([] if seeded else [Phase.shrink]),
    )


def check(
    target: str | LoadedCandidate,
    options: CheckOptions | None = None,
    *,
    executor: Executor | None = None,
    oracle: Any = None,
) -> CheckResult:
    """Check one candidate against the oracle; never raises for candidate misbehaviour."""
    import hypothesis
    from hypothesis import given, target as hyp_target

    from conformance._oracle import default_oracle

    options = options or CheckOptions()
    loaded = resolve(target) if isinstance(target, str) else target
    own_executor = executor is None
    executor = executor or make_executor(loaded, **executor_limits(options))
    oracle = oracle or default_oracle()
    features, dtypes = narrowed(loaded.info, options)
    started = time.monotonic()
    deadline = started + options.budget_seconds if options.budget_seconds else None
    state: dict[str, Any] = {"examples": 0, "failures": 0, "best": None, "last_progress": 0.0, "max_score": 0.0,
                             "max_abs": 0.0, "deviations": 0, "deviation_examples": []}

    def report_progress(kind: str | None = None) -> None:
        now = time.monotonic()
        # Every half second, and at the first failure (shrinking fails many times: don't flood).
        first_failure = kind is not None and state["failures"] == 1
        if options.progress and (now - state["last_progress"] > 0.5 or first_failure):
            state["last_progress"] = now
            options.progress(Progress(state["examples"], now - started, state["failures"], kind))

    def run_one(case: Case, pending: Any = None) -> Evaluation:
        raise_pending_signal()
        if deadline is not None and time.monotonic() > deadline:
            raise _Stop()
        state["examples"] += 1
        ev = evaluate(case, executor, oracle, tolerances=options.tolerances, pending=pending,
                      overlap=options.overlap_oracle)
        if (ev.comparison.passed and loaded.info.deterministic and options.determinism_every
                and state["examples"] % options.determinism_every == 0):
            ev = rerun_check(ev, executor, tolerances=options.tolerances)
        cmp = ev.comparison
        if cmp.oracle_deviation:
            state["deviations"] += 1
            if len(state["deviation_examples"]) < 5:
                state["deviation_examples"].append(cmp.oracle_deviation)
        if cmp.score != float("inf"):
            state["max_score"] = max(state["max_score"], cmp.score)
            state["max_abs"] = max(state["max_abs"], cmp.max_abs_error)
        if not cmp.passed:
            state["failures"] += 1
            best = state["best"]
            if best is None or _simpler(case, best.case):
                state["best"] = ev
        report_progress(None if cmp.passed else cmp.kind)
        return ev

    result = CheckResult(
        verdict="conformant", target=loaded.target, candidate=loaded.info, examples=0, elapsed=0.0,
        seed=options.seed, features=sorted(features, key=FEATURES.index), dtypes=sorted(dtypes, key=DTYPES.index),
        tolerances=options.tolerances,
    )
    failing: Evaluation | None = None
    source = "generated"
    try:
        for case in options.replay:
            ev = run_one(case)
            if not ev.comparison.passed:
                failing, source = ev, "replay"
                break
        if failing is None:
            strategy = cases_for(loaded.info, options)

            # How many cases of each seeded batch this run uses: the last batch is cut at
            # max_examples, and Hypothesis' replay of a failing batch must run the same cases.
            used: dict[int, int] = {}

            def body(batch: list[Case]) -> None:
                seed = getattr(batch, "seed", None)
                if seed is not None:
                    left = max(1, options.max_examples - state["examples"])
                    batch = batch[: used.setdefault(seed, min(len(batch), left))]
                worst = None
                try:
                    for case, pending in zip(batch, submit_all(batch, oracle, overlap=options.overlap_oracle)):
                        ev = run_one(case, pending)
                        if ev.comparison.score != float("inf"):
                            worst = max(worst or 0.0, min(ev.comparison.score, 1e12))
                        if not ev.comparison.passed:
                            raise _failure_class(ev.comparison.kind or "mismatch")(ev)
                finally:
                    if worst is not None:
                        hyp_target(worst, label="error / allowed error")

            test = given(strategy)(body)
            if options.seed is not None:
                # Seed before settings: @seed alone switches the example database off, and a seeded
                # fuzz worker sharing a database must still replay (and store) failures.
                test = hypothesis.seed(options.seed)(test)
            test = _settings(options, open_database(options.database))(test)
            # Key stored examples by what they mean, not by this closure's source (see conformance._database).
            test._hypothesis_internal_database_key = database_key(loaded.target, features, dtypes,
                                                                   options.generation)
            try:
                test()
            except Nonconformance as exc:
                failing = exc.evaluation
            except (hypothesis.errors.Flaky, BaseExceptionGroup) as exc:  # type: ignore[name-defined]
                failing = _flaky_to_fault(exc, state)
    except _Stop:
        result.budget_exhausted = True
        failing = state["best"]
    except KeyboardInterrupt as exc:
        result.interrupted = True
        result.signal = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        failing = state["best"]
    finally:
        result.examples = state["examples"]
        result.oracle_deviations = state["deviations"]
        result.oracle_deviation_examples = state["deviation_examples"]
        result.max_score = state["max_score"]
        result.max_abs_error = state["max_abs"]
        result.elapsed = time.monotonic() - started
        if own_executor and failing is None:
            executor.close()  # with a failure it stays open (its worker warm) for the minimisation below
    if failing is not None:
        result.verdict = "nonconformant"
        try:
            result.counterexample = _finish_counterexample(
                failing, source, executor, oracle, options, skip_minimize=result.interrupted,
            )
        except KeyboardInterrupt as exc:
            result.interrupted = True
            result.signal = result.signal or ("SIGTERM" if isinstance(exc, Terminated) else "SIGINT")
            result.counterexample = Counterexample(failing.case, failing, failing.case, source, loaded.target)
        finally:
            if own_executor:
                executor.close()
    result.elapsed = time.monotonic() - started
    return result


def executor_limits(options: CheckOptions) -> dict[str, Any]:
    """make_executor keyword arguments from the options (limits only apply to isolated runs)."""
    limits: dict[str, Any] = {"isolate": options.isolate}
    if options.isolate:
        limits.update(timeout_seconds=options.timeout_seconds, memory_limit_mb=options.memory_limit_mb)
    return limits


def _simpler(a: Case, b: Case) -> bool:
    size = lambda c: (c.batch * c.time * (c.config.input_size + c.config.num_units), c.nonzero_values())
    return size(a) < size(b)


def _flaky_to_fault(exc: BaseException, state: dict[str, Any]) -> Evaluation | None:
    """Hypothesis saw a failure that did not repeat: the candidate is not deterministic."""
    best: Evaluation | None = state["best"]
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


def _finish_counterexample(
    failing: Evaluation, source: str, executor: Executor, oracle: Any, options: CheckOptions, *, skip_minimize: bool
) -> Counterexample:
    kind = failing.comparison.kind
    case = failing.case
    final = failing
    if failing.candidate is not None and kind != "nondeterminism" and executor.info.deterministic and not skip_minimize:
        # Wrong numbers that change when the same case runs again: the finding is the nondeterminism.
        rerun = rerun_check(failing, executor, tolerances=options.tolerances)
        if rerun is not failing:
            return Counterexample(case=case, evaluation=rerun, shrunk_case=case, source=source, target=executor.target)
    if options.minimize and not skip_minimize and kind != "nondeterminism":
        last: dict[str, Evaluation] = {}

        def still_fails(trial: Case) -> bool:
            ev = evaluate(trial, executor, oracle, tolerances=options.tolerances)
            if not ev.comparison.passed and ev.comparison.kind == kind:
                last["ev"] = ev
                return True
            return False

        _, dtypes = narrowed(executor.info, options)
        case = minimize(failing.case, still_fails, max_seconds=options.minimize_seconds, dtypes=dtypes,
                        keep_features=options.require_features)
        final = evaluate(case, executor, oracle, tolerances=options.tolerances)
        if final.comparison.passed or final.comparison.kind != kind:
            # The candidate is not a function of its input (it passed on a re-run): keep the original.
            case, final = failing.case, failing
    cx = Counterexample(case=case, evaluation=final, shrunk_case=failing.case, source=source,
                        target=executor.target)
    if options.diagnose and not skip_minimize:
        from conformance._diagnose import analyse

        analyse(cx, executor, tolerances=options.tolerances, max_seconds=options.diagnose_seconds)
    return cx


def is_fault(kind: str | None) -> bool:
    from conformance._errors import FAULT_KINDS

    return kind in FAULT_KINDS


__all__ = ["CheckOptions", "CheckResult", "Counterexample", "Progress", "check", "cases_for", "narrowed",
           "open_database", "CandidateFault"]
