"""Comparing a candidate's Result with the expected one: tolerances, error metrics, divergence.

Tolerance rule, per element ``e`` of outputs [B, T, P], c [B, H] and h [B, P]::

    |got - expected| <= atol + rtol * |expected| + SENSITIVITY_FACTOR * spread

``atol``/``rtol`` are per dtype (:data:`DEFAULT_TOLERANCES`, overridable).
``spread`` is 0 unless the plain bound fails; then it is measured: the float64
spec is re-run with relative noise of the dtype's unit roundoff injected into
every pre-activation and state at every step, and ``spread`` is how far those
runs move each element.  It is how much two *correct* implementations of this
dtype can disagree on this case (large only where the dynamics amplify rounding,
e.g. long sequences with large recurrent weights), so it never hides a
convention difference, which moves outputs by far more than rounding does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from conformance._errors import InvalidArgument
from conformance._spec import DTYPES, Case, Result, numpy_dtype

#: Unit roundoff of each dtype.
UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "float32": 2.0**-24, "float64": 2.0**-53}


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """``|got - expected| <= atol + rtol * |expected|`` (plus the measured rounding spread)."""

    atol: float
    rtol: float

    def __post_init__(self) -> None:
        for name in ("atol", "rtol"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
                raise InvalidArgument(f"{name}={v!r} must be a finite number >= 0")


#: Documented defaults (README, "Tolerances"): about 16-64 unit roundoffs of each dtype.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(atol=1e-10, rtol=1e-10),
    "float32": Tolerance(atol=2e-6, rtol=2e-6),
    "float16": Tolerance(atol=8e-3, rtol=8e-3),
    "bfloat16": Tolerance(atol=6e-2, rtol=6e-2),
}

#: Multiple of the measured rounding spread that still counts as agreement.
SENSITIVITY_FACTOR = 8.0
#: Dtypes whose gate values (sigmoid outputs) the rounding model rounds too.  In 16-bit dtypes
#: implementations legitimately differ in where they round: TF rounds every gate to the dtype,
#: most ports (numpy-reference, cuDNN, autocast) keep the gates in float32 and round the state;
#: a forget gate near 1 rounded to float16 every step (relative 4.9e-4) moves a large c linearly
#: in time.  In float32/float64 everyone computes the gates in the dtype, as TF does.
ROUNDED_GATE_DTYPES = ("float16", "bfloat16")
#: Amplification of the dtype's unit roundoff beyond which a step is ill-conditioned (not judged).
ILL_CONDITIONED = 64.0
_SENSITIVITY_RUNS = 4

ARRAYS = ("outputs", "c", "h")


def parse_tolerance_overrides(items: list[str] | None) -> dict[str, Tolerance]:
    """``["float16=1e-2", "float32=1e-5:1e-4"]`` (atol or atol:rtol) -> tolerance table."""
    table = dict(DEFAULT_TOLERANCES)
    for item in items or []:
        dtype, sep, value = item.partition("=")
        if not sep or dtype not in DTYPES:
            raise InvalidArgument(f"--tolerance {item!r}: expected DTYPE=ATOL[:RTOL] with DTYPE in {', '.join(DTYPES)}")
        atol_s, _, rtol_s = value.partition(":")
        try:
            atol = float(atol_s)
            rtol = float(rtol_s) if rtol_s else atol
        except ValueError:
            raise InvalidArgument(f"--tolerance {item!r}: {value!r} is not a number") from None
        table[dtype] = Tolerance(atol, rtol)
    return table


@dataclasses.dataclass
class Comparison:
    """The verdict on one example, with the metrics reports show.

    ``kind`` is ``None`` when conformant, else one of ``mismatch``, ``non_finite``
    (or a fault kind set by the caller: ``exception``, ``wrong_shape``, ...).
    ``step_errors`` is the max abs error of outputs[:, t] for each t.
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
    """Spacing of ``dtype`` numbers at |x| (for bfloat16, from its 8-bit significand)."""
    import ml_dtypes  # its finfo also knows bfloat16

    finfo = ml_dtypes.finfo(dtype)
    ax = np.maximum(np.abs(x), float(finfo.tiny))
    exponent = np.floor(np.log2(ax))
    return np.exp2(exponent - (finfo.nmant))


