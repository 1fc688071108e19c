"""The one rounding model: how far two *correct* implementations of a dtype can disagree on a case.

The float64 spec is re-run with relative noise of the dtype's unit roundoff injected
into every pre-activation and state at every step (and, in 16-bit dtypes, into the
input and forget gates' values).  Random rounding averages out over a long sequence;
two implementations whose rounding is biased the same way every step (a differently
rounded sigmoid, say) drift linearly.  The model runs both: ``random_runs`` runs with
uniform noise, one rounding every value up and one every value down, all at once,
stacked along the batch axis (rows never mix).

A few noisy runs sample a sensitive trajectory too sparsely to bound each element on
its own (one element may stay put in all of them and move in a real implementation),
so each element gets the largest deviation of its time step (outputs and per-step
cell states) or of the final state.

Nor do they bound each *step* on its own: near a saturation or a bifurcation a perturbation
either dies out or tips a unit to another branch, and a unit whose forget gate is ~1 keeps
what it was tipped to for the rest of the sequence.  The noisy runs' deviation may rise at
such a step and fall back after it (their perturbations happened to re-converge) while a
real implementation's rounding at the same step tipped the unit and kept it there (issue 17:
a bidirectional bfloat16 case whose backward memory unit is kicked to -1.4 instead of 0.003,
a 16-step chaotic one, a 43-step one; each passed with most seeds of the random runs and failed with the
one that found it, so more runs alone only make such cases rarer).  So a deviation once
reached stays possible: each step's spread is the largest of the steps computed before it,
in the order the direction computes them (a backward direction's from the last step down),
and a final state's is at least the spread of the step it is the state after.
The verdict (:meth:`conformance.judge.Judge.compare`) and the localization in time
(conformance.diagnose) read the same runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from conformance.spec import BACKWARD, FORWARD, Case, Result, Semantics, cell_prefix, reference_trace


@dataclasses.dataclass(frozen=True)
class Spread:
    """How far the noisy runs move each element, float64.

    ``outputs`` [B, T, P] and ``cells`` [B, T, H] hold the largest deviation of each time
    step; ``c`` [B, H] and ``h`` [B, P] the largest deviation of the final state.
    """

    outputs: np.ndarray
    cells: np.ndarray
    c: np.ndarray
    h: np.ndarray
    #: The case has row lengths: a row's state h past its end is its last output, not this step's.
    frozen_rows: bool = False
    #: A network's other arrays (``outputs_bw``, the other cells' final states): per step or final, as above.
    more: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def final(self) -> dict[str, np.ndarray]:
        """The spread of what a candidate returns: outputs, final c and h and a network's others (the verdict's)."""
        return {"outputs": self.outputs, "c": self.c, "h": self.h, **self.more}

    def widest(self, other: Spread) -> Spread:
        """The elementwise larger of two spreads of one case (more noisy runs: never a smaller allowance)."""
        return dataclasses.replace(
            self, outputs=np.maximum(self.outputs, other.outputs), cells=np.maximum(self.cells, other.cells),
            c=np.maximum(self.c, other.c), h=np.maximum(self.h, other.h),
            more={k: np.maximum(v, other.more[k]) if k in other.more else v for k, v in self.more.items()})

    def per_step(self) -> dict[str, np.ndarray]:
        """The spread of each step's state: outputs, c [B, T, H] and h [B, T, P] (the step's output; with row
        lengths the largest of the steps so far, since a row's h past its end is an earlier step's output)."""
        h = np.maximum.accumulate(self.outputs, axis=1) if self.frozen_rows and self.outputs.size else self.outputs
        return {"outputs": self.outputs, "c": self.cells, "h": h}


class _Stacked:
    """The noise of the stacked runs: the first ``random_runs`` blocks of ``batch`` rows draw uniform
    noise in [-1, 1] (random rounding), the next block is +1 (every value rounded up), the last -1."""

    def __init__(self, rng: np.random.Generator, random_runs: int, batch: int):
        self.rng, self.random_rows, self.batch = rng, random_runs * batch, batch
        self._biased: dict[tuple[int, ...], np.ndarray] = {}  # the +1 and -1 blocks, by the shape of a row

    def uniform(self, low: float, high: float, size: Any = None) -> np.ndarray:
        rows = self.random_rows + 2 * self.batch
        if size is None or size[0] != rows:
            raise ValueError(f"stacked noise drawn with shape {size}: expected a batch-first [{rows}, ...] array")
        row = tuple(size[1:])
        biased = self._biased.get(row)
        if biased is None:
            biased = self._biased[row] = np.concatenate([np.ones((self.batch,) + row), -np.ones((self.batch,) + row)])
        return np.concatenate([self.rng.uniform(low, high, size=(self.random_rows,) + row), biased])


def _deviation(runs: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(runs.reshape((-1,) + base.shape) - base)
    return np.nan_to_num(d, nan=np.inf).max(axis=0)


def _per_step(a: np.ndarray, *, backward: bool = False) -> np.ndarray:
    """[B, T, X] -> the largest value of each step and of every step computed before it (from step 0 up;
    ``backward``: from step T - 1 down), broadcast back to [B, T, X]."""
    if not a.size:
        return a
    steps = a.max(axis=(0, 2))
    steps = np.maximum.accumulate(steps[::-1])[::-1] if backward else np.maximum.accumulate(steps)
    return np.broadcast_to(steps[None, :, None], a.shape).copy()


def _final(a: np.ndarray, *after: np.ndarray) -> np.ndarray:
    """A final state's spread [B, X]: its largest deviation, and at least that of the step it is the state after."""
    if not a.size:
        return a
    return np.full_like(a, max([float(a.max())] + [float(s.max()) for s in after if s.size]))


