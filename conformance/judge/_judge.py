"""The one judging core: a :class:`Judge` holds the tolerance table and the policy, and judges.

Built once per run (``Judge.from_tolerances(options.tolerances)``) and handed to
everything that decides whether two results agree: the verdict, re-runs for
nondeterminism, structural properties, the diagnosis and the localization.  They all
use :meth:`Judge.elementwise` with the same rounding model (conformance.judge._rounding),
so an explanation never disagrees with the verdict it explains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from conformance.judge._compare import (
    Comparison,
    apply_mask,
    check_result_form,
    first_failing_step,
    judged_elements,
    summarise,
)
from conformance.judge._rounding import Spread, measure_spread
from conformance.judge._tolerance import DEFAULT_TOLERANCES, UNIT_ROUNDOFF, Tolerance
from conformance.spec import DTYPES, Case, InvalidArgument, Result, Semantics, reference_trace

#: Per-array (abs error, allowed error, failing mask), all float64.
Elementwise = tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class Judge:
    """Tolerance table plus policy.

    * ``tolerances``: per-dtype ``atol``/``rtol`` (:data:`DEFAULT_TOLERANCES` by default);
    * ``sensitivity_factor``: multiple of the measured rounding spread that still counts
      as agreement;
    * ``ill_conditioned``: amplification of the dtype's unit roundoff beyond which a step
      is ill-conditioned and not judged;
    * ``rounded_gate_dtypes``: dtypes whose gate values the rounding model rounds too.
      In 16-bit dtypes implementations legitimately differ in where they round: TF
      rounds every gate to the dtype, most ports (cuDNN, autocast, numpy-reference) keep
      the gates in float32 and round the state; a forget gate near 1 rounded to float16
      every step (relative 4.9e-4) moves a large c linearly in time.  In float32/float64
      everyone computes the gates in the dtype, as TF does;
    * ``random_runs``: noisy runs with random rounding (plus one all-up, one all-down);
    * ``confirm_runs``: before a case fails, the spread is measured again with this many random runs
      (another seed) and the wider of the two is the verdict's.  Two runs bound a well-conditioned case;
      on a sensitive one (bfloat16 and a kernel of entries ~10) they are a small sample of how far two
      correct implementations drift: a 30-minute fuzz failed the correct reference on one such case
      (score 2.2 with 2 runs, 0.14 with 4).  It costs nothing on cases that pass.
    """

    tolerances: Mapping[str, Tolerance] = dataclasses.field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    sensitivity_factor: float = 8.0
    ill_conditioned: float = 64.0
    rounded_gate_dtypes: frozenset[str] = dataclasses.field(default_factory=lambda: frozenset({"float16", "bfloat16"}))
    random_runs: int = 2
    confirm_runs: int = 8

    def __post_init__(self) -> None:
        missing = [d for d in DTYPES if d not in self.tolerances]
        if missing:
            raise InvalidArgument(f"tolerances={dict(self.tolerances)!r} lacks dtype(s) {', '.join(missing)}")
        for d, t in self.tolerances.items():
            if not isinstance(t, Tolerance):
                raise InvalidArgument(f"tolerances[{d!r}]={t!r} must be a Tolerance")
        for name in ("sensitivity_factor", "ill_conditioned"):
            if not getattr(self, name) > 0:
                raise InvalidArgument(f"{name}={getattr(self, name)!r} must be > 0")
        object.__setattr__(self, "tolerances", MappingProxyType(dict(self.tolerances)))
        object.__setattr__(self, "rounded_gate_dtypes", frozenset(self.rounded_gate_dtypes))

    @classmethod
    def from_tolerances(cls, tolerances: Mapping[str, Tolerance] | None) -> Judge:
        """The default policy with ``tolerances`` (None: the documented defaults; a partial table is completed)."""
        return cls({**DEFAULT_TOLERANCES, **(tolerances or {})})

    def tolerance(self, dtype: str) -> Tolerance:
        return self.tolerances[dtype]

    # -- elementwise ---------------------------------------------------------------------------------
    def elementwise(
        self,
        case: Case,
        got: Mapping[str, np.ndarray],
        expected: Mapping[str, np.ndarray],
        spread: Mapping[str, np.ndarray] | None = None,
        *,
        names: tuple[str, ...] | None = None,
    ) -> Elementwise:
        """Per-array (abs error, allowed error, failing mask) of ``got`` against ``expected``.

        Allowed: ``atol + rtol * |expected| + sensitivity_factor * spread``; the same infinity
        on both sides, or NaN on both, is no error.
        """
        tol = self.tolerances[case.config.dtype]
        errs, allowed, fails = {}, {}, {}
        if names is None:  # every array the expected Result holds (outputs, c, h, and a network's others)
            names = tuple(expected)
        with np.errstate(invalid="ignore", over="ignore"):
            for name in names:
                g = np.asarray(got[name], dtype=np.float64)
                e = np.asarray(expected[name], dtype=np.float64)
                err = np.abs(g - e)
                if np.isfinite(err).all():  # the usual case: both finite
                    allow = tol.atol + tol.rtol * np.abs(e)
                else:
                    both_same_inf = np.isinf(g) & np.isinf(e) & (np.sign(g) == np.sign(e))
                    err = np.where(both_same_inf, 0.0, err)
                    err = np.where(np.isnan(g) & np.isnan(e), 0.0, err)
                    err = np.nan_to_num(err, nan=np.inf)
                    allow = tol.atol + tol.rtol * np.nan_to_num(np.abs(e), nan=0.0, posinf=0.0)
                if spread is not None:
                    allow = allow + self.sensitivity_factor * spread[name]
                errs[name], allowed[name], fails[name] = err, allow, err > allow
        return errs, allowed, fails

    # -- the rounding model --------------------------------------------------------------------------
    def spread(self, case: Case, *, semantics: Semantics | None = None,
               base: tuple[Result, np.ndarray] | None = None, random_runs: int | None = None,
               seed: int = 0) -> Spread:
        """The rounding model's :class:`Spread` of ``case`` in its dtype (see conformance.judge._rounding);
        ``random_runs`` (default ``self.random_runs``) and ``seed`` choose the noisy runs."""
        dtype = case.config.dtype
        return measure_spread(case, UNIT_ROUNDOFF[dtype],
                              random_runs=self.random_runs if random_runs is None else random_runs, seed=seed,
                              gate_rounding=dtype in self.rounded_gate_dtypes, semantics=semantics, base=base)

    def first_ill_conditioned_step(self, case: Case, spec: Result, spread: Spread) -> int | None:
        """The first step at which the dtype's rounding is amplified beyond ``ill_conditioned``, or None.

        There the measured spread exceeds ``ill_conditioned * u * (1 + max |value|)`` of that
        step: fewer than about six significant bits of the dtype determine the result (a
        chaotic trajectory, or a pre-activation cancelling large terms), so two correct
        implementations may disagree by any amount and a few noisy runs cannot bound it.
        """
        u = UNIT_ROUNDOFF[case.config.dtype]
        spreads = spread.final()
        values = spec.arrays()
        # Every per-step array (a network's backward outputs too), the earliest step over them; then the states.
        steps = []
        for k, out in values.items():
            if out.ndim != 3 or not out.size or k not in spreads:
                continue
            scale = 1.0 + np.nan_to_num(np.abs(out).max(axis=(0, 2)), nan=np.inf, posinf=np.inf)
            bad = np.nonzero(spreads[k].max(axis=(0, 2)) > self.ill_conditioned * u * scale)[0]
            if bad.size:
                steps.append(int(bad[0]))
        if steps:
            return min(steps)
        for k, arr in values.items():
            s = spreads.get(k)
            if arr.ndim == 2 and arr.size and s is not None and s.max() > self.ill_conditioned * u * (
                    1.0 + float(np.nan_to_num(np.abs(arr).max()))):
                return case.time - 1
        return None

    # -- the verdict ---------------------------------------------------------------------------------
    def compare(
        self,
        case: Case,
        got: Result,
        expected: Result,
        *,
        spec: Result | None = None,
        semantics: Semantics | None = None,
        check_oracle: bool = True,
        trace: tuple[Result, np.ndarray] | None = None,
        spread: Spread | None = None,
        always_spread: bool = False,
    ) -> Comparison:
        """Judge ``got`` against ``expected`` (the oracle's Result; both in the case's dtype).

        ``spec`` is the float64 executable spec's Result; it is computed when needed (to
        measure the rounding spread, and to check the oracle itself).  ``semantics`` selects
        the spec variant whose spread is measured (the diagnosis judges a candidate against a
        convention variant this way); ``check_oracle=False`` never replaces ``expected`` by
        the spec (for comparing a candidate with itself).  A caller that already holds the
        spec's ``reference_trace`` (Result, cells [B, T, H]) or its :class:`Spread` for these
        semantics passes them as ``trace``/``spread`` instead of having them computed again.
        ``always_spread``: measure the spread even when the plain bound holds, so that the score is
        error / (atol + rtol |e| + factor * spread) on every case (margins; the verdict is the same).
        """
        # Overflow to inf and inf - inf are expected here (saturating or exploding cases): the arrays carry them
        # and the rule reads them; numpy's warnings about them only clutter a run's output.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._compare(case, got, expected, spec=spec, semantics=semantics, check_oracle=check_oracle,
                                 trace=trace, spread=spread, always_spread=always_spread)

    def _compare(self, case: Case, got: Result, expected: Result, *, spec: Result | None,
                 semantics: Semantics | None, check_oracle: bool, trace: tuple[Result, np.ndarray] | None,
                 spread: Spread | None, always_spread: bool) -> Comparison:
        form = check_result_form(case, got)
        if form is not None:
            return form
        got_a, exp_a = got.arrays(), expected.arrays()
        errs, allowed, fails = self.elementwise(case, got_a, exp_a)
        oracle_deviation = None
        unjudged_from = None
        if always_spread or any(f.any() for f in fails.values()):
            if trace is None:
                trace = reference_trace(case, semantics=semantics)
            if spec is None:
                spec = trace[0]
            if spread is None and not always_spread and _large(case):
                passed = self._biased_runs_suffice(case, got_a, exp_a, spec, trace, semantics, check_oracle)
                if passed is not None:
                    return passed
            measured = spread is None
            if spread is None:
                spread = self.spread(case, semantics=semantics, base=(spec, trace[1]))
            errs, allowed, fails = self.elementwise(case, got_a, exp_a, spread.final())
            if measured and self.confirm_runs > self.random_runs and any(f.any() for f in fails.values()):
                spread = spread.widest(self.spread(case, semantics=semantics, base=(spec, trace[1]),
                                                   random_runs=self.confirm_runs, seed=1))
                errs, allowed, fails = self.elementwise(case, got_a, exp_a, spread.final())
            off_oracle = any(f.any() for f in fails.values())
            if (check_oracle or semantics is not None) and off_oracle:
                # Two correct implementations of a dtype each stray from the exact result by up to the
                # rounding allowance, in either direction, so they may differ by twice it: an element
                # within the allowance of the float64 spec itself is right, whichever side of the spec
                # the oracle's own rounding fell (the oracle's distance from the spec is checked below).
                errs, allowed, fails = self._nearer_reference(case, got_a, spec, spread, (errs, allowed, fails))
            if any(f.any() for f in fails.values()):
                steps = [first_out_of_range_step(case, spec, trace[1]),
                         self.first_ill_conditioned_step(case, spec, spread)]
                unjudged_from = min((t for t in steps if t is not None), default=None)
            if unjudged_from is not None:
                errs, allowed, fails = apply_mask(errs, allowed, fails, judged_elements(case, unjudged_from))
            if check_oracle and off_oracle:  # failing, or rescued by the spec: does TF itself stray here?
                oracle_deviation, unjudged_from = self._oracle_deviation(case, exp_a, spec, spread, unjudged_from)
                if oracle_deviation is not None and unjudged_from is not None:
                    errs, allowed, fails = apply_mask(errs, allowed, fails, judged_elements(case, unjudged_from))
        return summarise(case, got_a, exp_a, errs, allowed, fails, oracle_deviation, unjudged_from)

    def _biased_runs_suffice(self, case: Case, got_a: Mapping[str, np.ndarray], exp_a: Mapping[str, np.ndarray],
                             spec: Result, trace: tuple[Result, np.ndarray], semantics: Semantics | None,
                             check_oracle: bool) -> Comparison | None:
        """A large case's verdict from the rounding model's two biased runs alone (every value rounded up, every
        value rounded down), when every element passes with them: half the model's cost.  Those runs are part
        of the full model and rows never mix, so its spread is at least theirs everywhere and whatever passes
        here passes there; anything else is None: the full model decides, as for every other case."""
        dtype = case.config.dtype
        biased = measure_spread(case, UNIT_ROUNDOFF[dtype], random_runs=0, gate_rounding=dtype in
                                self.rounded_gate_dtypes, semantics=semantics, base=(spec, trace[1]))
        judged = self.elementwise(case, got_a, exp_a, biased.final())
        if any(f.any() for f in judged[2].values()):  # (an element the spec rescues: the full model, which
            return None                              # also notes whether TF itself strays there)
        return summarise(case, got_a, exp_a, *judged, None, None)

    def _nearer_reference(self, case: Case, got_a: Mapping[str, np.ndarray], spec: Result, spread: Spread,
                          against_oracle: Elementwise) -> Elementwise:
        """Each element judged against the oracle or the float64 spec, whichever it is nearer in units of
        the allowed error; it fails only if it fails against both.  A failing element keeps the oracle's
        error and allowance (the message compares with the oracle), a passing one the smaller ratio, so
        the score stays "> 1 exactly when nonconformant"."""
        errs, allowed, fails = against_oracle
        s_errs, s_allowed, s_fails = self.elementwise(case, got_a, spec.arrays(), spread.final())
        out_e, out_a, out_f = {}, {}, {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in errs:
                failing = fails[k] & s_fails[k]
                spec_nearer = ~failing & (s_errs[k] * allowed[k] < errs[k] * s_allowed[k])
                out_e[k] = np.where(spec_nearer, s_errs[k], errs[k])
                out_a[k] = np.where(spec_nearer, s_allowed[k], allowed[k])
                out_f[k] = failing
        return out_e, out_a, out_f

    def _oracle_deviation(self, case: Case, exp_a: Mapping[str, np.ndarray], spec: Result, spread: Spread,
                          unjudged_from: int | None) -> tuple[str | None, int | None]:
        """Before blaming the candidate: does the oracle itself agree with the float64 spec here?

        Where it does not, TF is no reference: those steps are not judged (the report says so).
        Returns (the note, the first unjudged step).
        """
        spec_in_dtype = {k: v.astype(case.config.np_dtype) for k, v in spec.arrays().items()}
        o_errs, o_allowed, o_fails = self.elementwise(case, exp_a, spec_in_dtype, spread.final())
        if unjudged_from is not None:
            o_errs, _, o_fails = apply_mask(o_errs, o_allowed, o_fails, judged_elements(case, unjudged_from))
        bad_from = first_failing_step(case, o_fails)
        if bad_from is None:
            return None, unjudged_from
        worst_name = max(o_errs, key=lambda k: float(np.max(o_errs[k], initial=0.0)))
        note = (f"TensorFlow's LSTMCell differs from the float64 spec by {float(np.max(o_errs[worst_name])):.3g} "
                f"in {worst_name} from time step {bad_from} on, beyond the {case.config.dtype} tolerance; "
                f"the candidate is not judged on those steps")
        return note, bad_from if unjudged_from is None else min(unjudged_from, bad_from)


#: The default judge (the documented tolerance table and policy).
DEFAULT_JUDGE = Judge()


def first_out_of_range_step(case: Case, spec: Result, cells: np.ndarray) -> int | None:
    """The first time step at which the computation leaves the dtype's finite range, or None.

    Judged on the float64 spec (``spec`` and its per-step cell states ``cells`` [B, T, H]):
    a pre-activation partial sum (any summation order, bounded by
    ``|x_t| @ |K_x| + |m_{t-1}| @ |K_h| + |b|``), a cell state or an output beyond half the
    dtype's largest finite number (a sum of two such terms may overflow).  From that step on
    the dtype cannot represent the computation, so TF and every candidate may legitimately
    overflow in different places: those elements are not judged.
    """
    import ml_dtypes

    big = float(ml_dtypes.finfo(case.config.np_dtype).max) / 2
    if not case.single_cell:
        # A network: the outputs of every direction and the first cell's states, per step (the inner
        # layers' pre-activations are not bounded here; their outputs and states are in what is checked).
        series = [np.abs(a).max(axis=(0, 2)) for a in spec.arrays().values() if a.ndim == 3 and a.size]
        if cells.size:
            series.append(np.abs(cells).max(axis=(0, 2)))
        with np.errstate(invalid="ignore"):
            step_max = np.maximum.reduce(series)
        over = np.nonzero(np.nan_to_num(step_max, nan=np.inf) > big)[0]
        return int(over[0]) if over.size else None
    p = case.params
    input_size = case.config.input_size
    k = np.abs(p.kernel.astype(np.float64))
    x = np.abs(case.batch_major_inputs.astype(np.float64))
    m_prev = np.concatenate([case.initial_state.h.astype(np.float64)[:, None], spec.outputs[:, :-1]], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        bound = x @ k[:input_size] + np.abs(m_prev) @ k[input_size:] + np.abs(p.bias.astype(np.float64))
        step_max = np.maximum.reduce([bound.max(axis=(0, 2)), np.abs(spec.outputs).max(axis=(0, 2)),
                                      np.abs(cells).max(axis=(0, 2))])
    over = np.nonzero(np.nan_to_num(step_max, nan=np.inf) > big)[0]
    return int(over[0]) if over.size else None


#: Multiply-adds of a case's cell matmul (B * T * (I + P) * 4H) from which the rounding model first tries its
#: two biased runs alone (Judge._biased_runs_suffice); every ordinary case is below it (4 * 160 * 32 * 64).
STAGED_SPREAD_WORK = 2**21


def _large(case: Case) -> bool:
    cfg = case.config
    return case.batch * case.time * (cfg.input_size + cfg.output_size) * 4 * cfg.num_units >= STAGED_SPREAD_WORK


def compare(
    case: Case,
    got: Result,
    oracle: Result,
    *,
    tolerances: Mapping[str, Tolerance] | None = None,
    judge: Judge | None = None,
    spec: Result | None = None,
    semantics: Semantics | None = None,
    check_oracle: bool = True,
) -> Comparison:
    """Judge ``got`` against ``oracle`` for ``case`` (see :meth:`Judge.compare`).

    ``judge`` (default: one with ``tolerances``, or the documented defaults) holds the policy.
    """
    if judge is None:
        judge = DEFAULT_JUDGE if tolerances is None else Judge.from_tolerances(tolerances)
    return judge.compare(case, got, oracle, spec=spec, semantics=semantics, check_oracle=check_oracle)
