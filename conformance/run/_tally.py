"""What a run has seen so far: examples, failures, the simplest failure, the largest errors (conformance.run)."""

from __future__ import annotations

import dataclasses

import numpy as np

from conformance.judge import Evaluation
from conformance.run._minimize import simplicity_key


@dataclasses.dataclass
class Tally:
    """What a run has seen so far (owned by its :class:`_CheckRun`)."""

    examples: int = 0
    failures: int = 0
    best: Evaluation | None = None  # the simplest failure so far
    max_score: float = 0.0
    max_abs: float = 0.0
    max_abs_relative: float = 0.0
    rejected: int = 0  # drawn cases the candidate's accepts= turned down
    deviations: int = 0
    deviation_examples: list[str] = dataclasses.field(default_factory=list)
    last_progress: float = 0.0

    def record(self, ev: Evaluation) -> None:
        cmp = ev.comparison
        if cmp.oracle_deviation:
            self.deviations += 1
            if len(self.deviation_examples) < 5:
                self.deviation_examples.append(cmp.oracle_deviation)
        if cmp.score != float("inf"):
            self.max_score = max(self.max_score, cmp.score)
            if cmp.max_abs_error > self.max_abs:
                self.max_abs = cmp.max_abs_error
                self.max_abs_relative = cmp.max_abs_error / largest_magnitude(ev)
        if not cmp.passed:
            self.failures += 1
            if self.best is None or simplicity_key(ev.case) < simplicity_key(self.best.case):
                self.best = ev


def largest_magnitude(ev: Evaluation) -> float:
    """The largest finite |value| the oracle returned for an example (inf when all are 0 or none finite)."""
    largest = 0.0
    if ev.oracle is not None:
        for array in ev.oracle.arrays().values():
            a = np.abs(np.asarray(array, dtype=np.float64))
            a = a[np.isfinite(a)]
            if a.size:
                largest = max(largest, float(a.max()))
    return largest if largest > 0 else float("inf")
