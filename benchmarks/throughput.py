"""Throughput benchmark: the harness side by side with a straightforward one, in one process session.

    python benchmarks/throughput.py [--json OUT] [--quick]

Everything runs ``numpy-reference`` on the default settings (every feature and dtype,
batch <= 4, time <= 24 plus one sequence in eight 100-160 steps long, sizes <= 16;
``check``'s default ``--generation seeded``).  Measured, in this order:

1. the oracle alone on pre-generated cases: cold (graph builds included) and warm;
   then, on the same cases in alternating chunks, the warm oracle vs the naive eager
   oracle (:class:`conformance.oracle._oracle.EagerOracle`: a TF LSTMCell built per case,
   weights assigned, stepped eagerly);
2. the harness's ``check`` vs a naive harness on the same distribution (configs,
   batch and time from the harness's own sampler, every array drawn with
   ``hypothesis.extra.numpy.arrays``, the eager oracle, the same candidate and
   comparison, Hypothesis targeting on both), in alternating rounds with seeds
   seed, seed+1, ...; both timed warm (the harness's graph set-up is timed apart,
   and ``harness_cold_examples_per_s`` charges it);
3. ``check --workers 2`` vs ``--workers 1`` (conformance.run._parallel), alternating
   runs: end to end (spawn, TF import, graph builds included) and steady (the slope
   of the progress reports between 30% and 95% of the examples, before any failure);
4. in a child process, one run of max(1,000, 3,000) examples: its peak RSS (which
   bounds a 1,000-example run's), RSS along the run, and the graph builds after 300
   and after 3,000 examples (with the keys built).

Examples/s are wall-clock, so on a shared machine the absolute numbers move with
the load (recorded before and after); the ratios are measured side by side.
Writes the figures as JSON with ``--json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

TARGET = "numpy-reference"


# --- the naive harness -------------------------------------------------------------------------------------


def naive_cases():
    """Cases of the harness's distribution, every array element a Hypothesis choice.

    Config, batch, time and initial-state presence come from the harness's own sampler
    (``strategies.seeded_cases(count=1)``, a Hypothesis-drawn seed), so both sides draw
    the same sizes and options; every array is then drawn afresh with
    ``hypothesis.extra.numpy.arrays`` of bounded floats (bfloat16 is drawn as float32
    and rounded: Hypothesis has no bfloat16 elements).
    """
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    import strategies
    from conformance.spec import Case, InitialState, LSTMParams

    shapes = strategies.seeded_cases(count=1)

    def array(shape: tuple[int, ...], dtype: np.dtype, bound: float):
        width = 16 if dtype == np.float16 else 64 if dtype == np.float64 else 32
        base = np.dtype(np.float16 if width == 16 else np.float64 if width == 64 else np.float32)
        elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)
        return hnp.arrays(base, shape, elements=elements).map(lambda a: a.astype(dtype))

    @st.composite
    def draw_case(draw):
        like = draw(shapes)[0]
        cfg, batch, time_ = like.config, like.batch, like.time
        I, H, P, npd = cfg.input_size, cfg.num_units, cfg.output_size, cfg.np_dtype
        diag = (lambda: draw(array((H,), npd, 4.0))) if cfg.use_peepholes else (lambda: None)
        params = LSTMParams(
            kernel=draw(array((I + P, 4 * H), npd, 8.0)), bias=draw(array((4 * H,), npd, 8.0)),
            w_i_diag=diag(), w_f_diag=diag(), w_o_diag=diag(),
            proj_kernel=draw(array((H, P), npd, 4.0)) if cfg.num_proj is not None else None,
        )
        inputs = draw(array((batch, time_, I), npd, 30.0))
        if not like.initial_state.is_zero():
            state = InitialState(draw(array((batch, H), npd, 3.0)), draw(array((batch, P), npd, 3.0)))
        else:
            state = InitialState(np.zeros((batch, H), npd), np.zeros((batch, P), npd))
        return Case(cfg, params, inputs, state)

    return draw_case()


def naive_harness(examples: int, seed: int, executor: Any, oracle: Any) -> dict[str, Any]:
    """The straightforward harness: @given over :func:`naive_cases`, the eager oracle, the same
    candidate and comparison; failures are counted, not shrunk (this measures examples/s)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed
    from hypothesis import target

    from conformance.judge import compare

    count = {"examples": 0, "failures": 0}

    @hyp_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate, Phase.target])
    @given(naive_cases())
    def run(case):
        count["examples"] += 1
        cmp = compare(case, executor.run(case), oracle.run(case))
        if cmp.score != float("inf"):
            target(min(cmp.score, 1e12), label="error / allowed error")
        count["failures"] += not cmp.passed

    started = time.perf_counter()
    run()
    return {"examples": count["examples"], "seconds": time.perf_counter() - started, "failures": count["failures"]}


