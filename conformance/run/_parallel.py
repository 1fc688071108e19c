"""``check --workers N``: one run split across N worker processes.

Each worker is a fresh (spawned) process that runs the ordinary serial
:func:`conformance.run._runner.check` on its share of the examples, with its own
TensorFlow oracle and executor and its own Hypothesis seed.  The parent only
coordinates: it never imports TensorFlow, so N workers cost N TF imports, not
N + 1.

* Seeds: worker 0 runs with the run's seed itself (so ``--workers 1`` is the
  serial run), worker i > 0 with a seed derived from it; without ``--seed`` a
  random base seed is drawn.
* Examples: ``max_examples`` is split as evenly as possible; a run's replay
  cases (``--corpus``) go to worker 0, which replays them first, as serially.
* Dtypes: where the run covers at least as many dtypes as there are workers, each
  worker draws only its share of them (:func:`dtype_shards`) and its share of the
  examples in proportion.  The oracle builds its graphs per dtype (about 0.35 s of
  Python each, eight per dtype), so a worker then builds only its own dtypes' graphs
  instead of every worker building all of them; the run as a whole draws the same
  distribution (the dtype is drawn uniformly).
* A failure anywhere ends the run as it does serially: once a worker reports
  one, the parent asks the workers that have seen none to stop (they check at
  their next progress report, about every half second), and the failing
  workers shrink and post-minimise as usual.
* Merging: examples are summed; the counterexample is the simplest of the
  workers' minimized ones.  Because the post-minimiser is deterministic and
  Hypothesis' shrinking converges, a failure ends in the same minimized case
  whichever worker (or a serial run) found it (tests/test_parallel.py checks
  this on ``seed-missing-forget-bias``).
* Ctrl-C / SIGTERM: the parent forwards the signal, collects what every worker
  found so far, and returns an interrupted result; nothing computed is lost.
  A worker that dies without a result (e.g. an in-process candidate crashed it)
  makes the verdict ``error`` unless another worker found a counterexample.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import pickle
import queue as queue_module
import random
import signal
import sys
import time
from typing import Any

from conformance.candidates import LoadedCandidate, resolve
from conformance.outcome import CheckResult, Counterexample, Progress
from conformance.run._minimize import simplicity_key
from conformance.run._options import CheckOptions
from conformance.run._scope import Scope, scope
from conformance.run._threads import one_thread_per_worker
from conformance.spec import InvalidArgument, Terminated, check_int, signal_name

#: How long the parent waits for interrupted workers to hand in what they found.
GRACE_SECONDS = 60.0


def worker_seeds(seed: int, workers: int) -> list[int]:
    """Worker 0 gets ``seed`` itself; worker i > 0 a 64-bit seed derived from ``(seed, i)``."""
    derived = [int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "big") for i in range(workers)]
    return [seed] + derived[1:]


#: ``--workers auto``: examples a worker must have to itself before one is started.  A worker
#: pays its own interpreter and TensorFlow import (~4 s of a core) and runs its oracle inline, where
#: a serial run overlaps its oracle with the candidate on a second core; it builds (or imports from
#: the graph cache) only its share of the dtypes' graphs.  Measured on 2 cores, numpy-reference,
#: serial vs --workers 2: 2,000 examples 22.6 s vs 15.3 s (graph cache off), 19.3 s vs 13.7 s (cache
#: warm); 1,000 examples 17.3 s vs 12.7 s (off), 11.4 s vs 9.3 s (warm); 500: 9.8 s vs 8.6 s (warm)
#: (README "When workers help").
AUTO_EXAMPLES_PER_WORKER = 1000
#: Cores a worker is counted to use: its own, its oracle inline (the workers fill the cores).
AUTO_CORES_PER_WORKER = 1
#: Most workers ``auto`` starts (each holds its own TensorFlow, ~1 GB).
AUTO_MAX_WORKERS = 8


def auto_workers(max_examples: int, cpus: int | None = None) -> int:
    """How many workers ``--workers auto`` starts: 1 (in process) unless the run is long enough and
    there are cores enough for each worker to pay back its start-up (AUTO_EXAMPLES_PER_WORKER examples
    and AUTO_CORES_PER_WORKER cores each)."""
    check_int("max_examples", max_examples, minimum=1)
    if cpus is None:
        affinity = getattr(os, "sched_getaffinity", None)
        cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return max(1, min(cpus // AUTO_CORES_PER_WORKER, max_examples // AUTO_EXAMPLES_PER_WORKER, AUTO_MAX_WORKERS))


def split_examples(total: int, workers: int, weights: list[int] | None = None) -> list[int]:
    """``total`` examples over ``workers`` as evenly as possible (earlier workers get the remainder), or in
    proportion to ``weights`` (one per worker; largest remainders first, earlier workers on ties)."""
    if weights is None:
        share, extra = divmod(total, workers)
        return [share + (1 if i < extra else 0) for i in range(workers)]
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    by_remainder = sorted(range(workers), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def dtype_shards(dtypes: tuple[str, ...], workers: int) -> list[tuple[str, ...]] | None:
    """Each worker's dtypes (round robin over ``dtypes``) when there are at least as many as workers, else None
    (every worker draws every dtype)."""
    if workers < 2 or len(dtypes) < workers:
        return None
    return [dtypes[i::workers] for i in range(workers)]


class _StopRequested(KeyboardInterrupt):
    """Raised in a worker's progress callback when the parent asks it to stop (a KeyboardInterrupt,
    so the runner keeps what it has and Hypothesis neither shrinks nor stores it)."""


def check_parallel(target: str | LoadedCandidate | Any, options: CheckOptions | None = None, *,
                   workers: int) -> CheckResult:
    """Run :func:`conformance.run._runner.check` for ``target`` split across ``workers`` processes.

    Returns one merged :class:`CheckResult` (``examples`` summed, the simplest
    counterexample, ``workers`` holding each worker's summary).
    """
    check_int("workers", workers, minimum=1)
    options = options or CheckOptions()
    loaded = resolve(target)
    loaded.require_importable("workers")
    run_scope = scope(loaded.info, options)  # bad options fail here, before any process starts
    if options.database is not None and not isinstance(options.database, (str, os.PathLike)):
        raise InvalidArgument(f"database={options.database!r}: with workers, give a directory path or a redis:// URL")
    workers = min(workers, options.max_examples)
    base_seed = options.seed if options.seed is not None else random.getrandbits(63)
    shards = dtype_shards(run_scope.sorted_dtypes(), workers)
    shares = split_examples(options.max_examples, workers, None if shards is None else [len(s) for s in shards])
    # Workers that fill the cores run their oracle inline: an oracle thread each would only
    # oversubscribe the cores (a serial run's oracle thread is what uses its second core).
    overlap = options.overlap_oracle and workers < (os.cpu_count() or 1)
    plans = [
        dataclasses.replace(options, max_examples=n, seed=s, progress=None, replay=options.replay if i == 0 else (),
                            overlap_oracle=overlap, draw_dtypes=None if shards is None else shards[i])
        for i, (n, s) in enumerate(zip(shares, worker_seeds(base_seed, workers)))
    ]
    for plan in plans:
        _check_picklable(plan)

    if options.progress:  # a first report before the workers spend seconds importing TensorFlow
        options.progress(Progress(0, 0.0, 0, total=options.max_examples))
    started = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    stop = ctx.Event()
    procs = [ctx.Process(target=_worker_main, args=(i, loaded.target, plan, messages, stop, os.getpid()), daemon=True,
                         name=f"lstm-conformance-worker-{i}")
             for i, plan in enumerate(plans)]
    with one_thread_per_worker():
        for p in procs:
            p.start()
    collector = _Collector(workers, options, started)
    interrupted: str | None = None
    try:
        collector.collect(messages, procs, stop)
    except KeyboardInterrupt as exc:
        interrupted = signal_name(exc)
        stop.set()
        for p in procs:
            if p.is_alive():
                _send(p, signal.SIGTERM if interrupted == "SIGTERM" else signal.SIGINT)
        collector.collect(messages, procs, stop, deadline=time.monotonic() + GRACE_SECONDS, shielded=True)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
    if options.progress:  # the display ends on the workers' final count, not the last throttled report
        options.progress(Progress(sum(collector.examples), time.monotonic() - started, sum(collector.failures),
                                  total=options.max_examples))
    # The seed the workers were derived from, drawn above when none was given: `--seed` replays the run.
    recorded = dataclasses.replace(options, seed=base_seed)
    result = _merge(collector, loaded, recorded, run_scope, time.monotonic() - started)
    return result.replace(interrupted=True, signal=interrupted) if interrupted else result


def _check_picklable(plan: CheckOptions) -> None:
    try:
        pickle.dumps(plan)
    except Exception as exc:
        raise InvalidArgument(f"options cannot be sent to worker processes ({type(exc).__name__}: {exc})") from None


def _send(proc: Any, sig: int) -> None:
    try:
        os.kill(proc.pid, sig)
    except (ProcessLookupError, TypeError):
        pass


class _Collector:
    """The parent's view of the workers: progress, results, deaths."""

    def __init__(self, workers: int, options: CheckOptions, started: float):
        self.workers = workers
        self.options = options
        self.started = started
        self.examples = [0] * workers
        self.failures = [0] * workers
        self.results: dict[int, CheckResult] = {}
        self.summaries: dict[int, dict[str, Any]] = {}
        self.errors: dict[int, str] = {}
        self.idle: set[int] = set()  # interrupted before their run began
        self._last_progress = 0.0

    def finished(self, i: int) -> bool:
        return i in self.results or i in self.errors or i in self.idle

    def done(self) -> bool:
        return all(self.finished(i) for i in range(self.workers))

    def collect(self, messages: Any, procs: list[Any], stop: Any, *, deadline: float | None = None,
                shielded: bool = False) -> None:
        """Read messages until every worker handed in a result or died (or ``deadline`` passed)."""
        while not self.done():
            if deadline is not None and time.monotonic() > deadline:
                for i in range(len(procs)):
                    if not self.finished(i):
                        self.errors[i] = f"worker {i} did not finish within {GRACE_SECONDS:g} s of the interrupt"
                return
            try:
                message = messages.get(timeout=0.2)
            except queue_module.Empty:
                self._reap(messages, procs, stop)
                continue
            except KeyboardInterrupt:
                if shielded:  # a second Ctrl-C while collecting: keep collecting what is left
                    continue
                raise
            self._handle(message, stop)

    def _reap(self, messages: Any, procs: list[Any], stop: Any) -> None:
        dead = [i for i, p in enumerate(procs) if not p.is_alive() and not self.finished(i)]
        if not dead:
            return
        # A worker's last messages may still be in the pipe when it is seen dead: read them first.
        while True:
            try:
                self._handle(messages.get(timeout=0.1), stop)
            except queue_module.Empty:
                break
        for i in dead:
            if self.finished(i):
                continue
            # Dead with nothing sent: a crash (e.g. an in-process candidate segfaulted) or a kill.
            code = procs[i].exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            self.errors[i] = (f"worker {i} died ({how}) without a result; an in-process candidate that crashes "
                              f"takes its worker down: run with --isolate to make that a finding")

    def _handle(self, message: tuple, stop: Any) -> None:
        kind, index = message[0], message[1]
        if kind == "progress":
            _, _, examples, failures, last_kind = message
            self.examples[index], self.failures[index] = examples, failures
            if failures:
                stop.set()  # a failure ends the run, as serially: the others stop, this one shrinks
            self._report(last_kind)
        elif kind == "result":
            _, _, result, summary = message
            self.results[index] = result
            self.summaries[index] = summary
            self.examples[index] = result.examples
            if result.counterexample is not None:
                stop.set()
            self._report(None)
        elif kind == "error":
            self.errors[index] = message[2]
        elif kind == "interrupted":
            self.idle.add(index)

    def _report(self, last_kind: str | None) -> None:
        now = time.monotonic()
        if self.options.progress and (now - self._last_progress > 0.5 or last_kind):
            self._last_progress = now
            self.options.progress(Progress(sum(self.examples), now - self.started, sum(self.failures), last_kind,
                                           total=self.options.max_examples))


def _merge(collector: _Collector, loaded: LoadedCandidate, options: CheckOptions, run_scope: Scope,
           elapsed: float) -> CheckResult:
    results = [collector.results[i] for i in sorted(collector.results)]
    failing = [r.counterexample for r in results if r.counterexample is not None]
    errors = [r.error for r in results if r.error] + [collector.errors[i] for i in sorted(collector.errors)]
    return CheckResult(
        verdict="nonconformant" if failing else ("error" if errors else "conformant"),
        target=loaded.target, candidate=loaded.info, examples=sum(collector.examples),
        elapsed=elapsed, seed=options.seed, features=run_scope.sorted_features(), dtypes=run_scope.sorted_dtypes(),
        counterexample=min(failing, key=_simplicity) if failing else None,
        error="; ".join(errors) if errors else None,
        # A worker stopped on request reports itself interrupted; the run as a whole is not.
        budget_exhausted=any(r.budget_exhausted for r in results),
        oracle_deviations=sum(r.oracle_deviations for r in results),
        oracle_deviation_examples=tuple(e for r in results for e in r.oracle_deviation_examples)[:5],
        max_score=max((r.max_score for r in results), default=0.0),
        max_abs_error=max((r.max_abs_error for r in results), default=0.0),
        max_abs_error_relative=max(results, key=lambda r: r.max_abs_error).max_abs_error_relative if results else 0.0,
        examples_asked=options.max_examples, rejected_by_accepts=sum(r.rejected_by_accepts for r in results),
        tolerances=options.tolerances,
        weights=next((r.weights for r in results if r.weights is not None), None),
        workers=tuple(collector.summaries.get(i, {"worker": i, "error": collector.errors.get(i)})
                      for i in range(collector.workers)),
    )


def _simplicity(cx: Counterexample) -> tuple:
    """Order counterexamples as the serial run would prefer them: a failing replay case first
    (serially it ends the run before generation), then the one simplicity order, then the values."""
    case = cx.case
    return (cx.source != "replay", simplicity_key(case), [sorted(a.reshape(-1).astype(float).tolist())
                                                          for a in case.arrays().values()])


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent is gone, even SIGKILLed itself (prctl(PR_SET_PDEATHSIG), Linux; else nothing).

    The parent's thread that started us waits for us in check_parallel, so it outlives us unless the parent
    dies; and it may have died already, before the prctl: then we leave at once.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def _worker_main(index: int, target: str, plan: CheckOptions, messages: Any, stop: Any, parent: int) -> None:
    """A worker process: the serial check on its share, reporting progress and its result to the parent."""
    _die_with_parent(parent)  # and its isolated workers die with it (conformance.candidates._worker)
    # SIGTERM is raised like Ctrl-C, so the runner keeps what it found (as the CLI does serially).
    signal.signal(signal.SIGTERM, _raise_terminated)
    stopped = False

    def progress(p: Progress) -> None:
        nonlocal stopped
        messages.put(("progress", index, p.examples, p.failures, p.last_kind))
        if stop.is_set() and not p.failures:
            stopped = True
            raise _StopRequested()

    try:
        from conformance.oracle import default_oracle
        from conformance.run._runner import check

        oracle = default_oracle()
        result = check(target, dataclasses.replace(plan, progress=progress), oracle=oracle)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # what is found must reach the parent
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stopped and result.interrupted and result.counterexample is None:
            result = result.replace(interrupted=False, signal=None)
        result = result.replace(candidate=None)  # the parent has its own; a declared callable need not pickle
        summary = {"worker": index, "seed": plan.seed, "examples": result.examples,
                   "elapsed": round(result.elapsed, 3), "verdict": result.verdict, "stopped": stopped,
                   "graph_builds": oracle.graph_builds,
                   "drawn_dtypes": list(plan.draw_dtypes if plan.draw_dtypes is not None else result.dtypes)}
        messages.put(("result", index, result, summary))
    except KeyboardInterrupt:  # interrupted before its run began (e.g. while importing TF): nothing to keep
        messages.put(("interrupted", index))
    except BaseException as exc:  # a harness bug in a worker: tell the parent in one line
        messages.put(("error", index, f"worker {index}: {type(exc).__name__}: {exc}"))
    finally:
        messages.close()
        messages.join_thread()


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()
