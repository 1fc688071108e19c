"""How throughput scales with the batch, the time steps and the units.

    python benchmarks/scaling.py [--json OUT] [--plot PNG] [--examples 48]

For each size point (one of batch B, time T, units H grows, the others fixed; the
input size equals H; float32, tanh, no options), measures:

* ``harness``: examples/s of the harness's pipeline on cases of exactly that size:
  the default generation (``strategies.seeded_cases`` pinned to the size, 16 cases
  per Hypothesis example), the oracle on its own thread, the ``numpy-reference``
  candidate and the comparison, as ``check`` runs them;
* ``oracle``: calls/s of :class:`conformance.oracle._oracle.TFOracle` alone on the same cases (warm);
* ``eager``: calls/s of :class:`conformance.oracle._oracle.EagerOracle` (a TF cell built
  per case and stepped eagerly: the straightforward oracle) on the same cases.

Prints a Markdown table (the one in benchmarks/README.md) and optionally plots it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: (label, batch, time, units) per point; each series varies one of them.
SERIES: dict[str, list[tuple[int, int, int]]] = {
    "time steps T (B=4, H=16)": [(4, t, 16) for t in (1, 8, 32, 128, 512)],
    "units H = input size (B=4, T=16)": [(4, 16, h) for h in (1, 4, 16, 64, 256)],
    "batch B (T=16, H=16)": [(b, 16, 16) for b in (1, 4, 16, 64)],
}


def measure(batch: int, time_steps: int, units: int, examples: int, eager_calls: int) -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed

    import strategies
    from conformance.candidates import InProcessExecutor
    from conformance.judge import evaluate, submit_all
    from conformance.oracle import EagerOracle, default_oracle
    from conformance.run import SEEDED_BATCH
    from conformance.spec import LSTMConfig
    from conformance.candidates import resolve

    config = LSTMConfig(num_units=units, input_size=units)
    pinned = strategies.seeded_cases(count=SEEDED_BATCH, min_batch=batch, max_batch=batch, min_time=time_steps,
                                     max_time=time_steps, long_sequences=False, min_units=units, max_units=units,
                                     min_input_size=units, max_input_size=units, features=[], dtypes=["float32"])
    oracle, executor = default_oracle(), InProcessExecutor(resolve("numpy-reference"))
    cases: list = []

    @hyp_seed(0)
    @settings(max_examples=-(-examples // SEEDED_BATCH), deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(pinned)
    def harness(batch_of_cases):
        cases.extend(batch_of_cases)
        for case, pending in zip(batch_of_cases, submit_all(batch_of_cases, oracle)):
            evaluate(case, executor, oracle, pending=pending)

    oracle.warm([config])
    started = time.perf_counter()
    harness()
    harness_s = time.perf_counter() - started
    started = time.perf_counter()
    for case in cases:
        oracle.run(case)
    oracle_s = time.perf_counter() - started
    eager = EagerOracle()
    eager.run(cases[0])  # its kernels warmed too
    subset = cases[:eager_calls]
    started = time.perf_counter()
    for case in subset:
        eager.run(case)
    eager_s = time.perf_counter() - started
    return {"batch": batch, "time": time_steps, "units": units, "examples": len(cases),
            "harness_examples_per_s": len(cases) / harness_s, "oracle_calls_per_s": len(cases) / oracle_s,
            "eager_calls_per_s": len(subset) / eager_s}


def markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| series | B | T | H | harness examples/s | oracle calls/s | eager oracle calls/s | oracle / eager |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, points in results.items():
        for p in points:
            lines.append(f"| {name} | {p['batch']} | {p['time']} | {p['units']} | {p['harness_examples_per_s']:.0f} | "
                         f"{p['oracle_calls_per_s']:.0f} | {p['eager_calls_per_s']:.1f} | "
                         f"{p['oracle_calls_per_s'] / p['eager_calls_per_s']:.0f}x |")
    return "\n".join(lines)


def plot(results: dict[str, list[dict[str, Any]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), sharey=True)
    keys = {"time steps": "time", "units": "units", "batch": "batch"}
    for ax, (name, points) in zip(axes, results.items()):
        x_key = next(v for k, v in keys.items() if name.startswith(k))
        xs = [p[x_key] for p in points]
        for metric, label in (("harness_examples_per_s", "harness (examples/s)"),
                              ("oracle_calls_per_s", "oracle alone (calls/s)"),
                              ("eager_calls_per_s", "eager TF cell per case (calls/s)")):
            ax.plot(xs, [p[metric] for p in points], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(name)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("per second")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=48, help="harness examples per point (default 48: 3 seeded batches)")
    p.add_argument("--eager-calls", type=int, default=3, help="eager oracle calls per point (default 3)")
    p.add_argument("--json", metavar="OUT")
    p.add_argument("--plot", metavar="PNG")
    args = p.parse_args(argv)
    from conformance.oracle import import_tensorflow

    import_tensorflow()
    measure(2, 4, 4, 5, 1)  # untimed: first-use costs (imports, TF's eager kernels) land here
    results = {name: [measure(b, t, h, args.examples, args.eager_calls) for b, t, h in points]
               for name, points in SERIES.items()}
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
                       "load_average": os.getloadavg(), "results": results}, fh, indent=2)
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
