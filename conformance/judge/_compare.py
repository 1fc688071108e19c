"""The verdict on one example: :class:`Comparison`, its metrics and its one-line message.

Tolerance rule, per element ``e`` of outputs [B, T, P], c [B, H] and h [B, P]::

    |got - expected| <= atol + rtol * |expected| + sensitivity_factor * spread

(:class:`conformance.judge.Judge` applies it; ``spread`` is the rounding model of
conformance.judge._rounding, measured only when the plain bound fails.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.spec import Case, Result, distinct, label_of, numpy_dtype, shortest


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The verdict on one example, with the metrics reports show.

    ``kind`` is ``None`` when conformant, else one of ``mismatch``, ``non_finite``
    (or a fault kind set by the caller: ``exception``, ``wrong_shape``, ...).
    ``step_errors`` is the max abs error of outputs[:, t] for each t.  ``max_ulp_error`` counts
    |got - expected| in units of the dtype's spacing at max(|expected|, |got|) (the smallest normal
    at least), so an expected 0 gives a sane figure; its ceiling is about 2**(nmant + 1).
    """

    passed: bool
    kind: str | None = None
    message: str = ""
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    max_ulp_error: float = 0.0
    #: max over elements of error / allowed error: > 1 means nonconformant.
    score: float = 0.0
    first_divergent_step: int | None = None
    first_divergent_array: str | None = None
    step_errors: list[float] = dataclasses.field(default_factory=list)
    worst: dict[str, Any] | None = None
    oracle_deviation: str | None = None
    #: Steps from here on left the dtype's finite range (see first_out_of_range_step): not judged.
    unjudged_from_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _ulp(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Spacing of ``dtype`` numbers at |x| (for bfloat16, from its 8-bit significand); |x| below the
    smallest normal counts as the smallest normal."""
    import ml_dtypes  # its finfo also knows bfloat16

    finfo = ml_dtypes.finfo(dtype)
    ax = np.maximum(np.abs(x), float(finfo.tiny))
    exponent = np.floor(np.log2(ax))
    return np.exp2(exponent - (finfo.nmant))


def _validate_shapes(case: Case, got: Result) -> tuple[str, str] | None:
    want = case.result_shapes()
    arrays = got.arrays()
    for name, shape in want.items():
        if name not in arrays:
            return "wrong_shape", f"no {name} returned (expected {shape})"
        if arrays[name].shape != shape:
            return "wrong_shape", f"{name} has shape {arrays[name].shape}, expected {shape} [B, T, P]/[B, H]/[B, P]"
    npd = case.config.np_dtype
    for name in want:
        if arrays[name].dtype != npd:
            return "wrong_dtype", f"{name} has dtype {arrays[name].dtype}, expected {npd.name} (the case's dtype)"
    return None


def per_step(a: np.ndarray) -> bool:
    """Whether a Result array is per time step ([B, T, P]: outputs) rather than a final state ([B, H])."""
    return np.ndim(a) == 3


def check_result_form(case: Case, got: Result) -> Comparison | None:
    """A failing Comparison if ``got`` has the wrong shapes or dtypes, else None."""
    bad = _validate_shapes(case, got)
    if bad is None:
        return None
    return Comparison(passed=False, kind=bad[0], message=bad[1], score=float("inf"))


def first_failing_step(case: Case, fails: Mapping[str, np.ndarray]) -> int | None:
    steps = [int(np.nonzero(f.any(axis=(0, 2)))[0][0]) for f in fails.values() if per_step(f) and f.any()]
    if steps:
        return min(steps)
    return case.time - 1 if any(f.any() for f in fails.values()) else None


def judged_elements(case: Case, from_step: int) -> dict[str, np.ndarray]:
    out = {}
    for name, shape in case.result_shapes().items():
        mask = np.zeros(shape, dtype=bool)
        if len(shape) == 3:
            mask[:, :from_step] = True
        # A final state belongs to the last step, which is at or after from_step.
        out[name] = mask
    return out


def apply_mask(errs: dict[str, np.ndarray], allowed: dict[str, np.ndarray], fails: dict[str, np.ndarray],
               mask: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Zero the errors and failures of elements outside ``mask`` (steps that are not judged)."""
    errs = {k: np.where(mask[k], v, 0.0) for k, v in errs.items()}
    fails = {k: v & mask[k] for k, v in fails.items()}
    return errs, allowed, fails


def _first_failure(fails: Mapping[str, np.ndarray], T: int) -> tuple[int, str, tuple[int, ...]]:
    """(step, array, index) of the first failing element in time: outputs are per step; the final
    states belong to the last step.  ``fails`` must hold at least one failure."""
    firsts = [(int(np.nonzero(f.any(axis=(0, 2)))[0][0]), name) for name, f in fails.items() if per_step(f) and f.any()]
    if firsts:
        step, name = min(firsts, key=lambda sn: sn[0])  # min keeps the first array of a tie: outputs first
        sub = np.argwhere(fails[name][:, step])[0]
        return step, name, (int(sub[0]), step, int(sub[1]))
    name = next(n for n, f in fails.items() if f.any())
    return T - 1, name, tuple(int(i) for i in np.argwhere(fails[name])[0])


def describe_element(case: Case, array: str, index: tuple[int, ...]) -> str:
    """``array[index]`` as the candidate sees it, with its step, row and row length: ``outputs[1, 2, 0]
    (time step 2, row 1 of length 1: past the row's end)``; ``index`` is batch-major (``[b, t, p]``
    for outputs, ``[b, k]`` for c and h); a time-major case's outputs are shown ``[t, b, p]``."""
    b = int(index[0])
    lengths = case.lengths() if case.sequence_length is not None else None
    row = "" if lengths is None else f", row {b} of length {int(lengths[b])}"
    if not array.startswith("outputs"):
        whose = "" if case.single_cell else f" of {label_of(array)}"
        return f"{array}{list(index)} (final state{whose}{row})"
    t = int(index[1])
    shown = [t, b, *index[2:]] if case.config.time_major else list(index)
    layout = "time-major, " if case.config.time_major else ""
    padded = ": past the row's end" if lengths is not None and t >= lengths[b] else ""
    whose = "" if case.single_cell else f"top layer {'backward' if array == 'outputs_bw' else 'forward'}, "
    return f"{array}{shown} ({whose}{layout}time step {t}{row}{padded})"


def summarise(case: Case, got_a: Mapping[str, np.ndarray], exp_a: Mapping[str, np.ndarray],
              errs: Mapping[str, np.ndarray], allowed: Mapping[str, np.ndarray], fails: Mapping[str, np.ndarray],
              oracle_deviation: str | None, unjudged_from_step: int | None = None) -> Comparison:
    """The Comparison of one example from its per-array errors, allowed errors and failing masks."""
    dtype = numpy_dtype(case.config.dtype)
    T = case.time
    outs = [e for name, e in errs.items() if per_step(e) and e.size]
    step_errors = (np.max([e.max(axis=(0, 2)) for e in outs], axis=0) if outs else np.zeros(T)).tolist()

    def worst(a: np.ndarray) -> float:  # max, NaN counted as infinitely bad
        v = float(np.max(a)) if a.size else 0.0
        return math.inf if v != v else v

    score, max_abs = 0.0, 0.0
    rel: list[float] = []
    ulps: list[float] = []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in errs:
            err, allow = errs[k], allowed[k]
            if not err.size:
                continue
            max_abs = max(max_abs, float(np.max(err)))
            score = max(score, worst(np.where(allow > 0, err / allow, np.where(err > 0, np.inf, 0.0))))
            if not np.any(err):
                rel.append(0.0)
                ulps.append(0.0)
                continue
            wide = np.asarray(exp_a[k], dtype=np.float64)
            rel.append(worst(np.where(err == 0, 0.0, err / np.abs(wide))))
            # ULPs at the larger of |expected| and |got|: at expected = 0 the spacing at the smallest
            # normal would turn any error into ~1e44 ULPs; this way the figure is the familiar one
            # near agreement and tops out near 2**(nmant + 1) ("every digit wrong") far from it.
            scale = np.maximum(np.abs(wide), np.abs(np.asarray(got_a[k], dtype=np.float64)))
            ulps.append(worst(np.where(err == 0, 0.0, err / _ulp(scale, dtype))))
    rel, ulps = rel or [0.0], ulps or [0.0]
    if not any(f.any() for f in fails.values()):
        return Comparison(
            passed=True, max_abs_error=max_abs, max_rel_error=max(rel), max_ulp_error=max(ulps), score=score,
            step_errors=step_errors, oracle_deviation=oracle_deviation,
            unjudged_from_step=unjudged_from_step,
        )
    first_step, first_array, index = _first_failure(fails, T)
    g = float(np.asarray(got_a[first_array], dtype=np.float64)[index])
    e = float(np.asarray(exp_a[first_array], dtype=np.float64)[index])
    non_finite = not np.isfinite(g) and np.isfinite(e)
    kind = "non_finite" if non_finite or any(
        (~np.isfinite(np.asarray(got_a[k], dtype=np.float64)) & np.isfinite(np.asarray(exp_a[k], dtype=np.float64))).any()
        for k in errs
    ) else "mismatch"
    where = describe_element(case, first_array, index)
    diff_text, allowed_text = distinct(abs(g - e), float(allowed[first_array][index]))
    message = (
        f"{where}: got {shortest(g, case.config.dtype)}, expected {shortest(e, case.config.dtype)} "
        f"(|diff| {diff_text} > allowed {allowed_text}); max abs error {max_abs:.2g}"
    )
    if kind == "non_finite":
        message = "non-finite output where the oracle is finite: " + message
    return Comparison(
        passed=False, kind=kind, message=message, max_abs_error=max_abs, max_rel_error=max(rel),
        max_ulp_error=max(ulps), score=score, first_divergent_step=first_step, first_divergent_array=first_array,
        step_errors=step_errors,
        worst={"array": first_array, "index": list(index), "got": g, "expected": e, "step": first_step},
        oracle_deviation=oracle_deviation, unjudged_from_step=unjudged_from_step,
    )
