"""Time-boxed fuzzing: rotate ``check`` over targets x feature groups x dtypes until a budget is spent.

A *slice* is one target restricted to one feature group and one dtype. Feature
groups are "all" (every feature the target declares, mixed: interactions) and then
each declared feature on its own (so a bug in a rarely drawn combination gets time
of its own). Round one visits, in this order:

1. slices whose example database holds a stored failure (a previous run, or another
   worker sharing the database) and slices with regression-corpus cases to replay;
2. the "all" group of every dtype (float32 first), then each single feature;

later rounds revisit every slice that has not failed yet with a fresh seed.

Time: each slice gets ``slice_seconds`` (default: the budget spread over the plan,
between 5 s and 5 min), less whatever the remaining budget cannot cover; its
minimisation and diagnosis get what its search left unused plus a share of what the
budget has left after it, and no call of an isolated candidate runs past that (its
timeouts adapt to the calls that returned: conformance.candidates.AdaptiveTimeouts),
so the whole run ends within a few seconds of its budget, a hanging candidate included.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from conformance.campaign._fuzz_result import FuzzResult, SliceRun
from conformance.campaign._shard import shard_slices
from conformance.candidates import LoadedCandidate, resolve
from conformance.outcome import Progress
from conformance.run import CheckOptions, check, executor_limits, narrowed
from conformance.spec import (
    DTYPES_SIMPLEST_FIRST,
    FEATURES,
    ConformanceError,
    InvalidArgument,
    signal_name,
)

MIN_SLICE_SECONDS = 5.0
MAX_SLICE_SECONDS = 300.0
#: Below this much budget left, no new slice starts (it could not do useful work).
MIN_USEFUL_SECONDS = 1.5
#: Kept back from minimisation for the last evaluation, closing the slice and writing reports.
SAFETY_SECONDS = 1.0
#: A slice runs until its time is up, not until an example count.
UNBOUNDED_EXAMPLES = 10**9

@dataclasses.dataclass(frozen=True)
class Slice:
    """One target restricted to one feature group and one dtype."""

    target: str
    group: str  # "all", "baseline" (the target declares no feature) or one FEATURES name
    features: frozenset[str]
    dtype: str
    generation: str = "seeded"  # conformance.run._runner.GENERATIONS: part of the database key

    @property
    def label(self) -> str:
        return f"{self.target} {self.group}/{self.dtype}"

    def key(self) -> bytes:
        from conformance.run import database_key

        return database_key(self.target, self.features, {self.dtype}, self.generation)


def plan(candidates: Sequence[LoadedCandidate], template: CheckOptions) -> list[Slice]:
    """Every slice of every candidate, in round order (group-major, then dtype, then target: fair interleaving)."""
    per_target: list[list[Slice]] = []
    for loaded in candidates:
        features, dtypes = narrowed(loaded.info, template)
        ordered_features = [f for f in FEATURES if f in features]
        groups = [("all", frozenset(features))] if features else [("baseline", frozenset())]
        if len(ordered_features) > 1:
            groups += [(f, frozenset({f})) for f in ordered_features]
        per_target.append([Slice(loaded.target, g, fs, d, template.generation) for g, fs in groups
                           for d in DTYPES_SIMPLEST_FIRST if d in dtypes])
    # Interleave: the first slice of every target, then the second of each, ...
    out: list[Slice] = []
    for i in range(max((len(s) for s in per_target), default=0)):
        out.extend(s[i] for s in per_target if i < len(s))
    return out


@dataclasses.dataclass
class FuzzOptions:
    """How a fuzz run is driven.  ``check`` is the template every slice's CheckOptions is derived from."""

    budget_seconds: float
    check: CheckOptions = dataclasses.field(default_factory=CheckOptions)
    #: None, a directory, a ``redis://`` URL or an ExampleDatabase.
    database: Any = None
    corpus: str | None = None
    history: str | None = None
    slice_seconds: float | None = None
    progress: Callable[[FuzzProgress], None] | None = None
    warn: Callable[[str], None] | None = None
    #: When the budget started (time.monotonic()); default: when fuzz() is called.
    clock_start: float | None = None
    #: Kept back at the end of the budget for what the caller does afterwards (writing reports).
    reserve_seconds: float = 0.0
    #: Called between slices and at least every half second of a slice; raises KeyboardInterrupt
    #: (or Terminated) to stop the run, e.g. a signal whose first exception Python swallowed.
    stop_check: Callable[[], None] | None = None
    #: ``(K, N)``: run only the K-th (1-based) of N shares of the plan (conformance.campaign._shard).
    shard: tuple[int, int] | None = None
    #: Called once everything is checked, before TensorFlow is imported (a first line for the user).
    on_start: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        b = self.budget_seconds
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) or b <= 0:
            raise InvalidArgument(f"budget_seconds={b!r} must be a finite number > 0")
        r = self.reserve_seconds
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < b:
            raise InvalidArgument(f"reserve_seconds={r!r} must be >= 0 and less than budget_seconds={b!r}")
        s = self.slice_seconds
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0):
            raise InvalidArgument(f"slice_seconds={s!r} must be a finite number > 0 or None")