def rounding_spread(case: Case, expected64: Result | None = None, *, semantics: Any = None) -> dict[str, np.ndarray]:
    """How far float64 spec runs with dtype-level rounding noise injected move each element.

    ``semantics`` (conformance._reference.Semantics, default TF's) is the spec variant that is run.
    """
    from conformance._reference import reference_noisy

    base = expected64 if expected64 is not None else reference_noisy(case, None, semantics=semantics)
    u = UNIT_ROUNDOFF[case.config.dtype]
    spread: dict[str, np.ndarray] = {}
    # Random rounding averages out over a long sequence; two implementations whose rounding
    # is biased the same way every step (a differently rounded sigmoid, say) drift linearly.
    # Model both: random runs, and runs rounding every value up, then every value down.
    # All runs at once, stacked along the batch axis (rows never mix): one pass of the spec
    # instead of one per run.
    runs = _SENSITIVITY_RUNS
    noise = _Stacked(np.random.default_rng(0), runs - 2, case.batch)
    stacked = reference_noisy(case.slice_batch(np.tile(np.arange(case.batch), runs)), (noise, u),
                              semantics=semantics, gate_rounding=case.config.dtype in ROUNDED_GATE_DTYPES)
    for k, v in stacked.arrays().items():
        with np.errstate(invalid="ignore"):
            d = np.abs(v.reshape((runs,) + base.arrays()[k].shape) - base.arrays()[k])
        spread[k] = np.nan_to_num(d, nan=np.inf).max(axis=0)
    # A few noisy runs sample a sensitive trajectory too sparsely to bound each element on its
    # own (one element may stay put in all of them and move in a real implementation), so each
    # element gets the largest spread of its time step (outputs) or of the final state.
    out = spread["outputs"]
    if out.size:
        spread["outputs"] = np.broadcast_to(out.max(axis=(0, 2), keepdims=True), out.shape).copy()
    for k in ("c", "h"):
        if spread[k].size:
            spread[k] = np.full_like(spread[k], spread[k].max())
    return spread


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


def _validate_shapes(case: Case, got: Result) -> tuple[str, str] | None:
    cfg = case.config
    B, T, H, P = case.batch, case.time, cfg.num_units, cfg.output_size
    want = {"outputs": (B, T, P), "c": (B, H), "h": (B, P)}
    for name, shape in want.items():
        arr = got.arrays()[name]
        if arr.shape != shape:
            return "wrong_shape", f"{name} has shape {arr.shape}, expected {shape} [B, T, P]/[B, H]/[B, P]"
    npd = cfg.np_dtype
    for name in ARRAYS:
        arr = got.arrays()[name]
        if arr.dtype != npd:
            return "wrong_dtype", f"{name} has dtype {arr.dtype}, expected {npd.name} (the case's dtype)"
    return None


def check_result_form(case: Case, got: Result) -> Comparison | None:
    """A failing Comparison if ``got`` has the wrong shapes or dtypes, else None."""
    bad = _validate_shapes(case, got)
    if bad is None:
        return None
    return Comparison(passed=False, kind=bad[0], message=bad[1], score=float("inf"))


