"""Examples per second of the converter candidates, with and without amortized conversion (issue 15 item 2).

    python benchmarks/converters.py [--seconds 30] [--per-params 16 64] [--json FILE] [NAME ...]

For each converter candidate (default: tflite-fused, tflite-while, tf2onnx) and each setting, cases
are drawn from the run's own strategy on the default distribution (``check``'s defaults: every
feature and dtype the candidate declares, batch <= 4, time <= 24 plus one parameter set in eight
100-160 steps long, sizes <= 16) and each is evaluated as ``check`` does (oracle, candidate, judge),
passing or not, for ``--seconds`` of wall time.  The figure is cases evaluated per second, drawing
included.  "without": ``inputs_per_params=1``, a fresh parameter set (and so a conversion) per case;
"with": ``inputs_per_params=N`` cases per parameter set, the candidate's cache converting once per set.
TF is imported, the oracle's graphs built and one conversion made before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONVERTERS = ("tflite-fused", "tflite-while", "tf2onnx")


def rate(name: str, per_params: int, seconds: float, seed: int) -> dict:
    """Cases evaluated per second for ``name`` drawing ``per_params`` cases per parameter set."""
    import numpy as np
    from hypothesis.errors import NonInteractiveExampleWarning

    from conformance.candidates import make_executor, resolve
    from conformance.judge import Judge, evaluate
    from conformance.oracle import default_oracle
    from conformance.run import CheckOptions, cases_for

    loaded = resolve(name)
    executor, oracle, judge = make_executor(loaded), default_oracle(), Judge()
    strategy = cases_for(loaded.info, CheckOptions(inputs_per_params=per_params))
    np.random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        for case in strategy.example()[:2]:  # warm: the oracle's graphs for this dtype, one conversion
            evaluate(case, executor, oracle, judge=judge)
        loaded.fn.models.clear()
        cases = passed = 0
        failures: dict[str, str] = {}  # kind -> its first message
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for case in strategy.example():
                cmp = evaluate(case, executor, oracle, judge=judge).comparison
                passed += cmp.passed
                if not cmp.passed:
                    failures.setdefault(cmp.kind or "mismatch", f"{case.config} B={case.batch} T={case.time}: "
                                                                f"{cmp.message[:200]}")
                cases += 1
                if time.perf_counter() - started >= seconds:
                    break
        elapsed = time.perf_counter() - started
    models = loaded.fn.models
    return {"candidate": name, "inputs_per_params": per_params, "cases": cases, "passed": passed,
            "seconds": round(elapsed, 2), "examples_per_s": round(cases / elapsed, 2),
            "conversions": models.misses, "cache_hits": models.hits,
            "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(CONVERTERS))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--per-params", type=int, nargs="+", default=[16, 64],
                        help="inputs per parameter set when amortized (default: 16, check's default, and 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    rows = []
    print(f"{'candidate':14} {'inputs/params':>13} {'examples/s':>10} {'cases':>6} {'passed':>6} {'conversions':>11}")
    for name in args.names:
        for per_params in (1, *args.per_params):
            row = rate(name, per_params, args.seconds, args.seed)
            rows.append(row)
            print(f"{name:14} {per_params:>13} {row['examples_per_s']:>10.2f} {row['cases']:>6} {row['passed']:>6} "
                  f"{row['conversions']:>11}", flush=True)
            for kind, message in row["failures"].items():
                print(f"    first {kind}: {message}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