@dataclasses.dataclass
class FuzzProgress:
    """What the progress line shows: time, the slice running, examples and findings so far."""

    elapsed: float
    budget: float
    slice: Slice
    slice_number: int  # 1-based count of slices started
    examples: int  # over the whole run, this slice included
    findings: int  # failing slices so far (the one running included once it has failed)
    searching: float = 0.0  # seconds since the first slice started (the TF import excluded)

    @property
    def rate(self) -> float:
        """Examples per second of searching."""
        return self.examples / self.searching if self.searching > 0 else 0.0


def _slice_seed(seed: int | None, sl: Slice, round_no: int) -> int | None:
    # Each slice and round gets its own seed, so a seeded run does not repeat itself
    # when it revisits a slice, and is reproducible as a whole.
    if seed is None:
        return None
    text = f"{seed}:{round_no}:{sl.target}:{sl.group}:{sl.dtype}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _default_slice_seconds(budget: float, n_slices: int) -> float:
    return min(MAX_SLICE_SECONDS, max(MIN_SLICE_SECONDS, budget / max(1, n_slices)))


def fuzz(targets: Sequence[str | LoadedCandidate | Any], options: FuzzOptions, *, oracle: Any = None) -> FuzzResult:
    """Fuzz ``targets`` until ``options.budget_seconds`` is spent; never raises for candidate misbehaviour.

    ``targets``: one target or a list (target strings, callables ``fn(case)``, modules; see
    :func:`conformance.candidates.resolve`). Raises InvalidArgument (before any example runs) for bad
    targets, options, database, corpus or history.
    """
    return _FuzzRun(targets if isinstance(targets, (list, tuple)) else [targets], options, oracle).run()


