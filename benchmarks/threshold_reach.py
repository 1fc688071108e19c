"""How often the default distribution shows a threshold mistake, per axis and threshold (issue 19); no TF.

    python benchmarks/threshold_reach.py [--cases N] [--seed S] [--thresholds 8,12,...] [--json OUT]

Draws ``--cases`` cases exactly as a default ``check`` of ``tests/threshold_impls.py:correct`` does
(its scope and strategy: :func:`conformance.run.cases_for` under default :class:`CheckOptions`, seeded
generation, the size tail) and, for each hand-written threshold mistake (tests/threshold_impls.py: a
remainder tile on units, a split batch, a fixed input buffer, a wrapping state ring) at each threshold
``t`` (wrong once its axis' size exceeds ``t``), judges the mistake's outputs against the correct cell's
with the harness's own :class:`~conformance.judge.Judge` (the correct cell standing in for TF, which it
matches within rounding).  Printed per mistake and threshold: the cases that pass the threshold, those
that *show* the mistake (the judge fails them), the share ``p`` that shows it, and the chance that a
``check --max-examples 1000`` run meets at least one, ``1 - (1 - p)**1000`` (cases are independent
draws; a run's 1000 examples are 1000 cases).  The chance is what the issue's "caught by the default
check" rests on; the e2e tests (tests/test_size_tail_e2e.py) confirm it against TF for some thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: Each mistake's axis, as (Case attribute path).
AXIS = {"tile_remainder": "units", "split_batch": "batch", "input_buffer": "input_size", "state_ring": "time"}
DEFAULT_THRESHOLDS = (8, 12, 16, 24, 33, 64, 100, 128, 200, 300, 400, 500, 512)


def size(case: Any, axis: str) -> int:
    return {"units": case.config.num_units, "batch": case.batch, "input_size": case.config.input_size,
            "time": case.time}[axis]


def drawn(count: int, seed: int, info: Any, options: Any) -> list[Any]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed

    from conformance.run import SEEDED_BATCH, cases_for

    out: list[Any] = []

    @hyp_seed(seed)
    @settings(max_examples=-(-count // SEEDED_BATCH), deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases_for(info, options))
    def collect(batch: Any) -> None:
        out.extend(batch)

    collect()
    return out[:count]


def reach(count: int, seed: int, thresholds: tuple[int, ...]) -> dict[str, Any]:
    from conformance.candidates import InProcessExecutor, resolve
    from conformance.judge import Judge
    from conformance.run import CheckOptions
    from tests import threshold_impls

    correct = resolve(threshold_impls.correct)
    started = time.perf_counter()
    cases = drawn(count, seed, correct.info, CheckOptions(seed=seed))
    draw_s = time.perf_counter() - started
    judge, reference = Judge(), InProcessExecutor(correct)
    wrong = {(name, t): InProcessExecutor(resolve(threshold_impls.with_threshold(name, t)))
             for name in AXIS for t in thresholds}
    passed = {key: 0 for key in wrong}
    shown = {key: 0 for key in wrong}
    for case in cases:
        expected = None
        for (name, t), executor in wrong.items():
            if size(case, AXIS[name]) <= t:
                continue
            passed[name, t] += 1
            expected = expected if expected is not None else reference.run(case)
            shown[name, t] += not judge.compare(case, executor.run(case), expected).passed
    rows = []
    for (name, t) in wrong:
        p = shown[name, t] / len(cases)
        rows.append({"mistake": name, "axis": AXIS[name], "threshold": t, "passing_threshold": passed[name, t],
                     "showing": shown[name, t], "p": p, "per_1000": 1000 * p, "caught_in_1000": 1 - (1 - p) ** 1000})
    return {"cases": len(cases), "seed": seed, "draw_s": draw_s, "seconds": time.perf_counter() - started,
            "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=8000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--thresholds", default=",".join(map(str, DEFAULT_THRESHOLDS)))
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    figures = reach(args.cases, args.seed, tuple(int(t) for t in args.thresholds.split(",")))
    print(f"{figures['cases']} cases (seed {figures['seed']}), {figures['seconds']:.0f} s")
    print(f"{'mistake':16} {'axis':11} {'t':>4} {'> t':>6} {'shows':>6} {'per 1000':>9} {'P(caught, 1000)':>16}")
    for r in figures["rows"]:
        print(f"{r['mistake']:16} {r['axis']:11} {r['threshold']:4d} {r['passing_threshold']:6d} {r['showing']:6d} "
              f"{r['per_1000']:9.2f} {r['caught_in_1000']:16.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
