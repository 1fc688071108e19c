"""The large-size tail's cost (issue 19), side by side in one process session.

    python benchmarks/size_tail.py [--json OUT] [--examples N] [--rounds R] [--large-cases N] [--big]

Measured, on ``numpy-reference`` and the default settings:

1. ``check`` without the tail (``large_every=0``: the distribution before it) and with it (the default),
   after an untimed warm-up of both, in alternating rounds (ABBA) with the same seeds on one warm oracle:
   examples/s by the wall clock and by the process's CPU time (on a shared machine the CPU figure moves
   less with the load);
2. the share of large cases in the default distribution (``strategies.seeded_cases(tail=Tail())``);
3. pre-generated large cases only (``Tail(every=1)``): seconds per case of drawing, the oracle, the
   candidate and the judge, mean and worst, and the oracle's graph builds (sizes are fed: no graph per size);
4. with ``--big B T H I`` (repeatable), in a child process: one dense float32 case of those sizes (e.g. the
   issue's [64, 1000, 1024] inputs): seconds of the oracle, the candidate, the judge, the float64 spec, the
   rounding model's two biased runs and its full four, and the child's peak RSS.

benchmarks/throughput.py runs sections 1-3 too (its "tail" figures).
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

TARGET = "numpy-reference"


def is_large(case: Any) -> bool:
    """Above the ordinary ranges (batch 4, units and input 16, time 24 or a 100-160-step long sequence)."""
    cfg = case.config
    return (case.batch > 4 or cfg.num_units > 16 or cfg.input_size > 16
            or (case.time > 24 and not 100 <= case.time <= 160))


def side_by_side(examples: int, rounds: int, seed: int, oracle: Any = None, warmup: int = 500) -> dict[str, Any]:
    """``check`` without and with the tail, alternating rounds (ABBA) after an untimed warm-up, one warm oracle."""
    from conformance.oracle import TFOracle
    from conformance.run import CheckOptions, check
    from conformance.spec import ACTIVATIONS, DTYPES, LSTMConfig

    if oracle is None:
        oracle = TFOracle()
        oracle.warm(LSTMConfig(num_units=1, input_size=1, dtype=d, activation=a) for d in DTYPES for a in ACTIVATIONS)
    sides = (("before", 0), ("after", CheckOptions().large_every))
    for _, every in sides:  # untimed: the first runs build the sequence and network graphs
        check(TARGET, CheckOptions(max_examples=warmup, seed=seed + 1000, minimize=False, diagnose=False,
                                   large_every=every), oracle=oracle)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for r in range(rounds):
        for name, every in (sides if r % 2 == 0 else sides[::-1]):  # ABBA: neither side always goes first
            wall, cpu = time.perf_counter(), time.process_time()
            result = check(TARGET, CheckOptions(max_examples=-(-examples // rounds), seed=seed + r, minimize=False,
                                                diagnose=False, large_every=every), oracle=oracle)
            runs[name].append({"examples": result.examples, "seconds": time.perf_counter() - wall,
                               "cpu_seconds": time.process_time() - cpu, "verdict": result.verdict})
    out: dict[str, Any] = {}
    for name, done in runs.items():
        n = sum(x["examples"] for x in done)
        out[name] = {"examples_per_s": n / sum(x["seconds"] for x in done),
                     "examples_per_cpu_s": n / sum(x["cpu_seconds"] for x in done), "runs": done}
    out["ratio_wall"] = out["after"]["examples_per_s"] / out["before"]["examples_per_s"]
    out["ratio_cpu"] = out["after"]["examples_per_cpu_s"] / out["before"]["examples_per_cpu_s"]
    out["graph_builds"] = oracle.graph_builds
    return out


def drawn(count: int, seed: int, tail: Any) -> list[Any]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed

    import strategies

    out: list[Any] = []

    @hyp_seed(seed)
    @settings(max_examples=-(-count // 16), deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategies.seeded_cases(count=16, tail=tail))
    def collect(batch):
        out.extend(batch)

    collect()
    return out[:count]


def share(count: int, seed: int) -> dict[str, Any]:
    import strategies

    cases = drawn(count, seed, strategies.Tail())
    large = [c for c in cases if is_large(c)]
    return {"cases": len(cases), "large": len(large), "share": len(large) / len(cases)}


def large_case_cost(count: int, seed: int) -> dict[str, Any]:
    """Seconds per large case: drawing, the oracle, the candidate, the judge (mean and worst)."""
    import strategies
    from conformance.candidates import InProcessExecutor, resolve
    from conformance.judge import Judge
    from conformance.oracle import TFOracle

    started = time.perf_counter()
    cases = drawn(count, seed, strategies.Tail(every=1))
    draw_s = (time.perf_counter() - started) / len(cases)
    oracle, executor, judge = TFOracle(), InProcessExecutor(resolve(TARGET)), Judge()
    times: dict[str, list[float]] = {"oracle": [], "candidate": [], "judge": [], "total": []}
    failures, worst = 0, (0.0, "")
    for case in cases:
        t0 = time.perf_counter()
        expected = oracle.run(case)
        t1 = time.perf_counter()
        got = executor.run(case)
        t2 = time.perf_counter()
        failures += not judge.compare(case, got, expected).passed
        t3 = time.perf_counter()
        for name, seconds in (("oracle", t1 - t0), ("candidate", t2 - t1), ("judge", t3 - t2), ("total", t3 - t0)):
            times[name].append(seconds)
        if t3 - t0 > worst[0]:
            worst = (t3 - t0, f"B={case.batch} T={case.time} I={case.config.input_size} H={case.config.num_units} "
                              f"{case.config.dtype}")
    out: dict[str, Any] = {"cases": len(cases), "draw_s_per_case": draw_s, "failures": failures,
                           "graph_builds": oracle.graph_builds, "graph_keys": len(oracle.graph_keys()),
                           "worst_case": worst[1], "worst_s": worst[0]}
    for name, values in times.items():
        out[f"{name}_s_per_case"] = sum(values) / len(values)
    oracle.close()
    return out


def big_case(batch: int, time_: int, units: int, input_size: int) -> dict[str, Any]:
    """One dense float32 case of these sizes: seconds of each stage and the peak RSS (run in a child)."""
    import numpy as np

    import conformance.judge._judge as judge_module
    from conformance.candidates import InProcessExecutor, resolve
    from conformance.judge import Judge
    from conformance.oracle import TFOracle
    from conformance.spec import Case, LSTMConfig, LSTMParams, reference_trace, zero_state

    cfg = LSTMConfig(num_units=units, input_size=input_size)
    rng = np.random.default_rng(0)
    params = LSTMParams(kernel=(rng.standard_normal((input_size + units, 4 * units)) * 0.05).astype(np.float32),
                        bias=rng.standard_normal(4 * units).astype(np.float32))
    case = Case(cfg, params, rng.standard_normal((batch, time_, input_size)).astype(np.float32), zero_state(cfg, batch))
    out: dict[str, Any] = {"shape": [batch, time_, units, input_size]}
    t = time.perf_counter()
    expected = TFOracle().run(case)
    out["oracle_s"] = time.perf_counter() - t
    t = time.perf_counter()
    got = InProcessExecutor(resolve(TARGET)).run(case)
    out["candidate_s"] = time.perf_counter() - t
    judge = Judge()
    t = time.perf_counter()
    plain = judge.compare(case, got, expected)
    out["judge_s"], out["passed"] = time.perf_counter() - t, plain.passed
    t = time.perf_counter()
    trace = reference_trace(case)
    out["reference_s"] = time.perf_counter() - t
    t = time.perf_counter()
    staged = judge.compare(case, got, expected, trace=trace, always_spread=False)
    out["judge_with_trace_s"] = time.perf_counter() - t
    t = time.perf_counter()
    judge_module.measure_spread(case, 2.0**-24, random_runs=0, gate_rounding=False, base=trace)
    out["biased_spread_s"] = time.perf_counter() - t
    t = time.perf_counter()
    judge.spread(case, base=trace)
    out["full_spread_s"] = time.perf_counter() - t
    out["staged_passed"] = staged.passed
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=1500, help="examples of each side, over all rounds")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--large-cases", type=int, default=96, help="pre-generated large cases timed one by one")
    p.add_argument("--share-cases", type=int, default=6400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--big", nargs=4, action="append", metavar=("B", "T", "H", "I"),
                   help="also time a dense float32 case of these sizes in a child, e.g. 64 1000 64 1024 (repeatable)")
    p.add_argument("--json", metavar="OUT")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(big_case(*map(int, args.child))))
        return 0
    from conformance.oracle import import_tensorflow

    import_tensorflow()
    figures: dict[str, Any] = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
                               "load_average_before": os.getloadavg()}
    figures["share"] = share(args.share_cases, args.seed)
    figures["side_by_side"] = side_by_side(args.examples, args.rounds, args.seed)
    figures["large_cases"] = large_case_cost(args.large_cases, args.seed)
    if args.big:
        figures["big"] = [json.loads(subprocess.run([sys.executable, os.path.abspath(__file__), "--child", *shape],
                                                    capture_output=True, text=True, check=True).stdout.splitlines()[-1])
                          for shape in args.big]
    figures["load_average_after"] = os.getloadavg()
    print(json.dumps({k: v for k, v in figures.items()}, indent=1, default=float))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