class _FuzzRun:
    """The state of one fuzz run: its clock, executors (one per target, kept across slices), what ran."""

    def __init__(self, targets: Sequence[str | LoadedCandidate | Any], options: FuzzOptions, oracle: Any) -> None:
        from conformance.campaign._history import check_history_path
        from conformance.run import counting_database, describe_database, load_corpus, open_database, warn_stderr

        self.started = options.clock_start if options.clock_start is not None else time.monotonic()
        self.deadline = self.started + options.budget_seconds - options.reserve_seconds
        self.options = options
        candidates: list[LoadedCandidate] = []
        for t in targets:
            loaded = resolve(t)
            if all(c.target != loaded.target for c in candidates):
                candidates.append(loaded)
        if not candidates:
            raise InvalidArgument("no TARGET given")
        self.by_target = {c.target: c for c in candidates}
        self.slices = plan(candidates, options.check)
        if options.shard is not None:
            self.slices = shard_slices(self.slices, *options.shard)
        db = open_database(options.database, warn=options.warn or warn_stderr)
        self.db = counting_database(db) if db is not None else None
        self.corpus = load_corpus(options.corpus, warn=options.warn or warn_stderr) if options.corpus else []
        if options.history:
            check_history_path(options.history)
        self.oracle = oracle
        self.executors: dict[str, Any] = {}
        self.replayed: dict[str, set[int]] = {c.target: set() for c in candidates}  # corpus entries already run
        self.slice_seconds = options.slice_seconds or _default_slice_seconds(options.budget_seconds, len(self.slices))
        self.examples = 0
        self.findings = 0
        now = datetime.datetime.now(datetime.timezone.utc)
        self.result = FuzzResult(
            runs=[], candidates=candidates, elapsed=0.0, budget_seconds=options.budget_seconds,
            seed=options.check.seed, database=describe_database(options.database), corpus=options.corpus,
            run_id=now.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6],
            started_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"), options=options,
        )
        self.search_started: float | None = None

    def corpus_cases(self, sl: Slice) -> list[tuple[int, Any]]:
        """(index, case) of the corpus entries this slice covers and its target has not replayed yet."""
        from conformance.run import select

        info = self.by_target[sl.target].info
        done = self.replayed[sl.target]
        return [(i, e.case) for i, e in enumerate(self.corpus)
                if i not in done and select([e], info, sl.features, {sl.dtype})]

    def order(self) -> list[Slice]:
        """The plan with known failures first: stored in the database, then waiting in the corpus."""
        from conformance.run import stored_failures

        known = [sl for sl in self.slices if self.db is not None and stored_failures(self.db, sl.key())]
        queued = [sl for sl in self.slices if sl not in known and self.corpus_cases(sl)]
        return known + queued + [sl for sl in self.slices if sl not in known and sl not in queued]

    def run(self) -> FuzzResult:
        from conformance.oracle import default_oracle, import_tensorflow, tensorflow_version

        result = self.result
        failed: set[Slice] = set()
        try:
            if self.options.on_start:
                self.options.on_start()
            # The TF import is part of the budget: pay it before timing any slice (the oracle imports it lazily).
            import_tensorflow()
            result.tensorflow = tensorflow_version()
            self.oracle = self.oracle or default_oracle()
            order = self.order()
            self.search_started = time.monotonic()
            round_no = 0
            while not result.interrupted:
                round_no += 1
                ran_any = False
                for sl in order:
                    if sl in failed:
                        continue
                    if self.options.stop_check:
                        self.options.stop_check()
                    if self.deadline - time.monotonic() < MIN_USEFUL_SECONDS:
                        break
                    ran_any = True
                    run = self.run_slice(sl, round_no)
                    result.runs.append(run)
                    if run.verdict != "conformant":
                        failed.add(sl)  # revisiting it would only find the same failure again
                    if run.result is not None and run.result.interrupted:
                        result.interrupted, result.signal = True, run.result.signal
                        break
                if not ran_any or self.deadline - time.monotonic() < MIN_USEFUL_SECONDS:
                    break
        except KeyboardInterrupt as exc:  # between slices, or while importing TF
            result.interrupted = True
            result.signal = signal_name(exc)
        finally:
            for executor in self.executors.values():
                try:
                    executor.close()
                except Exception:  # a worker that will not close must not cost the report
                    pass
            result.elapsed = time.monotonic() - self.started
        if not result.runs and not result.interrupted:
            result.error = (f"the {self.options.budget_seconds:g} s budget was spent before any slice could start "
                            f"(starting up, TensorFlow's import included, took {result.elapsed:.1f} s)")
        return result

    def run_slice(self, sl: Slice, round_no: int) -> SliceRun:
        from conformance.candidates import make_executor

        options, template = self.options, self.options.check
        now = time.monotonic()
        remaining = self.deadline - now
        run = SliceRun(sl, round_no, now - self.started, _slice_seed(template.seed, sl, round_no), None)
        budget = max(0.1, min(self.slice_seconds, remaining - min(5.0, 0.3 * remaining)))
        after = max(0.4, min(max(5.0, 0.25 * options.budget_seconds), remaining - budget - SAFETY_SECONDS))
        # The search stops early enough to leave time for minimising and diagnosing what it finds, which end by
        # finish_by with what the search left unused (conformance.run._finish); no isolated call runs past it.
        finish_by = now + budget + after
        key = sl.key()
        fetched_before = self.db.fetched.get(key, 0) if self.db is not None else 0
        replay = self.corpus_cases(sl) if round_no == 1 else []
        number = len(self.result.runs) + 1

        def progress(p: Progress) -> None:
            if options.stop_check:
                options.stop_check()
            if p.failures and run.first_failure_example is None:
                run.first_failure_example = p.examples
            if options.progress:
                now = time.monotonic()
                options.progress(FuzzProgress(now - self.started, options.budget_seconds, sl, number,
                                              self.examples + p.examples, self.findings + (1 if p.failures else 0),
                                              now - (self.search_started or now)))

        progress(Progress(0, 0.0, 0))
        slice_options = dataclasses.replace(
            template, features=sl.features, dtypes={sl.dtype}, database=self.db, replay=[c for _, c in replay],
            budget_seconds=budget, finish_by=finish_by, max_examples=UNBOUNDED_EXAMPLES,
            seed=run.seed, progress=progress, large_round=round_no,  # later rounds draw larger cases
        )
        run.corpus_replayed = len(replay)
        loaded = self.by_target[sl.target]
        try:
            executor = self.executors.get(sl.target)
            if executor is None:
                executor = self.executors[sl.target] = make_executor(loaded, **executor_limits(template))
            run.result = check(loaded, slice_options, executor=executor, oracle=self.oracle)
        except ConformanceError as exc:
            run.error = str(exc)
        except Exception as exc:  # a harness bug in one slice must not cost the rest of the night
            run.error = f"internal error: {type(exc).__name__}: {exc}"
        self.replayed[sl.target].update(i for i, _ in replay)
        if self.db is not None:
            run.db_replayed = self.db.fetched.get(key, 0) - fetched_before
        if run.result is not None:
            self.examples += run.result.examples
        self.findings += run.verdict == "nonconformant"
        return run
