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
cell states) or of the final state.  The verdict (:meth:`conformance.judge.Judge.compare`)
and the localization in time (conformance.diagnose) read the same runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from conformance.spec import Case, Result, Semantics, reference_trace


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

    def uniform(self, low: float, high: float, size: Any = None) -> np.ndarray:
        rows = self.random_rows + 2 * self.batch
        if size is None or size[0] != rows:
            raise ValueError(f"stacked noise drawn with shape {size}: expected a batch-first [{rows}, ...] array")
        out = np.empty(size)
        out[: self.random_rows] = self.rng.uniform(low, high, size=(self.random_rows,) + tuple(size[1:]))
        out[self.random_rows : self.random_rows + self.batch] = 1.0
        out[self.random_rows + self.batch :] = -1.0
        return out


def _deviation(runs: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(runs.reshape((-1,) + base.shape) - base)
    return np.nan_to_num(d, nan=np.inf).max(axis=0)


def _per_step(a: np.ndarray) -> np.ndarray:
    """[B, T, X] -> the largest value of each step, broadcast back to [B, T, X]."""
    if not a.size:
        return a
    return np.broadcast_to(a.max(axis=(0, 2), keepdims=True), a.shape).copy()


def measure_spread(
    case: Case,
    unit_roundoff: float,
    *,
    random_runs: int,
    gate_rounding: bool,
    semantics: Semantics | None = None,
    base: tuple[Result, np.ndarray] | None = None,
) -> Spread:
    """The :class:`Spread` of ``case`` for a dtype of unit roundoff ``unit_roundoff``.

    ``base`` is the noise-free ``reference_trace(case, semantics=semantics)`` when the
    caller has it; ``semantics`` (default TF's) is the spec variant that is run.
    """
    spec, cells = base if base is not None else reference_trace(case, semantics=semantics)
    runs = random_runs + 2
    noise = _Stacked(np.random.default_rng(0), random_runs, case.batch)
    stacked_case = case.slice_batch(np.tile(np.arange(case.batch), runs))
    noisy, noisy_cells = reference_trace(stacked_case, (noise, unit_roundoff),  # type: ignore[arg-type]
                                         semantics=semantics, gate_rounding=gate_rounding)
    final = {k: _deviation(v, spec.arrays()[k]) for k, v in noisy.arrays().items()}
    c, h = final["c"], final["h"]
    more = {k: _per_step(v) if v.ndim == 3 else (np.full_like(v, v.max()) if v.size else v)
            for k, v in final.items() if k not in ("outputs", "c", "h")}
    return Spread(
        outputs=_per_step(final["outputs"]),
        cells=_per_step(_deviation(noisy_cells, cells)),
        c=np.full_like(c, c.max()) if c.size else c,
        h=np.full_like(h, h.max()) if h.size else h,
        frozen_rows=case.sequence_length is not None,
        more=more,
    )
