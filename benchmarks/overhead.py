"""Harness overhead per example (issue 20): the harness beside its two real components, in one process session.

    python benchmarks/overhead.py [--examples N] [--seed S] [--rounds R] [--json OUT] [--quick]

Everything is ``check numpy-reference`` on the default distribution (default
:class:`~conformance.run.CheckOptions`: every feature and dtype the candidate declares,
``--generation seeded``, the size tail, determinism re-runs every 10th example) with a fixed
seed.  Measured, in this order:

1. **cases**: one ``check`` of numpy-reference's own :class:`LoadedCandidate` with its ``fn``
   replaced by a recorder that delegates to it (same info, so the same scope and strategy, and
   the same seed: the very cases a harness run draws, verified by the example count), on a
   fresh TFOracle: their count, mean T, the oracle's graph keys and graph builds, and that
   run's wall time (TF import done before, graph builds included: the cold harness).
2. **cold oracle**: a second, fresh TFOracle runs the captured cases in order; each call in
   which ``graph_builds`` went up is timed, and build seconds = that call's time minus the
   same case's warm time (step 4's median), summed over the builds.  This measures the
   builds the way a run meets them (the first run of a graph, where TF optimises it, counted
   in), not a ``warm()`` call.
3. **side by side, warm**, ``--rounds`` rounds (default 3), in a rotating order:
   the oracle alone (``oracle.run(case)`` on step 1's oracle, graphs built: each case timed);
   the candidate alone (numpy-reference's ``fn(case)`` directly, each case timed; the
   executor's ``run`` with its private copy and call guard is timed apart as a second figure);
   the harness (``check("numpy-reference", CheckOptions(max_examples=N, seed=S), oracle=...)``,
   asserted to build no graph).  Rates are medians over the rounds; per-case times are the
   median over the rounds of that case.  The components alone run with the thread pools a
   harness run gives them (``conformance.run.pools_beside_the_oracle``).
4. **the target ratio**: harness examples/s / min(oracle-alone calls/s, candidate-alone
   calls/s) (target >= 0.85).  **The harness's own overhead**, ms per example:
   ``1000 / harness examples/s - mean over the cases of max(oracle_i, candidate_i)`` where
   oracle_i and candidate_i are case i's warm times alone (ms).  The oracle runs on its own
   thread while the candidate runs, so with perfect overlap and nothing else an example would
   cost the slower of the two; everything above that (drawing, packing, comparing, the
   rounding spread, determinism re-runs, Hypothesis, waiting where the overlap fails) is the
   harness's.  ``ideal examples/s = 1000 / mean max(...)``.  **CPU**: ``time.process_time()`` (every
   thread of the process, TF's own included) around each pass and each harness run, per call or
   example (medians over the rounds); with it **the most two workers can gain** over one:
   ``min(2, cores / (CPU per example * serial examples/s))``, at the serial run's CPU per example
   ("now"), and at the least an example can cost (the oracle's plus the candidate's CPU) with the
   serial run at the ratio target (0.85 * the slower component's rate).  Both targets at once need
   the second bound to reach 1.7.
5. **stages**: one more warm harness run under cProfile (main thread only: the oracle's
   thread is not profiled, waiting for it shows as ``PendingRun.result``).  Cumulative times
   of named functions are attributed to disjoint stages (:data:`STAGES`, :func:`attribute`);
   "Hypothesis and the rest" is the profiled wall time minus the named stages.  cProfile's
   per-call cost inflates Python-heavy stages (Hypothesis, drawing, the comparison's small
   numpy calls) more than the candidate's or TF's: read the shares, not the absolute ms.
6. **time to first example**: ``python -m conformance check FILE.py:fn --max-examples 20
   --seed 1 --quiet --format json --report-dir TMP`` in a subprocess, FILE.py a candidate that
   delegates to numpy-reference and writes ``time.time()`` at its first call: from just before
   Popen to that time; the process's wall time too; and ``python -c "import tensorflow"``
   (each ``--repeats`` times, default 3, medians).
7. **workers end to end**: ``python -m conformance check numpy-reference --max-examples 2000
   --seed S --quiet --format json --report-dir TMP --workers K`` for K = 1, 2, alternating,
   ``--worker-rounds`` each (default 2); ratio of median wall times (target >= 1.7).
8. **peak RSS** of a serial ``check`` of 3,000 examples (the same command, --workers left
   out), read as ``RUSAGE_CHILDREN.ru_maxrss`` in an intermediate Python process whose only
   child it is (target <= 1.5 GB).

Wall-clock figures move with the machine's load (printed before and after, with the CPU
count); the ratios are measured side by side.  ``--quick`` shrinks everything (a smoke test,
not a measurement).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TARGET = "numpy-reference"

#: A function in a profile: (path suffix, function name); a pstats key is (filename, first line, name).
Func = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class Stage:
    """A stage of an example: the cumulative time of ``add`` minus that of ``sub`` (functions nested in
    ``add`` that belong to another stage), minus the cumulative time of each (callee, caller) pair in
    ``sub_from`` (a callee's time when called directly by that caller), plus that of each pair in
    ``add_from`` (a ``sub`` function's calls already counted inside another ``sub`` one)."""

    name: str
    add: tuple[Func, ...]
    sub: tuple[Func, ...] = ()
    sub_from: tuple[tuple[Func, Func], ...] = ()
    add_from: tuple[tuple[Func, Func], ...] = ()


_CANDIDATE: Func = ("conformance/candidates/_numpy.py", "numpy_reference")
_EXEC_RUN: Func = ("conformance/candidates/_executor.py", "run")
_RERUN: Func = ("conformance/judge/_determinism.py", "rerun_check")
_SPREAD: Func = ("conformance/judge/_rounding.py", "measure_spread")
_SPEC: Func = ("conformance/spec/_reference.py", "reference_trace")
#: What runs the spec for the spread's noisy runs (inside measure_spread).
_NOISY_RUNS: Func = ("conformance/judge/_rounding.py", "_deviations")
_FINISH: Func = ("conformance/oracle/_oracle.py", "_finish")

#: The stages of one warm example of ``check``, disjoint (each row's functions are not nested in another's,
#: or are subtracted there).  Names read from the code: conformance/run/_runner.py (_body, _run_one),
#: conformance/judge/_evaluate.py, _judge.py, _determinism.py, _rounding.py, conformance/oracle/_oracle.py,
#: strategies/_seeded.py, conformance/candidates/_executor.py.
STAGES: tuple[Stage, ...] = (
    Stage("drawing cases (strategies seeded_cases do_draw)", (("strategies/_seeded.py", "do_draw"),)),
    Stage("oracle: pack + submit (judge submit_all -> TFOracle.submit)", (("conformance/judge/_evaluate.py",
                                                                          "submit_all"),)),
    Stage("oracle: waiting (PendingRun.result, less unpacking)", (("conformance/oracle/_oracle.py", "result"),),
          sub=(_FINISH,)),
    Stage("oracle: unpack result (TFOracle._finish)", (_FINISH,)),
    Stage("candidate fn itself (numpy_reference, re-runs incl.)", (_CANDIDATE,)),
    Stage("executor wrapper (copy, call guard, normalise)", (_EXEC_RUN,), sub=(_CANDIDATE,)),
    Stage("determinism re-run, less its candidate call", (_RERUN,), sub_from=((_EXEC_RUN, _RERUN),)),
    Stage("comparison (Judge.compare, less spread and spec)", (("conformance/judge/_judge.py", "compare"),),
          sub=(_SPREAD, _SPEC), add_from=((_SPEC, _NOISY_RUNS),)),
    # measure_spread runs the spec itself for its noisy runs: those calls are the spread's.
    Stage("rounding spread (measure_spread)", (_SPREAD,)),
    Stage("float64 spec for the spread (reference_trace, not in measure_spread)", (_SPEC,),
          sub_from=((_SPEC, _NOISY_RUNS),)),
    Stage("Hypothesis targeting (hypothesis.target)", (("hypothesis/control.py", "target"),)),
    Stage("tally + progress (Tally.record, _CheckRun._progress)", (("conformance/run/_tally.py", "record"),
                                                                   ("conformance/run/_runner.py", "_progress"))),
)
REST = "Hypothesis and the rest"


def _matches(key: tuple, func: Func) -> bool:
    return key[2] == func[1] and key[0].replace(os.sep, "/").endswith(func[0])


def cumulative(stats: Mapping[tuple, tuple], func: Func) -> float:
    """Cumulative seconds of every profiled function matching ``func``."""
    return sum(v[3] for k, v in stats.items() if _matches(k, func))


def calls(stats: Mapping[tuple, tuple], func: Func) -> int:
    """Calls (primitive, i.e. not recursive ones) of every profiled function matching ``func``."""
    return sum(v[0] for k, v in stats.items() if _matches(k, func))


def cumulative_from(stats: Mapping[tuple, tuple], callee: Func, caller: Func) -> float:
    """Cumulative seconds of ``callee`` in its calls made directly by ``caller``."""
    return sum(c[3] for k, v in stats.items() if _matches(k, callee)
               for ck, c in v[4].items() if _matches(ck, caller))


def attribute(stats: Mapping[tuple, tuple], total_s: float, examples: int,
              stages: tuple[Stage, ...] = STAGES) -> tuple[list[dict[str, Any]], list[str]]:
    """ms per example and share of ``total_s`` per stage, sorted by time, "Hypothesis and the rest" last;
    ``stats`` is ``pstats.Stats(...).stats`` ({(file, line, name): (cc, nc, tt, ct, callers)}); each row
    also counts the calls of its ``add`` functions.  Also the functions that matched nothing, and the
    (callee, caller) pairs whose caller ran but never called that callee directly (a renamed or moved
    function: update :data:`STAGES`)."""
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    for stage in stages:
        for func in stage.add:
            if not any(_matches(k, func) for k in stats):
                missing.append(f"{func[0]}:{func[1]}")
        for callee, caller in stage.sub_from + stage.add_from:
            if any(_matches(k, caller) for k in stats) and not any(
                    _matches(ck, caller) for k, v in stats.items() if _matches(k, callee) for ck in v[4]):
                missing.append(f"{callee[0]}:{callee[1]} called by {caller[0]}:{caller[1]}")
        seconds = (sum(cumulative(stats, f) for f in stage.add) - sum(cumulative(stats, f) for f in stage.sub)
                   - sum(cumulative_from(stats, a, b) for a, b in stage.sub_from)
                   + sum(cumulative_from(stats, a, b) for a, b in stage.add_from))
        rows.append({"stage": stage.name, "seconds": max(seconds, 0.0),
                     "calls": sum(calls(stats, f) for f in stage.add)})
    rows.sort(key=lambda r: -r["seconds"])
    rows.append({"stage": REST, "seconds": total_s - sum(r["seconds"] for r in rows), "calls": None})
    for r in rows:
        r["ms_per_example"] = 1000 * r["seconds"] / max(examples, 1)
        r["share"] = r["seconds"] / total_s if total_s > 0 else 0.0
    return rows, sorted(set(missing))


# --- in-process measurements ----------------------------------------------------------------------------------


def capture(examples: int, seed: int, oracle: Any) -> dict[str, Any]:
    """One ``check`` of numpy-reference with a recorder in place of its fn (same info, so the same cases)."""
    from conformance.candidates import resolve
    from conformance.run import CheckOptions, check

    loaded = resolve(TARGET)
    cases: list = []

    def recorder(case):
        cases.append(case)
        return loaded.fn(case)

    recording = dataclasses.replace(loaded, fn=recorder)
    started = time.perf_counter()
    result = check(recording, CheckOptions(max_examples=examples, seed=seed), oracle=oracle)
    seconds = time.perf_counter() - started
    # A determinism re-run calls the candidate on the same case again: keep each case once (by identity
    # of the arrays handed: every call gets a private copy, so compare the order instead).
    seen: list = []
    for case in cases:
        if seen and _same_case(seen[-1], case):
            continue
        seen.append(case)
    return {"cases": seen, "result": result, "seconds": seconds, "calls": len(cases)}


def _same_case(a: Any, b: Any) -> bool:
    import numpy as np

    if a.config != b.config:
        return False
    x, y = a.arrays(), b.arrays()
    return x.keys() == y.keys() and all(
        (x[k] is None and y[k] is None) or (x[k] is not None and y[k] is not None and x[k].shape == y[k].shape
                                            and np.array_equal(x[k], y[k], equal_nan=True)) for k in x)


def timed_each(fn: Any, cases: list) -> list[float]:
    """Seconds of ``fn(case)`` for each case."""
    out = []
    clock = time.perf_counter
    for case in cases:
        t = clock()
        fn(case)
        out.append(clock() - t)
    return out


def harness_run(examples: int, seed: int, oracle: Any, profile: bool = False) -> dict[str, Any]:
    from conformance.run import CheckOptions, check

    builds = oracle.graph_builds
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = check(TARGET, CheckOptions(max_examples=examples, seed=seed), oracle=oracle)
    if profiler is not None:
        profiler.disable()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    built = oracle.graph_builds - builds
    assert built == 0, f"a warm harness run built {built} graph(s)"
    out = {"examples": result.examples, "seconds": seconds, "examples_per_s": result.examples / seconds,
           "cpu_seconds": cpu_seconds, "verdict": result.verdict, "graph_builds": built}
    if profiler is not None:
        out["stats"] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return out


def cold_oracle(cases: list, warm_ms: list[float]) -> dict[str, Any]:
    """A fresh oracle over the cases in order: the calls that built a graph, less the same case's warm time."""
    from conformance.oracle import TFOracle

    oracle = TFOracle()
    builds, build_s, total = [], 0.0, 0.0
    for case, warm in zip(cases, warm_ms):
        before = oracle.graph_builds
        t = time.perf_counter()
        oracle.run(case)
        dt = time.perf_counter() - t
        total += dt
        if oracle.graph_builds > before:
            builds.append({"key": [str(k) for k in oracle.graph_keys()[-1]], "seconds": dt})
            build_s += dt - warm / 1000
    n = oracle.graph_builds
    oracle.close()
    return {"graph_builds": n, "build_seconds": build_s, "first_call_seconds": [b["seconds"] for b in builds],
            "cold_pass_seconds": total, "cold_calls_per_s": len(cases) / total, "builds": builds}


def side_by_side(cases: list, examples: int, seed: int, oracle: Any, rounds: int) -> dict[str, Any]:
    from conformance.run import pools_beside_the_oracle

    # The components alone run with the thread pools a harness run gives them (conformance/run/_threads.py).
    with pools_beside_the_oracle():
        return _side_by_side(cases, examples, seed, oracle, rounds)


def _side_by_side(cases: list, examples: int, seed: int, oracle: Any, rounds: int) -> dict[str, Any]:
    from conformance.candidates import InProcessExecutor, resolve

    loaded = resolve(TARGET)
    executor = InProcessExecutor(loaded)
    per: dict[str, list[list[float]]] = {"oracle": [], "candidate": [], "executor": []}
    cpu: dict[str, list[float]] = {"oracle": [], "candidate": [], "executor": []}
    harness: list[dict[str, Any]] = []
    parts = ["oracle", "candidate", "executor", "harness"]
    for r in range(rounds):
        for part in parts[r % 4:] + parts[: r % 4]:  # rotate the order: no part always runs after another
            if part == "harness":
                harness.append(harness_run(examples, seed, oracle))
            else:
                fn = {"oracle": oracle.run, "candidate": loaded.fn, "executor": executor.run}[part]
                started = time.process_time()  # every thread of the process: TF's own ones too
                per[part].append(timed_each(fn, cases))
                cpu[part].append(time.process_time() - started)
    n = len(cases)
    med = {k: [1000 * statistics.median(v[i] for v in runs) for i in range(n)] for k, runs in per.items()}
    rates = {k: statistics.median(n / sum(v) for v in runs) for k, runs in per.items()}
    cpu_ms = {k: 1000 * statistics.median(v) / n for k, v in cpu.items()}
    h_rate = statistics.median(h["examples_per_s"] for h in harness)
    h_cpu_ms = 1000 * statistics.median(h["cpu_seconds"] / h["examples"] for h in harness)
    ideal_ms = sum(max(o, c) for o, c in zip(med["oracle"], med["candidate"])) / n
    slower = min(rates["oracle"], rates["candidate"])
    # Two workers run at most twice the serial rate, and at most cores / (CPU per example) examples/s; an
    # example costs at least the oracle's and the candidate's CPU.  A serial run that meets the ratio
    # target runs at 0.85 * slower examples/s, so then two workers can beat it by at most this factor:
    cores = os.cpu_count() or 1
    bound_at_target = min(2.0, cores / ((cpu_ms["oracle"] + cpu_ms["candidate"]) / 1000) / (0.85 * slower))
    return {
        "oracle_cpu_ms_mean": cpu_ms["oracle"], "candidate_cpu_ms_mean": cpu_ms["candidate"],
        "harness_cpu_ms_per_example": h_cpu_ms,
        # what the serial run leaves for a second worker: two workers at the serial run's CPU per example
        "two_workers_bound_now": min(2.0, cores * (1000 / h_rate) / h_cpu_ms),
        "two_workers_bound_at_ratio_target": bound_at_target,
        "oracle_calls_per_s": rates["oracle"], "candidate_calls_per_s": rates["candidate"],
        "executor_calls_per_s": rates["executor"], "harness_examples_per_s": h_rate,
        "oracle_ms_mean": sum(med["oracle"]) / n, "candidate_ms_mean": sum(med["candidate"]) / n,
        "executor_ms_mean": sum(med["executor"]) / n,
        "ideal_ms_per_example": ideal_ms, "ideal_examples_per_s": 1000 / ideal_ms,
        "harness_ms_per_example": 1000 / h_rate, "overhead_ms_per_example": 1000 / h_rate - ideal_ms,
        "ratio": h_rate / slower,
        "rounds": {"oracle_calls_per_s": [n / sum(v) for v in per["oracle"]],
                   "candidate_calls_per_s": [n / sum(v) for v in per["candidate"]],
                   "executor_calls_per_s": [n / sum(v) for v in per["executor"]],
                   "harness": harness},
        "per_case_oracle_ms": med["oracle"],
    }


# --- subprocesses ----------------------------------------------------------------------------------------------

_FIRST_CALL_CANDIDATE = '''\
import os, time
from conformance.candidates import resolve

_reference = resolve("numpy-reference").fn
_first = []


def fn(case):
    if not _first:
        _first.append(time.time())
        with open(os.environ["OVERHEAD_FIRST_CALL"], "w") as fh:
            fh.write(repr(_first[0]))
    return _reference(case)
'''


def _check_cmd(target: str, examples: int, seed: int, report_dir: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "conformance", "check", target, "--max-examples", str(examples), "--seed",
            str(seed), "--quiet", "--format", "json", "--report-dir", report_dir, *extra]


def first_example(repeats: int) -> dict[str, Any]:
    """Seconds from just before Popen to the candidate's first call, and the process's wall time; TF's import."""
    runs, imports = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "first_call_candidate.py")
        with open(path, "w") as fh:
            fh.write(_FIRST_CALL_CANDIDATE)
        stamp = os.path.join(tmp, "first_call")
        env = {**os.environ, "OVERHEAD_FIRST_CALL": stamp}
        for _ in range(repeats):
            if os.path.exists(stamp):
                os.remove(stamp)
            cmd = _check_cmd(f"{path}:fn", 20, 1, os.path.join(tmp, "reports"))
            t0, started = time.time(), time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if not os.path.exists(stamp):
                raise RuntimeError(f"the candidate was never called (rc {proc.returncode}): {proc.stderr[-500:]}")
            with open(stamp) as fh:
                first = float(fh.read()) - t0
            runs.append({"first_example_s": first, "wall_s": wall, "rc": proc.returncode})
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
            imports.append(time.perf_counter() - started)
    return {"runs": runs, "first_example_s": statistics.median(r["first_example_s"] for r in runs),
            "wall_s": statistics.median(r["wall_s"] for r in runs), "import_tensorflow_s": statistics.median(imports),
            "import_tensorflow_runs": imports}


def workers(examples: int, seed: int, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for k in ("1", "2") if r % 2 == 0 else ("2", "1"):
                started = time.perf_counter()
                proc = subprocess.run(_check_cmd(TARGET, examples, seed, os.path.join(tmp, k), "--workers", k),
                                      capture_output=True, text=True)
                runs[k].append({"seconds": time.perf_counter() - started, "rc": proc.returncode,
                                "stderr_tail": proc.stderr[-300:] if proc.returncode else ""})
    one, two = (statistics.median(x["seconds"] for x in runs[k]) for k in ("1", "2"))
    return {"examples": examples, "runs": runs, "workers1_s": one, "workers2_s": two, "ratio": one / two}


_RSS_PARENT = ("import resource, subprocess, sys; "
               "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
               "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss(examples: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _RSS_PARENT, *_check_cmd(TARGET, examples, seed, tmp)],
                             capture_output=True, text=True, check=True)
        rc, kb = out.stdout.split()
    return {"examples": examples, "peak_rss_mb": int(kb) / 1024, "rc": int(rc),
            "seconds": time.perf_counter() - started}


# --- main ------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--examples", type=int, default=1000, help="examples of the capture and each harness run (1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=3, help="side-by-side rounds (default 3)")
    p.add_argument("--repeats", type=int, default=3, help="time-to-first-example runs (default 3)")
    p.add_argument("--worker-examples", type=int, default=2000, help="examples of each workers run (default 2000)")
    p.add_argument("--worker-rounds", type=int, default=2, help="runs of each worker count (default 2)")
    p.add_argument("--rss-examples", type=int, default=3000, help="examples of the memory run (default 3000)")
    p.add_argument("--skip-subprocesses", action="store_true", help="only the in-process measurements")
    p.add_argument("--quick", action="store_true", help="small sizes everywhere (a smoke test, not a measurement)")
    p.add_argument("--json", metavar="OUT", help="write the figures here")
    args = p.parse_args(argv)
    if args.quick:
        args.examples, args.rounds, args.repeats = 100, 2, 1
        args.worker_examples, args.worker_rounds, args.rss_examples = 300, 1, 300
    for name in ("examples", "rounds", "repeats", "worker_examples", "worker_rounds", "rss_examples"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= 1")

    import numpy as np

    from conformance.oracle import TFOracle, import_tensorflow

    f: dict[str, Any] = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
                         "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg(),
                         "examples": args.examples, "seed": args.seed}
    started = time.perf_counter()
    import_tensorflow()
    f["import_tensorflow_in_process_s"] = time.perf_counter() - started
    oracle = TFOracle()
    cap = capture(args.examples, args.seed, oracle)
    cases = cap["cases"]
    assert len(cases) == cap["result"].examples, (len(cases), cap["result"].examples)
    f["cases"] = {"count": len(cases), "candidate_calls": cap["calls"], "verdict": cap["result"].verdict,
                  "mean_time_steps": float(np.mean([c.time for c in cases])),
                  "graph_keys": len(oracle.graph_keys()), "graph_builds": oracle.graph_builds,
                  "capture_run_seconds": cap["seconds"],
                  "capture_run_examples_per_s": len(cases) / cap["seconds"]}
    print(f"cases: {len(cases)} (mean T {f['cases']['mean_time_steps']:.1f}), graph keys {len(oracle.graph_keys())}, "
          f"builds {oracle.graph_builds}; capture run (cold, TF imported) {cap['seconds']:.1f} s", flush=True)

    sbs = side_by_side(cases, args.examples, args.seed, oracle, args.rounds)
    for h in sbs["rounds"]["harness"]:
        assert h["examples"] == len(cases), f"a harness run ran {h['examples']} examples, the capture {len(cases)}"
    f["cold"] = cold_oracle(cases, sbs.pop("per_case_oracle_ms"))
    f["side_by_side"] = sbs
    print(f"side by side (medians of {args.rounds}): oracle {sbs['oracle_calls_per_s']:.0f} calls/s, candidate "
          f"{sbs['candidate_calls_per_s']:.0f} calls/s, harness {sbs['harness_examples_per_s']:.0f} examples/s",
          flush=True)

    prof = harness_run(args.examples, args.seed, oracle, profile=True)
    rows, missing = attribute(prof.pop("stats"), prof["seconds"], prof["examples"])
    f["profile"] = {**prof, "stages": rows, "unmatched_functions": missing}
    if missing:
        print(f"warning: no profiled function matched {', '.join(missing)} (renamed? update STAGES)", flush=True)
    oracle.close()

    if not args.skip_subprocesses:
        f["first_example"] = first_example(args.repeats)
        print(f"time to first example {f['first_example']['first_example_s']:.2f} s", flush=True)
        f["workers"] = workers(args.worker_examples, args.seed, args.worker_rounds)
        print(f"workers 1 / 2: {f['workers']['workers1_s']:.1f} / {f['workers']['workers2_s']:.1f} s", flush=True)
        f["memory"] = peak_rss(args.rss_examples, args.seed)
    f["load_average_after"] = os.getloadavg()
    print(table(f))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(f, fh, indent=2, default=float)
    return 0


def table(f: dict[str, Any]) -> str:
    s, c, cold = f["side_by_side"], f["cases"], f["cold"]
    lines = [
        f"cpu count {f['cpu_count']}; load average before {f['load_average_before']}",
        f"cases: {c['count']} from seed {f['seed']}, mean T {c['mean_time_steps']:.1f}; graph keys {c['graph_keys']}, "
        f"builds {c['graph_builds']}; the capture run (cold) {c['capture_run_examples_per_s']:.0f} examples/s",
        f"cold oracle: {cold['graph_builds']} builds, {cold['build_seconds']:.2f} s building (first call of each "
        f"key less its warm time); cold pass {cold['cold_calls_per_s']:.0f} calls/s",
        f"oracle alone, warm:     {s['oracle_calls_per_s']:8.0f} calls/s   ({s['oracle_ms_mean']:.3f} ms mean)",
        f"candidate alone:        {s['candidate_calls_per_s']:8.0f} calls/s   ({s['candidate_ms_mean']:.3f} ms mean; "
        f"through the executor {s['executor_ms_mean']:.3f} ms)",
        f"ideal (max of the two per case): {s['ideal_examples_per_s']:.0f} examples/s "
        f"({s['ideal_ms_per_example']:.3f} ms)",
        f"harness, warm:          {s['harness_examples_per_s']:8.0f} examples/s ({s['harness_ms_per_example']:.3f} ms; "
        f"graph builds 0)",
        f"harness's own overhead: {s['overhead_ms_per_example']:.3f} ms per example",
        f"CPU per call (every thread): oracle {s['oracle_cpu_ms_mean']:.3f} ms, candidate "
        f"{s['candidate_cpu_ms_mean']:.3f} ms; harness {s['harness_cpu_ms_per_example']:.3f} ms per example "
        f"({s['harness_cpu_ms_per_example'] / s['harness_ms_per_example']:.2f} cores)",
        f"two workers vs one on {f['cpu_count']} cores can be at most: "
        f"{s['two_workers_bound_now']:.2f}x at this serial run's CPU per example; "
        f"{s['two_workers_bound_at_ratio_target']:.2f}x once the serial run meets the 0.85 ratio",
        "",
        f"stages of one warm harness run under cProfile ({f['profile']['seconds']:.2f} s, "
        f"{f['profile']['examples']} examples; cProfile inflates Python-heavy stages: read the shares):",
    ]
    for r in f["profile"]["stages"]:
        per = "" if r["calls"] is None else f"  {r['calls'] / max(f['profile']['examples'], 1):5.2f} calls/example"
        lines.append(f"  {r['stage']:70} {r['ms_per_example']:7.3f} ms  {r['share']:6.1%}{per}")
    rows = [("harness / min(oracle, candidate) alone", f"{s['ratio']:.2f}", ">= 0.85", s["ratio"] >= 0.85)]
    if "first_example" in f:
        fe, w, m = f["first_example"], f["workers"], f["memory"]
        lines.append("")
        lines.append(f"time to first example {fe['first_example_s']:.2f} s, process wall {fe['wall_s']:.2f} s; "
                     f"python -c 'import tensorflow' {fe['import_tensorflow_s']:.2f} s")
        lines.append(f"workers on {w['examples']} examples: 1: {w['workers1_s']:.1f} s, 2: {w['workers2_s']:.1f} s "
                     f"(median wall)")
        lines.append(f"peak RSS of a {m['examples']}-example run: {m['peak_rss_mb']:.0f} MB ({m['seconds']:.1f} s)")
        rows += [("2 workers vs 1, end to end", f"{w['ratio']:.2f}x", ">= 1.7x", w["ratio"] >= 1.7),
                 ("time to first example", f"{fe['first_example_s']:.2f} s", "<= 3 s", fe["first_example_s"] <= 3),
                 (f"peak RSS, {m['examples']} examples", f"{m['peak_rss_mb']:.0f} MB", "<= 1536 MB",
                  m["peak_rss_mb"] <= 1536)]
    rows.append(("graph builds during warm harness runs", "0", "0", True))
    failed = [f"workers {k} rc {r['rc']}" for k, runs in f.get("workers", {}).get("runs", {}).items() for r in runs
              if r["rc"]] + [f"first example rc {r['rc']}" for r in f.get("first_example", {}).get("runs", []) if r["rc"]]
    if "memory" in f and f["memory"]["rc"]:
        failed.append(f"memory run rc {f['memory']['rc']}")
    if failed:
        lines.append("warning: a check subprocess exited non-zero: " + ", ".join(failed))
    lines += ["", f"load average after {f['load_average_after']}", "",
              f"{'target':44} {'measured':>10} {'target':>11} {'met':>4}"]
    for name, got, want, met in rows:
        lines.append(f"{name:44} {got:>10} {want:>11} {'yes' if met else 'no':>4}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