def _small_case():
    from conformance.spec import Case, LSTMConfig, LSTMParams, zero_state

    cfg = LSTMConfig(num_units=2, input_size=2)
    return Case(cfg, LSTMParams(np.ones((4, 8), np.float32), np.zeros(8, np.float32)), np.ones((1, 2, 2), np.float32),
                zero_state(cfg, 1))


# --- the harness ---------------------------------------------------------------------------------------------


def harness(examples: int, seed: int, oracle: Any) -> dict[str, Any]:
    """``check`` on the default settings (minimisation and diagnosis off: this measures examples/s)."""
    from conformance.run import CheckOptions, check

    started = time.perf_counter()
    result = check(TARGET, CheckOptions(max_examples=examples, seed=seed, minimize=False, diagnose=False),
                   oracle=oracle)
    return {"examples": result.examples, "seconds": time.perf_counter() - started, "verdict": result.verdict}


def warm_oracle() -> tuple[Any, float]:
    """A fresh oracle with the graph of every (dtype, activation) built and run once, and the seconds that took."""
    from conformance.oracle import TFOracle
    from conformance.spec import ACTIVATIONS, DTYPES, LSTMConfig

    oracle = TFOracle()
    started = time.perf_counter()
    oracle.warm(LSTMConfig(num_units=1, input_size=1, dtype=d, activation=a) for d in DTYPES for a in ACTIVATIONS)
    return oracle, time.perf_counter() - started