def _judge(
    case: Case,
    got: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    tol: Tolerance,
    spread: Mapping[str, np.ndarray] | None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-array (abs error, allowed error, failing mask), all float64."""
    errs, allowed, fails = {}, {}, {}
    with np.errstate(invalid="ignore", over="ignore"):
        for name in ARRAYS:
            g = np.asarray(got[name], dtype=np.float64)
            e = np.asarray(expected[name], dtype=np.float64)
            err = np.abs(g - e)
            if np.isfinite(err).all():  # the usual case: both finite (an infinity or NaN makes err non-finite)
                allow = tol.atol + tol.rtol * np.abs(e)
            else:
                both_same_inf = np.isinf(g) & np.isinf(e) & (np.sign(g) == np.sign(e))
                err = np.where(both_same_inf, 0.0, err)
                err = np.where(np.isnan(g) & np.isnan(e), 0.0, err)
                err = np.nan_to_num(err, nan=np.inf)
                allow = tol.atol + tol.rtol * np.nan_to_num(np.abs(e), nan=0.0, posinf=0.0)
            if spread is not None:
                allow = allow + SENSITIVITY_FACTOR * spread[name]
            errs[name], allowed[name], fails[name] = err, allow, err > allow
    return errs, allowed, fails


def compare(
    case: Case,
    got: Result,
    oracle: Result,
    *,
    tolerances: Mapping[str, Tolerance] | None = None,
    spec: Result | None = None,
    semantics: Any = None,
    check_oracle: bool = True,
) -> Comparison:
    """Judge ``got`` against ``oracle`` (both in the case's dtype) for ``case``.

    ``spec`` is the float64 executable spec's Result; it is computed when needed
    (to measure rounding spread, and to check the oracle itself).  ``semantics``
    selects the spec variant whose rounding spread is measured (the diagnosis
    judges a candidate against a convention variant this way); ``check_oracle=False``
    never replaces ``oracle`` by the spec (for comparing a candidate with itself).
    """
    form = check_result_form(case, got)
    if form is not None:
        return form
    dtype = case.config.dtype
    tol = (tolerances or DEFAULT_TOLERANCES)[dtype]
    got_a, exp_a = got.arrays(), oracle.arrays()
    errs, allowed, fails = _judge(case, got_a, exp_a, tol, None)
    oracle_deviation = None
    unjudged_from = None
    if any(f.any() for f in fails.values()):
        from conformance._reference import reference_noisy

        spec = spec if spec is not None else reference_noisy(case, None, semantics=semantics)
        spread = rounding_spread(case, spec, semantics=semantics)
        errs, allowed, fails = _judge(case, got_a, exp_a, tol, spread)
        if any(f.any() for f in fails.values()):
            steps = [first_out_of_range_step(case, spec, semantics=semantics),
                     first_ill_conditioned_step(case, spec, spread)]
            unjudged_from = min((t for t in steps if t is not None), default=None)
        if unjudged_from is not None:
            mask = _judged_elements(case, unjudged_from)
            errs, allowed, fails = _apply_mask(errs, allowed, fails, mask)
        if check_oracle and any(f.any() for f in fails.values()):
            # Before blaming the candidate: does the oracle itself agree with the float64 spec here?
            # Where it does not, TF is no reference: those steps are not judged (the report says so).
            spec_in_dtype = {k: v.astype(case.config.np_dtype) for k, v in spec.arrays().items()}
            o_errs, _, o_fails = _judge(case, exp_a, spec_in_dtype, tol, spread)
            if unjudged_from is not None:
                o_errs, _, o_fails = _apply_mask(o_errs, {}, o_fails, mask)
            bad_from = _first_failing_step(case, o_fails)
            if bad_from is not None:
                worst_name = max(ARRAYS, key=lambda k: float(np.max(o_errs[k])))
                oracle_deviation = (
                    f"TensorFlow's LSTMCell differs from the float64 spec by {float(np.max(o_errs[worst_name])):.3g} "
                    f"in {worst_name} from time step {bad_from} on, beyond the {dtype} tolerance; "
                    f"the candidate is not judged on those steps"
                )
                unjudged_from = bad_from if unjudged_from is None else min(unjudged_from, bad_from)
                mask = _judged_elements(case, unjudged_from)
                errs, allowed, fails = _apply_mask(errs, allowed, fails, mask)
    cmp = _summarise(case, got_a, exp_a, errs, allowed, fails, oracle_deviation)
    if unjudged_from is not None:
        cmp.unjudged_from_step = unjudged_from
    return cmp


def first_out_of_range_step(case: Case, spec: Result, *, semantics: Any = None) -> int | None:
    """The first time step at which the computation leaves the dtype's finite range, or None.

    Judged on the float64 spec: a pre-activation partial sum (any summation order,
    bounded by ``|x_t| @ |K_x| + |m_{t-1}| @ |K_h| + |b|``), a cell state or an output
    beyond half the dtype's largest finite number (a sum of two such terms may
    overflow).  From that step on the dtype cannot represent the computation, so TF
    and every candidate may legitimately overflow in different places: those
    elements are not judged.
    """
    import ml_dtypes

    from conformance._reference import reference_trace

    big = float(ml_dtypes.finfo(case.config.np_dtype).max) / 2
    p = case.params
    I = case.config.input_size
    k = np.abs(p.kernel.astype(np.float64))
    x = np.abs(case.inputs.astype(np.float64))
    cells = reference_trace(case, semantics=semantics)[1]
    m_prev = np.concatenate([case.initial_state.h.astype(np.float64)[:, None], spec.outputs[:, :-1]], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        bound = x @ k[:I] + np.abs(m_prev) @ k[I:] + np.abs(p.bias.astype(np.float64))
        step_max = np.maximum.reduce([bound.max(axis=(0, 2)), np.abs(spec.outputs).max(axis=(0, 2)),
                                      np.abs(cells).max(axis=(0, 2))])
    over = np.nonzero(np.nan_to_num(step_max, nan=np.inf) > big)[0]
    return int(over[0]) if over.size else None


def first_ill_conditioned_step(case: Case, spec: Result, spread: Mapping[str, np.ndarray]) -> int | None:
    """The first step at which the dtype's rounding is amplified beyond :data:`ILL_CONDITIONED`, or None.

    There the measured spread exceeds ``ILL_CONDITIONED * u * (1 + max |value|)`` of that
    step: fewer than about six significant bits of the dtype determine the result (a
    chaotic trajectory, or a pre-activation cancelling large terms), so two correct
    implementations may disagree by any amount and a few noisy runs cannot bound it.
    """
    u = UNIT_ROUNDOFF[case.config.dtype]
    out = spec.outputs
    if out.size:
        scale = 1.0 + np.nan_to_num(np.abs(out).max(axis=(0, 2)), nan=np.inf, posinf=np.inf)
        bad = np.nonzero(spread["outputs"].max(axis=(0, 2)) > ILL_CONDITIONED * u * scale)[0]
        if bad.size:
            return int(bad[0])
    for k in ("c", "h"):
        arr = spec.arrays()[k]
        if arr.size and spread[k].max() > ILL_CONDITIONED * u * (1.0 + float(np.nan_to_num(np.abs(arr).max()))):
            return case.time - 1
    return None


def _first_failing_step(case: Case, fails: Mapping[str, np.ndarray]) -> int | None:
    steps = np.nonzero(fails["outputs"].any(axis=(0, 2)))[0]
    if steps.size:
        return int(steps[0])
    return case.time - 1 if fails["c"].any() or fails["h"].any() else None


def _judged_elements(case: Case, from_step: int) -> dict[str, np.ndarray]:
    out = np.ones((case.batch, case.time, case.config.output_size), dtype=bool)
    out[:, from_step:] = False
    # The final state belongs to the last step, which is at or after from_step.
    return {"outputs": out, "c": np.zeros((case.batch, case.config.num_units), dtype=bool),
            "h": np.zeros((case.batch, case.config.output_size), dtype=bool)}


def _apply_mask(errs, allowed, fails, mask):
    errs = {k: np.where(mask[k], v, 0.0) for k, v in errs.items()}
    fails = {k: v & mask[k] for k, v in fails.items()}
    return errs, allowed, fails


def _summarise(case, got_a, exp_a, errs, allowed, fails, oracle_deviation) -> Comparison:
    dtype = numpy_dtype(case.config.dtype)
    T = case.time
    out = errs["outputs"]
    step_errors = (out.max(axis=(0, 2)) if out.size else np.zeros(T)).tolist()
    def worst(a: np.ndarray) -> float:  # max, NaN counted as infinitely bad
        v = float(np.max(a)) if a.size else 0.0
        return math.inf if v != v else v

    score, max_abs, rel, ulps = 0.0, 0.0, [], []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in ARRAYS:
            err, allow = errs[k], allowed[k]
            if not err.size:
                continue
            max_abs = max(max_abs, float(np.max(err)))
            score = max(score, worst(np.where(allow > 0, err / allow, np.where(err > 0, np.inf, 0.0))))
            if not np.any(err):
                rel.append(0.0)
                ulps.append(0.0)
                continue
            e = np.asarray(exp_a[k], dtype=np.float64)
            rel.append(worst(np.where(err == 0, 0.0, err / np.abs(e))))
            ulps.append(worst(err / _ulp(e, dtype)))
    rel, ulps = rel or [0.0], ulps or [0.0]
    if not any(f.any() for f in fails.values()):
        return Comparison(
            passed=True, max_abs_error=max_abs, max_rel_error=max(rel), max_ulp_error=max(ulps), score=score,
            step_errors=step_errors, oracle_deviation=oracle_deviation,
        )
    # First divergence in time: outputs are per step; final c/h belong to the last step.
    first_step, first_array, index = None, None, None
    out_fail_steps = np.nonzero(fails["outputs"].any(axis=(0, 2)))[0]
    if out_fail_steps.size:
        first_step, first_array = int(out_fail_steps[0]), "outputs"
        sub = np.argwhere(fails["outputs"][:, first_step])[0]
        index = (int(sub[0]), first_step, int(sub[1]))
    else:
        for k in ("c", "h"):
            if fails[k].any():
                first_step, first_array = T - 1, k
                index = tuple(int(i) for i in np.argwhere(fails[k])[0])
                break
    g = float(np.asarray(got_a[first_array], dtype=np.float64)[index])
    e = float(np.asarray(exp_a[first_array], dtype=np.float64)[index])
    non_finite = not np.isfinite(g) and np.isfinite(e)
    kind = "non_finite" if non_finite or any(
        (~np.isfinite(np.asarray(got_a[k], dtype=np.float64)) & np.isfinite(np.asarray(exp_a[k], dtype=np.float64))).any()
        for k in ARRAYS
    ) else "mismatch"
    where = f"{first_array}{list(index)}" + (f" (time step {first_step})" if first_array == "outputs" else " (final state)")
    message = (
        f"{where}: got {g:.6g}, expected {e:.6g} (|diff| {abs(g - e):.3g} > allowed "
        f"{float(allowed[first_array][index]):.3g}); max abs error {max_abs:.3g}"
    )
    if kind == "non_finite":
        message = "non-finite output where the oracle is finite: " + message
    return Comparison(
        passed=False, kind=kind, message=message, max_abs_error=max_abs, max_rel_error=max(rel),
        max_ulp_error=max(ulps), score=score, first_divergent_step=first_step, first_divergent_array=first_array,
        step_errors=step_errors,
        worst={"array": first_array, "index": list(index), "got": g, "expected": e, "step": first_step},
        oracle_deviation=oracle_deviation,
    )
