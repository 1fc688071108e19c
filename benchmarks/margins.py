"""How close a correct implementation comes to the tolerance: the margin distribution of ``numpy-reference``.

Runs the built-in ``numpy-reference`` (correct, computing in float32 and rounding its state to the
case's dtype every step, as a native 16-bit port does) against the TF oracle on cases of the
default distribution, by default long float16 and bfloat16 sequences with every cell option, and
prints the distribution of each case's *score*: largest error / allowed error over every element,
the allowed error including the rounding spread, which the verdict measures only when the plain
atol/rtol bound fails (> 1 is a NONCONFORMANT verdict, a false one here).  Every case over ``--save-over`` is saved to
``--out`` for study.

    python benchmarks/margins.py --dtype float16 --dtype bfloat16 --cases 2000 --min-time 100 --max-time 400

Measured (issue 17 item 2; ``--cases 3000 --max-time 400``, seed 0, float16 and bfloat16, T 100-400, every
cell option; 2 cores loaded about 5x): score median / p90 / p99 / max, cases over 0.5, cases over 1:

* before the spread carried deviations forward in compute order: 0.0317 / 0.0949 / 0.367 / 0.966, 16, 0
  (550 s);
* after: 0.0242 / 0.0706 / 0.176 / 0.509, 1, 0 (722 s).

The three bfloat16 cases of tests/regressions/bfloat16_margin/ (found by a fuzz, not in this distribution)
scored 1.14, 2.14 and 1.02 before, 0.60, 0.71 and 0.32 after.  The issue's 30-minute fuzz after the change,
``fuzz numpy-reference --budget 30m --dtype float16 --dtype bfloat16 --seed 11 --db none --max-time 200
--no-isolate``: CONFORMANT after 54,527 examples (27,095 float16, 27,432 bfloat16) in 25 slices, 1801.6 s, on
the same loaded machine.  (Isolated, as fuzz runs by default, that load made every bfloat16 slice end after two
examples with a false ``hang`` within 1.1 s, minimized to B = T = I = H = 1, which ``repro`` passes: the
adaptive timeouts, not the rounding model; see the issue.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def cases(count: int, seed: int, dtypes: list[str], min_time: int, max_time: int, features: list[str]) -> list:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed

    import strategies

    out: list = []

    @hyp_seed(seed)
    @settings(max_examples=max(1, count // 8), deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate])
    @given(strategies.seeded_cases(features=features, dtypes=dtypes, min_time=min_time, max_time=max_time,
                                   long_sequences=False))
    def collect(batch: list) -> None:
        out.extend(batch)

    collect()
    return out[:count]


def main(argv: list[str] | None = None) -> int:
    from conformance.spec import DEFAULT_FEATURES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dtype", action="append", default=None, help="repeatable (default: float16 and bfloat16)")
    p.add_argument("--feature", action="append", default=None, help="repeatable (default: every cell option)")
    p.add_argument("--cases", type=int, default=400)
    p.add_argument("--min-time", type=int, default=100)
    p.add_argument("--max-time", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-over", type=float, default=0.5, help="save cases scoring above this (default 0.5)")
    p.add_argument("--out", default="margins-out", help="directory for the saved cases and margins.json")
    args = p.parse_args(argv)
    from conformance.candidates import InProcessExecutor, resolve
    from conformance.judge import DEFAULT_JUDGE, evaluate
    from conformance.oracle import TFOracle

    dtypes = args.dtype or ["float16", "bfloat16"]
    features = args.feature or list(DEFAULT_FEATURES)
    drawn = cases(args.cases, args.seed, dtypes, args.min_time, args.max_time, features)
    executor, oracle = InProcessExecutor(resolve("numpy-reference")), TFOracle()
    os.makedirs(args.out, exist_ok=True)
    scores: list[float] = []
    worst: list[dict] = []
    started = time.perf_counter()
    for k, case in enumerate(drawn):
        ev = evaluate(case, executor, oracle, judge=DEFAULT_JUDGE)
        if ev.candidate is not None and ev.oracle is not None:
            # The verdict measures the spread only when the plain atol/rtol bound fails; here always.
            full = DEFAULT_JUDGE.compare(case, ev.candidate, ev.oracle, always_spread=True)
            score = float(full.score) if full.passed == ev.comparison.passed else float("inf")
        else:
            score = float("inf")
        scores.append(score)
        if score > args.save_over:
            path = os.path.join(args.out, f"case-{k:05d}.npz")
            case.save_npz(path)
            worst.append({"case": path, "score": score, "dtype": case.config.dtype, "time": case.time,
                          "features": sorted(case.features()), "message": ev.comparison.message})
    a = np.array(scores)
    q = {f"p{int(p * 100)}": float(np.quantile(a, p)) for p in (0.5, 0.9, 0.99)}
    summary = {"cases": len(a), "dtypes": dtypes, "min_time": args.min_time, "max_time": args.max_time,
               "seconds": round(time.perf_counter() - started, 1), "max_score": float(a.max()), **q,
               "over_1": int((a > 1).sum()), "over_0.5": int((a > 0.5).sum()), "worst": sorted(worst, key=lambda w: -w["score"])[:20]}
    with open(os.path.join(args.out, "margins.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    print(f"{len(a)} cases ({', '.join(dtypes)}, T {args.min_time}-{args.max_time}) in {summary['seconds']} s: "
          f"score median {q['p50']:.3g}, p90 {q['p90']:.3g}, p99 {q['p99']:.3g}, max {a.max():.3g}; "
          f"{summary['over_1']} over 1 (false NONCONFORMANT), {summary['over_0.5']} over 0.5")
    return 1 if summary["over_1"] else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