def interleaved(rounds: int, examples: int, naive_examples: int, seed: int) -> dict[str, Any]:
    """Harness and naive harness in alternating rounds (seeds seed, seed+1, ...), so that load from
    elsewhere on the machine falls on both; examples and seconds summed over the rounds."""
    from conformance.candidates import InProcessExecutor
    from conformance.oracle import EagerOracle
    from conformance.candidates import resolve

    oracle, warmup = warm_oracle()
    executor, eager = InProcessExecutor(resolve(TARGET)), EagerOracle()
    eager.run(_small_case())  # TF's eager kernels warmed, as the harness's graphs are
    ours: list[dict[str, Any]] = []
    naive: list[dict[str, Any]] = []
    for r in range(rounds):
        ours.append(harness(-(-examples // rounds), seed + r, oracle))
        naive.append(naive_harness(-(-naive_examples // rounds), seed + r, executor, eager))

    def total(runs: list[dict[str, Any]]) -> dict[str, Any]:
        n, t = sum(x["examples"] for x in runs), sum(x["seconds"] for x in runs)
        return {"examples": n, "seconds": t, "examples_per_s": n / t, "rounds": runs}

    h, nv = total(ours), total(naive)
    h.update(warmup_seconds=warmup, cold_examples_per_s=h["examples"] / (h["seconds"] + warmup),
             graph_builds=oracle.graph_builds)
    return {"harness": h, "naive_harness": nv}


def pregenerated_cases(count: int, seed: int) -> list:
    """``count`` cases of the harness's default distribution (``strategies.seeded_cases()``), generated up front."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed

    import strategies

    out: list = []

    @hyp_seed(seed)
    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate])
    @given(strategies.seeded_cases())
    def collect(batch):
        out.extend(batch)

    collect()
    return out[:count]


def oracles(cases: list, naive_count: int) -> dict[str, Any]:
    """The oracle alone: cold (graph builds included) and warm over ``cases``; then the eager
    oracle and the warm one on the first ``naive_count`` cases, in alternating chunks."""
    from conformance.oracle import EagerOracle, TFOracle

    fast = TFOracle()
    started = time.perf_counter()
    for case in cases:
        fast.run(case)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    for case in cases:
        fast.run(case)
    warm = time.perf_counter() - started
    eager = EagerOracle()
    eager.run(_small_case())  # TF's eager kernels warmed, as the fast oracle's are
    subset = cases[:naive_count]
    timed = {"fast": 0.0, "eager": 0.0}
    for start in range(0, len(subset), 10):
        chunk = subset[start : start + 10]
        for name, oracle in (("fast", fast), ("eager", eager)):
            started = time.perf_counter()
            for case in chunk:
                oracle.run(case)
            timed[name] += time.perf_counter() - started
    return {
        "cases": len(cases), "mean_time_steps": float(np.mean([c.time for c in cases])),
        "cold_calls_per_s": len(cases) / cold, "warm_calls_per_s": len(cases) / warm,
        "graph_builds": fast.graph_builds,
        "subset": len(subset), "subset_mean_time_steps": float(np.mean([c.time for c in subset])),
        "subset_calls_per_s": len(subset) / timed["fast"], "naive_subset_calls_per_s": len(subset) / timed["eager"],
    }


def sequences(rounds: int, examples: int, seed: int) -> dict[str, Any]:
    """``check`` of the default distribution against the same with every case given row lengths, and with
    every case time-major (the oracle's dynamic_rnn graph), in alternating rounds on one warm oracle;
    plus the graph builds of all of it (lengths are fed, never a graph per length)."""
    from conformance.oracle import TFOracle
    from conformance.run import CheckOptions, check
    from conformance.spec import ACTIVATIONS, DEFAULT_FEATURES, DTYPES, LSTMConfig

    oracle = TFOracle()
    oracle.warm((LSTMConfig(num_units=1, input_size=1, dtype=d, activation=a, time_major=tm)
                 for d in DTYPES for a in ACTIVATIONS for tm in (False, True)), sequence_length=True)
    warm_builds = oracle.graph_builds
    kinds = {"full_length": ([], []), "sequence_length": (["sequence_length"], ["sequence_length"]),
             "time_major": (["time_major"], ["time_major"])}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for r in range(rounds):
        for name, (extra, required) in kinds.items():
            started = time.perf_counter()
            result = check(TARGET, CheckOptions(max_examples=-(-examples // rounds), seed=seed + r, minimize=False,
                                                diagnose=False, features=[*DEFAULT_FEATURES, *extra],
                                                require_features=required), oracle=oracle)
            runs[name].append({"examples": result.examples, "seconds": time.perf_counter() - started,
                               "verdict": result.verdict})
    out: dict[str, Any] = {name: {"examples_per_s": sum(x["examples"] for x in done) / sum(x["seconds"] for x in done),
                                  "runs": done} for name, done in runs.items()}
    out.update(graph_builds_warm=warm_builds, graph_builds=oracle.graph_builds, graph_keys=len(oracle.graph_keys()))
    oracle.close()
    return out


# --- workers ---------------------------------------------------------------------------------------------------


def workers_run(workers: int, examples: int, seed: int, overlap: bool = True) -> dict[str, Any]:
    """``check_parallel`` from the start (worker spawn, TF import, graph builds included): end-to-end
    examples/s, and the steady rate once every worker runs (the slope of the progress reports
    between 30% and 95% of the examples, before any failure).  ``overlap=False``: the workers run
    their oracle inline (as ``check_parallel`` makes workers that fill the cores do)."""
    from conformance.run import check_parallel
    from conformance.run import CheckOptions

    samples: list[tuple[float, int, int]] = []
    started = time.perf_counter()
    result = check_parallel(TARGET, CheckOptions(max_examples=examples, seed=seed, minimize=False, diagnose=False,
                                                 overlap_oracle=overlap,
                                                 progress=lambda p: samples.append((time.perf_counter(), p.examples,
                                                                                    p.failures))),
                            workers=workers)
    elapsed = time.perf_counter() - started
    # Only while no worker has failed: after a failure the others stop and one shrinks.
    window = [(t, n) for t, n, failures in samples if 0.3 * examples <= n <= 0.95 * examples and not failures]
    steady = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 1 else None
    return {"workers": workers, "overlap_oracle": overlap, "examples": result.examples, "seconds": elapsed,
            "verdict": result.verdict,
            "examples_per_s": result.examples / elapsed, "steady_examples_per_s": steady,
            "per_worker": result.workers}


# --- memory and graph builds, in a child process -----------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(examples: int, seed: int, checkpoints: list[int]) -> dict[str, Any]:
    """Run in a fresh process: ``check`` until ``examples`` examples ran on one oracle (a run that
    ends early on a failure is followed by one with the next seed), RSS and graph builds sampled."""
    from conformance.oracle import TFOracle
    from conformance.run import CheckOptions, check

    oracle = TFOracle()
    samples: list[dict[str, Any]] = []
    done, verdicts = 0, []

    def progress(p) -> None:
        samples.append({"examples": done + p.examples, "rss_mb": round(_rss_mb(), 1),
                        "graph_builds": oracle.graph_builds})

    while done < examples:
        result = check(TARGET, CheckOptions(max_examples=examples - done, seed=seed + len(verdicts), minimize=False,
                                            diagnose=False, progress=progress), oracle=oracle)
        done += result.examples
        verdicts.append(result.verdict)
    samples.append({"examples": done, "rss_mb": round(_rss_mb(), 1), "graph_builds": oracle.graph_builds})
    builds_at = {}
    for n in checkpoints:
        reached = [s for s in samples if s["examples"] >= n]
        builds_at[str(n)] = reached[0]["graph_builds"] if reached else None
    return {"examples": done, "verdicts": verdicts, "graph_keys": sorted(map(list, oracle.graph_keys())),
            "exact_structure_runs": oracle.exact_structure_runs,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "samples": samples, "graph_builds_at": builds_at, "graph_builds": oracle.graph_builds}


def in_child(kind: str, *args: Any) -> dict[str, Any]:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind, *map(str, args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- main ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=1500, help="harness examples, over all rounds (default 1500)")
    p.add_argument("--naive-examples", type=int, default=300, help="naive harness examples, over all rounds (default 300)")
    p.add_argument("--rounds", type=int, default=3, help="alternating harness/naive rounds (default 3)")
    p.add_argument("--oracle-cases", type=int, default=400, help="pre-generated cases for the oracle (default 400)")
    p.add_argument("--naive-oracle-cases", type=int, default=60, help="of those, run by the eager oracle (default 60)")
    p.add_argument("--worker-examples", type=int, default=2000, help="examples of each workers run (default 2000)")
    p.add_argument("--worker-rounds", type=int, default=2, help="alternating 1-worker/2-worker runs (default 2)")
    p.add_argument("--rss-examples", type=int, default=1000, help="examples of the memory run (default 1000)")
    p.add_argument("--builds-examples", type=int, nargs=2, default=[300, 3000], metavar=("FEW", "MANY"),
                   help="graph builds counted after FEW and MANY examples (default 300 3000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="small sizes everywhere (a smoke test, not a measurement)")
    p.add_argument("--skip-workers", action="store_true")
    p.add_argument("--sequence-examples", type=int, default=1500,
                   help="examples of each of the full-length / lengths / time-major runs, over all rounds (default 1500)")
    p.add_argument("--tail-examples", type=int, default=2000,
                   help="examples of each side of the size-tail comparison, over 4 rounds (default 2000; 0: skip)")
    p.add_argument("--json", metavar="OUT", help="write the figures here")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "memory":
            print(json.dumps(memory_child(int(rest[0]), int(rest[1]), [int(v) for v in rest[2:]])))
        return 0
    if args.quick:
        args.examples, args.naive_examples, args.oracle_cases, args.naive_oracle_cases = 60, 8, 40, 8
        args.worker_examples, args.rss_examples, args.builds_examples = 120, 100, [30, 100]
        args.sequence_examples = 60
        args.tail_examples = min(args.tail_examples, 120)
        args.rounds, args.worker_rounds = 2, 1

    from conformance.oracle import import_tensorflow

    import_tensorflow()  # both sides of every ratio pay it before their clock starts
    figures: dict[str, Any] = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
                               "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()}
    cases = pregenerated_cases(args.oracle_cases, args.seed)
    figures["oracle"] = oracles(cases, args.naive_oracle_cases)
    figures.update(interleaved(args.rounds, args.examples, args.naive_examples, args.seed))
    figures["sequences"] = sequences(args.rounds, args.sequence_examples, args.seed)
    if not args.skip_workers:
        # "1": the serial default (its oracle on a second thread); "1_inline": one worker with its
        # oracle inline, as each of the two workers runs it: the workers' own scaling.
        runs: dict[str, list[dict[str, Any]]] = {"1": [], "1_inline": [], "2": []}
        for r in range(args.worker_rounds):  # alternating, as above
            for name, w, overlap in (("1", 1, True), ("1_inline", 1, False), ("2", 2, True)):
                runs[name].append(workers_run(w, args.worker_examples, args.seed + r, overlap))
        for w, done in runs.items():
            steady = [x["steady_examples_per_s"] for x in done if x["steady_examples_per_s"]]
            figures[f"workers{w}"] = {
                "runs": done, "examples_per_s": sum(x["examples"] for x in done) / sum(x["seconds"] for x in done),
                "steady_examples_per_s": sum(steady) / len(steady) if steady else None,
            }
    if args.tail_examples:
        # The large-size tail (issue 19): check without it (the distribution before) and with it (the default),
        # ABBA on one warm oracle, the share of large cases and what one costs (benchmarks/size_tail.py).
        import size_tail

        figures["tail"] = {"share": size_tail.share(6400, args.seed),
                           "side_by_side": size_tail.side_by_side(args.tail_examples, 4, args.seed),
                           "large_cases": size_tail.large_case_cost(48, args.seed)}
    few, many = args.builds_examples
    memory = in_child("memory", max(args.rss_examples, many), args.seed, args.rss_examples, few, many)
    figures["memory"] = memory
    figures["load_average_after"] = os.getloadavg()
    o, h, n = figures["oracle"], figures["harness"], figures["naive_harness"]
    figures.update({
        "harness_examples_per_s": h["examples_per_s"],
        "naive_examples_per_s": n["examples_per_s"],
        "oracle_calls_per_s": o["subset_calls_per_s"],
        "naive_oracle_calls_per_s": o["naive_subset_calls_per_s"],
        "workers2_examples_per_s": figures.get("workers2", {}).get("steady_examples_per_s"),
        "workers1_examples_per_s": figures.get("workers1", {}).get("steady_examples_per_s"),
        "workers1_inline_examples_per_s": figures.get("workers1_inline", {}).get("steady_examples_per_s"),
        "harness_cold_examples_per_s": h["cold_examples_per_s"],
        "workers2_end_to_end_examples_per_s": figures.get("workers2", {}).get("examples_per_s"),
        "workers1_end_to_end_examples_per_s": figures.get("workers1", {}).get("examples_per_s"),
        # The child ran max(rss_examples, MANY) examples: its peak bounds the shorter run's.
        "peak_rss_mb": memory["peak_rss_mb"],
        "graph_builds": memory["graph_builds"],
        f"graph_builds_{few}": memory["graph_builds_at"][str(few)],
        f"graph_builds_{many}": memory["graph_builds_at"][str(many)],
    })
    print(table(figures, few, many))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2, default=float)
    return 0


def table(f: dict[str, Any], few: int, many: int) -> str:
    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.1f}x" if a and b else "-"

    o = f["oracle"]
    rows = [
        ("harness check, examples/s", f["harness_examples_per_s"], f["naive_examples_per_s"],
         ratio(f["harness_examples_per_s"], f["naive_examples_per_s"]), ">= 20x"),
        (f"oracle alone, calls/s ({o['subset']} cases)", f["oracle_calls_per_s"], f["naive_oracle_calls_per_s"],
         ratio(f["oracle_calls_per_s"], f["naive_oracle_calls_per_s"]), ">= 20x"),
        ("2 workers vs 1 (both oracles inline), steady", f["workers2_examples_per_s"],
         f["workers1_inline_examples_per_s"],
         ratio(f["workers2_examples_per_s"], f["workers1_inline_examples_per_s"]), ">= 1.7x"),
        ("2 workers vs serial (oracle thread), steady", f["workers2_examples_per_s"], f["workers1_examples_per_s"],
         ratio(f["workers2_examples_per_s"], f["workers1_examples_per_s"]), ""),
        ("2 workers vs 1, examples/s (end to end)", f["workers2_end_to_end_examples_per_s"],
         f["workers1_end_to_end_examples_per_s"],
         ratio(f["workers2_end_to_end_examples_per_s"], f["workers1_end_to_end_examples_per_s"]), ""),
        ("harness with its graph set-up, examples/s", f["harness_cold_examples_per_s"], f["naive_examples_per_s"],
         ratio(f["harness_cold_examples_per_s"], f["naive_examples_per_s"]), ""),
    ]
    lines = [f"{'':46} {'ours':>10} {'baseline':>10} {'ratio':>8} {'target':>8}"]
    for name, a, b, r, t in rows:
        lines.append(f"{name:46} {a or 0:10.1f} {b or 0:10.1f} {r:>8} {t:>8}")
    lines.append(f"oracle cold / warm over {o['cases']} cases: {o['cold_calls_per_s']:.0f} / "
                 f"{o['warm_calls_per_s']:.0f} calls/s (mean T {o['mean_time_steps']:.1f})")
    samples = f["memory"]["samples"]
    along = ", ".join(f"{s['rss_mb']:.0f}@{s['examples']}" for s in samples[:: max(1, len(samples) // 6)])
    lines.append(f"peak RSS of a {f['memory']['examples']}-example run: {f['peak_rss_mb']:.0f} MB (target <= 1536); "
                 f"RSS MB@examples: {along}")
    lines.append(f"graph builds after {few} / {many} examples: {f[f'graph_builds_{few}']} / {f[f'graph_builds_{many}']} "
                 f"(keys: {len(f['memory']['graph_keys'])}, of which exact-structure "
                 f"{sum(len(k) > 2 for k in f['memory']['graph_keys'])})")
    sq = f["sequences"]
    full = sq["full_length"]["examples_per_s"]
    lines.append(f"check with row lengths / time-major / full length, examples/s: "
                 f"{sq['sequence_length']['examples_per_s']:.0f} / {sq['time_major']['examples_per_s']:.0f} / {full:.0f} "
                 f"({sq['sequence_length']['examples_per_s'] / full:.2f}x / {sq['time_major']['examples_per_s'] / full:.2f}x; "
                 f"target >= 0.8x); graph builds {sq['graph_builds_warm']} warm -> {sq['graph_builds']} after all "
                 f"three runs")
    if "tail" in f:
        t, sb, lc = f["tail"], f["tail"]["side_by_side"], f["tail"]["large_cases"]
        lines.append(f"size tail: {t['share']['share']:.1%} large cases, {lc['total_s_per_case']:.3f} s each "
                     f"(oracle {lc['oracle_s_per_case']:.3f}); check examples/s without / with it: "
                     f"{sb['before']['examples_per_s']:.0f} / {sb['after']['examples_per_s']:.0f} "
                     f"({sb['ratio_wall']:.2f}x wall, {sb['ratio_cpu']:.2f}x per CPU second; target >= 0.8x)")
    lines.append(f"load average before / after: {f['load_average_before']} / {f['load_average_after']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