#: Most numbers the stacked noisy runs of one pass may hold (inputs, outputs and cell states of every run, float64:
#: 2**25 is 256 MB an array).  A larger case runs its rows a few at a time (rows never mix), so a [64, 1000, 1024]
#: case costs ~1 GB instead of its four runs' ~6 GB; every case of the default distribution fits one pass.
MAX_STACKED_ELEMENTS = 2**25


def _rows_per_run(case: Case, runs: int) -> int:
    """How many batch rows one stacked pass of ``runs`` noisy runs takes (all of them unless that exceeds
    :data:`MAX_STACKED_ELEMENTS`)."""
    width = sum(c.config.input_size + c.config.num_units + c.config.output_size for _, _, c in case.cells())
    return max(1, MAX_STACKED_ELEMENTS // max(runs * case.time * width, 1))


def _deviations(case: Case, expected: dict[str, np.ndarray], cells: np.ndarray, rng: np.random.Generator,
                unit_roundoff: float, random_runs: int, gate_rounding: bool, semantics: Semantics | None
                ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The noisy runs of ``case`` stacked along the batch axis: each returned array's largest deviation from
    ``expected`` (the noise-free spec's arrays), and the first cell's state's from ``cells`` [B, T, H]."""
    noise = _Stacked(rng, random_runs, case.batch)
    stacked_case = case.slice_batch(np.tile(np.arange(case.batch), random_runs + 2))
    noisy, noisy_cells = reference_trace(stacked_case, (noise, unit_roundoff),  # type: ignore[arg-type]
                                         semantics=semantics, gate_rounding=gate_rounding)
    return {k: _deviation(v, expected[k]) for k, v in noisy.arrays().items()}, _deviation(noisy_cells, cells)


def measure_spread(
    case: Case,
    unit_roundoff: float,
    *,
    random_runs: int,
    gate_rounding: bool,
    semantics: Semantics | None = None,
    base: tuple[Result, np.ndarray] | None = None,
    seed: int = 0,
) -> Spread:
    """The :class:`Spread` of ``case`` for a dtype of unit roundoff ``unit_roundoff``.

    ``base`` is the noise-free ``reference_trace(case, semantics=semantics)`` when the
    caller has it; ``semantics`` (default TF's) is the spec variant that is run; ``seed``
    seeds the random runs (fixed, so a verdict is reproducible).
    """
    spec, cells = base if base is not None else reference_trace(case, semantics=semantics)
    rng = np.random.default_rng(seed)
    rows = _rows_per_run(case, random_runs + 2)
    if rows >= case.batch:
        final, cell_deviation = _deviations(case, spec.arrays(), cells, rng, unit_roundoff, random_runs,
                                            gate_rounding, semantics)
    else:  # rows never mix: the stacked runs go a few rows at a time, so memory stays bounded (see _rows_per_run)
        expected = spec.arrays()
        parts = [_deviations(case.slice_batch(slice(lo, lo + rows)), {k: v[lo : lo + rows] for k, v in expected.items()},
                             cells[lo : lo + rows], rng, unit_roundoff, random_runs, gate_rounding, semantics)
                 for lo in range(0, case.batch, rows)]
        final = {k: np.concatenate([part[0][k] for part in parts]) for k in parts[0][0]}
        cell_deviation = np.concatenate([part[1] for part in parts])
    steps = {k: _per_step(v, backward=k.endswith("_bw")) for k, v in final.items() if v.ndim == 3}
    per_cell = _per_step(cell_deviation)
    # The first cell's final c is its state after the last step; the top layer's final h (outputs' last step,
    # outputs_bw's first; the first cell's in a one-cell case) is its last output.  With row lengths a row
    # ends earlier, at a step whose spread is no larger (the spread never decreases in compute order).
    last = {"c": [per_cell[:, -1]]}
    top = case.num_layers - 1
    for name, out, at in (("outputs", FORWARD, -1), ("outputs_bw", BACKWARD, 0)):
        if name in steps:
            last.setdefault(cell_prefix(top, out) + "h", []).append(steps[name][:, at])
    finals = {k: _final(v, *last.get(k, ())) for k, v in final.items() if v.ndim != 3}
    more = {k: steps[k] if k in steps else finals[k] for k in final if k not in ("outputs", "c", "h")}
    return Spread(
        outputs=steps["outputs"],
        cells=per_cell,
        c=finals["c"],
        h=finals["h"],
        frozen_rows=case.sequence_length is not None,
        more=more,
    )
