""""What am I missing?": which known convention variant reproduces a failing candidate.

Evidence.  The candidate is run (through its executor) on the minimized
counterexample and on fresh cases drawn to tell variants apart: the same config
with dense values in every gate, T >= 5 and B >= 3; the same config with larger
sizes (keeping I == H or P == H where the counterexample has it, so square-block
variants stay testable); the counterexample with noise on every number (keeping
its magnitudes); and configs enriched with other features the candidate declares.
Each case where the candidate leaves TF's semantics (the float64 spec) is
*informative*.

Judgement.  A variant *explains* a case when the candidate matches the
variant's float64 result under the comparison's own rule
(:func:`conformance._compare.compare` with the variant's Result as the expected
one: per-dtype tolerance plus the rounding spread measured on the variant).  A
variant is *tried* on every informative case, and on every other case where it
predicts something else than the candidate (a contradiction).

Search.  Every catalogue variant first; unless one explains every case it was
tried on, the ``beam`` closest partial matches (most explained cases, then the
smallest error relative to TF's) are composed with every other variant, then the
closest pairs with a third (``max_depth``).  Each composition is judged on three
informative cases before the rest.  A composition is kept only if it explains
more cases than any of its parts (or their sub-compositions) does.

Ranking and honesty.  Best first by explained cases, then fewest tried (fewer
contradictions), then simpler (fewer parts), then catalogue order.  A variant is
reported only if it explains at least one freshly drawn case (the minimized
counterexample alone is too small to tell many variants apart); none may be
reported at all, and then the report says that no known variant explains it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time as _time
from typing import Any, Mapping, Sequence

import numpy as np

from conformance._compare import DEFAULT_TOLERANCES, Comparison, Tolerance, _judge, compare, rounding_spread
from conformance._errors import CandidateFault
from conformance._reference import reference, reference_trace
from conformance._spec import ACTIVATIONS, Case, InitialState, LSTMParams, Result
from conformance._variants import Variant, compose, variants

#: Kinds of failure the diagnosis looks at (crashes and hangs have no numbers to explain).
DIAGNOSED_KINDS = ("mismatch", "non_finite")
NO_EXPLANATION = "no known variant explains this"
#: A variant is rejected without measuring its own rounding spread when the candidate is further
#: from it than this many times the spread TF's semantics show on the case (see _Judge._judge).
PREFILTER_MARGIN = 1000.0


# ------------------------------------------------------------------ fresh cases


def _random_case(config, batch: int, time: int, rng: np.random.Generator, *, initial_state: bool) -> Case:
    """Dense values sized so every gate's pre-activation is O(1) (neither saturated nor zero)."""
    I, H, P = config.input_size, config.num_units, config.output_size
    npd = config.np_dtype

    def normal(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(npd)

    diag = (lambda: normal((H,), 0.7)) if config.use_peepholes else (lambda: None)
    params = LSTMParams(
        kernel=normal((I + P, 4 * H), 1.2 / math.sqrt(I + P)),
        bias=normal((4 * H,), 0.7),
        w_i_diag=diag(), w_f_diag=diag(), w_o_diag=diag(),
        proj_kernel=normal((H, P), 1.2 / math.sqrt(H)) if config.num_proj is not None else None,
    )
    if initial_state:
        state = InitialState(normal((batch, H), 1.0), normal((batch, P), 0.5))
    else:
        state = InitialState(np.zeros((batch, H), npd), np.zeros((batch, P), npd))
    return Case(config, params, normal((batch, time, I), 1.0), state)


def _perturbed(case: Case, rng: np.random.Generator) -> Case:
    """The case with noise on every number (zeros included), keeping its magnitudes."""
    npd = case.config.np_dtype
    out = {}
    for name, a in case.arrays().items():
        if name in ("c0", "h0") and case.initial_state.is_zero():
            continue
        wide = a.astype(np.float64)
        out[name] = (wide + rng.standard_normal(a.shape) * 0.3 * max(1.0, 0.1 * float(np.max(np.abs(wide), initial=0)))).astype(npd)
    return case.with_arrays(out)


def _grown(config, info) -> Any:
    """Larger sizes that keep the counterexample's equalities (I == H, P == H)."""
    I, H, P = config.input_size, config.num_units, config.output_size
    H2 = H + 2
    I2 = H2 if I == H else I + 1
    changes: dict[str, Any] = {"num_units": H2, "input_size": I2}
    if config.num_proj is not None:
        changes["num_proj"] = H2 if P == H else (I2 if P == I else P + 1)
    if (info.max_units and H2 > info.max_units) or (info.max_input_size and I2 > info.max_input_size):
        return config
    return config.replace(**changes)


def _enriched(config, info, rng: np.random.Generator, probability: float) -> Any:
    """The config with other declared features switched on, each with ``probability`` (values that matter)."""
    declared = info.features

    def wanted(feature: str, absent: bool) -> bool:
        return feature in declared and absent and rng.random() < probability

    changes: dict[str, Any] = {}
    if wanted("forget_bias", config.forget_bias == 1.0):
        changes["forget_bias"] = float(rng.choice([0.3, 1.7, 2.5, -0.6]))
    if wanted("activation", config.activation == "tanh"):
        changes["activation"] = str(rng.choice([a for a in ACTIVATIONS if a != "tanh"]))
    if wanted("peepholes", not config.use_peepholes):
        changes["use_peepholes"] = True
    if wanted("cell_clip", config.cell_clip is None):
        changes["cell_clip"] = float(rng.choice([0.6, 0.9, 1.2]))  # c is O(1): the clip bites sometimes
    if wanted("projection", config.num_proj is None):
        changes["num_proj"] = int(rng.integers(1, config.num_units + 2))
        if wanted("proj_clip", True):
            changes["proj_clip"] = float(rng.choice([0.3, 0.6]))
    return config.replace(**changes) if changes else config


def _biting_clips(case: Case, original) -> Case:
    """Set clips the enrichment added to 60% of what the unclipped values reach, so they always bite."""
    cfg = case.config
    changes: dict[str, float] = {}
    if cfg.cell_clip is not None and original.cell_clip is None:
        _, cells = reference_trace(dataclasses.replace(case, config=cfg.replace(cell_clip=None, proj_clip=None)))
        changes["cell_clip"] = 0.6 * float(np.max(np.abs(cells)))
    if cfg.proj_clip is not None and original.proj_clip is None:
        unclipped = reference(dataclasses.replace(case, config=cfg.replace(proj_clip=None)))
        changes["proj_clip"] = 0.6 * float(np.max(np.abs(unclipped.outputs)))
    changes = {k: v for k, v in changes.items() if v > 0}
    return dataclasses.replace(case, config=cfg.replace(**changes)) if changes else case


def discriminating_cases(case: Case, info: Any, *, count: int = 12, seed: int = 0) -> list[Case]:
    """Fresh cases, derived from the failing ``case``, that tell variants apart (see the module docstring).

    Every case is one ``info`` (the candidate's CandidateInfo) supports, in ``case``'s dtype,
    with at least ``case.time`` (and >= 5) steps and 3 batch rows.
    """
    rng = np.random.default_rng(seed)
    cfg = case.config
    T = max(case.time, 5)
    if info.max_time is not None:
        T = max(case.time, min(T, info.max_time))
    B = max(case.batch, 3)
    wants_state = "initial_state" in info.features
    out: list[Case] = []
    # The first enriched case switches on every declared feature the counterexample lacks (a second
    # mistake hiding behind a feature the minimisation removed shows there); later ones a random half.
    plan = ["same", "same", "grown", "perturbed", "enriched", "same", "grown", "enriched", "perturbed", "same",
            "grown", "enriched"]
    enriched = 0
    for k in range(count):
        kind = plan[k % len(plan)]
        state = wants_state and (not case.initial_state.is_zero() or k % 2 == 0)
        if kind == "perturbed":
            trial = _perturbed(case, rng)
        else:
            if kind == "same":
                config = cfg
            elif kind == "grown":
                config = _grown(cfg, info)
            else:
                config = _enriched(cfg, info, rng, 1.0 if enriched == 0 else 0.5)
                enriched += 1
            trial = _random_case(config, B, T, rng, initial_state=state)
            if kind == "enriched":
                trial = _biting_clips(trial, cfg)
        if info.supports(trial):
            out.append(trial)
    return out


# ------------------------------------------------------------------ evidence


@dataclasses.dataclass
class _Trial:
    case: Case
    got: Result
    baseline: Comparison  # the candidate against TF's semantics
    fresh: bool
    spread: dict[str, np.ndarray]  # TF's rounding spread on this case (conformance._compare.rounding_spread)

    @property
    def informative(self) -> bool:
        return not self.baseline.passed


@dataclasses.dataclass
class _Score:
    variant: Variant
    explained: int = 0
    tried: int = 0
    explained_fresh: int = 0
    closeness: float = 0.0  # mean log10(error vs variant / error vs TF) over informative cases

    def entry(self) -> dict[str, Any]:
        return {"variant": self.variant.name, "explanation": self.variant.explanation, "fix": self.variant.fix,
                "explained_cases": self.explained, "tried_cases": self.tried}


def _log_error(cmp: Comparison) -> float:
    e = cmp.max_abs_error
    return math.log10(min(max(e, 1e-30), 1e30)) if not math.isnan(e) else 30.0


class _Judge:
    """Evaluates variants on the trials, caching each distinct set of knobs per case."""

    def __init__(self, trials: list[_Trial], tolerances):
        self.trials = trials
        self.tolerances = tolerances
        self._cache: dict[tuple[int, tuple], tuple[bool, float]] = {}

    def _on(self, k: int, variant: Variant) -> tuple[bool | None, bool, float]:
        """(tried?, explained?, log error) of ``variant`` on trial ``k``; tried None if not applicable."""
        trial = self.trials[k]
        parts = variant.parts or (variant,)
        active = [p for p in parts if p.active(trial.case)]
        if not active:  # computes TF's semantics on this case
            return trial.informative, False, _log_error(trial.baseline)
        effective = variant if len(active) == len(parts) else compose(*active)
        assert effective is not None  # a sub-composition of a valid composition is valid
        if not effective.applicable(trial.case):
            return None, False, 0.0
        key = (k, tuple(sorted(effective.knobs.items(), key=lambda kv: kv[0])))
        if key not in self._cache:
            self._cache[key] = self._judge(trial, effective)
        explained, err = self._cache[key]
        return (trial.informative or not explained), explained, err

    def _judge(self, trial: _Trial, variant: Variant) -> tuple[bool, float]:
        expected64 = variant.run(trial.case)
        expected = expected64.astype(trial.case.config.np_dtype)
        tol = (self.tolerances or DEFAULT_TOLERANCES)[trial.case.config.dtype]
        # Measuring the variant's own rounding spread costs four more runs; skip it when the
        # candidate is off by more than PREFILTER_MARGIN times the spread TF itself shows here.
        margin = {k: PREFILTER_MARGIN * v for k, v in trial.spread.items()}
        with np.errstate(all="ignore"):
            errs, _, fails = _judge(trial.case, trial.got.arrays(), expected.arrays(), tol, margin)
            if any(f.any() for f in fails.values()):
                worst = max(float(np.max(e)) if e.size else 0.0 for e in errs.values())
                return False, math.log10(min(max(worst, 1e-30), 1e30))
            cmp = compare(trial.case, trial.got, expected, tolerances=self.tolerances, spec=expected64,
                          semantics=variant.semantics, check_oracle=False)
        return cmp.passed, _log_error(cmp)

    def score(self, variant: Variant, order: Sequence[int]) -> _Score:
        s = _Score(variant)
        gains = []
        for k in order:
            tried, explained, err = self._on(k, variant)
            if not tried:
                continue
            s.tried += 1
            if explained:
                s.explained += 1
                s.explained_fresh += self.trials[k].fresh
            if self.trials[k].informative:
                gains.append(err - _log_error(self.trials[k].baseline))
        s.closeness = float(np.mean(gains)) if gains else 0.0
        return s


# ------------------------------------------------------------------ search


@dataclasses.dataclass
class Diagnosis:
    """``matches`` is ``counterexample.diagnosis`` (best first); the rest says what evidence there was."""

    matches: list[dict[str, Any]]
    cases: int  # cases the candidate ran on (the counterexample included)
    informative: int  # of those, where it leaves TF's semantics
    variants_tried: int
    skipped: list[str]  # fresh cases the candidate could not run, with why
    elapsed: float


def _rank_key(s: _Score, catalogue_index: Mapping[str, int]) -> tuple:
    return (-s.explained, s.tried, s.variant.depth, catalogue_index.get(s.variant.components[0], 10**6),
            s.variant.name)


def diagnose(
    case: Case,
    got: Result,
    executor: Any,
    *,
    tolerances: Mapping[str, Tolerance] | None = None,
    catalogue: Sequence[Variant] | None = None,
    fresh_cases: int = 12,
    seed: int = 0,
    beam: int = 5,
    max_depth: int = 3,
    max_reported: int = 10,
    max_seconds: float = 30.0,
) -> Diagnosis:
    """Which variants of ``catalogue`` (default: the registry) reproduce the candidate behind ``executor``.

    ``case`` is the failing case and ``got`` the candidate's Result on it.  ``max_seconds``
    bounds running fresh cases (half of it; at least :data:`MIN_FRESH_CASES` always run)
    and the composition search; every single variant is always judged on every case run.
    """
    started = _time.monotonic()
    deadline = started + max_seconds
    catalogue = list(variants() if catalogue is None else catalogue)
    index = {v.name: i for i, v in enumerate(catalogue)}
    trials, skipped = _gather(case, got, executor, tolerances, fresh_cases, seed, started + max_seconds / 2)
    informative = [k for k, t in enumerate(trials) if t.informative]
    judge = _Judge(trials, tolerances)
    everything = list(range(len(trials)))
    # Fresh informative cases first: they discriminate; the tiny counterexample often does not.
    probe = sorted(informative, key=lambda k: not trials[k].fresh)[:3]

    scores = {v.name: judge.score(v, everything) for v in catalogue}
    tried_names = set(scores)
    level = list(scores.values())
    for _depth in range(2, max_depth + 1):
        if not informative or any(s.explained and s.explained == s.tried for s in scores.values()):
            break
        # Seeds: the closest partial matches of the previous level (with several mistakes at once,
        # no part explains a case, but each part brings the candidate's outputs nearer).
        seeds = sorted((s for s in level if s.explained or s.closeness < -0.05),
                       key=lambda s: (-s.explained, s.closeness))[:beam]
        level = []
        for seed_score in seeds:
            for single in catalogue:
                if _time.monotonic() > deadline:
                    break
                combo = compose(seed_score.variant, single)
                if combo is None or combo.name in tried_names:
                    continue
                tried_names.add(combo.name)
                # A cheap first look on a few informative cases; all the evidence only if it explains one.
                score = judge.score(combo, probe)
                if score.explained:
                    score = judge.score(combo, everything)
                    if score.explained > _best_sub_composition(combo.parts, scores):
                        scores[combo.name] = score
                level.append(score)
        if not level:
            break
    reported = [s for s in scores.values() if s.explained and (s.explained_fresh or not _fresh_informative(trials))]
    reported.sort(key=lambda s: _rank_key(s, index))
    return Diagnosis(
        matches=[s.entry() for s in reported[:max_reported]],
        cases=len(trials),
        informative=len(informative),
        variants_tried=len(tried_names),
        skipped=skipped,
        elapsed=_time.monotonic() - started,
    )


def _best_sub_composition(parts: Sequence[Variant], scores: Mapping[str, _Score]) -> int:
    """The most cases any proper part (or composition of parts) already explains."""
    best = 0
    for size in range(1, len(parts)):
        for subset in itertools.combinations(parts, size):
            sub = subset[0] if size == 1 else compose(*subset)
            if sub is not None and sub.name in scores:
                best = max(best, scores[sub.name].explained)
    return best


def _fresh_informative(trials: list[_Trial]) -> bool:
    return any(t.fresh and t.informative for t in trials)


#: Fresh cases run even when the time budget is spent (fewer cannot tell variants apart).
MIN_FRESH_CASES = 3


def _gather(case, got, executor, tolerances, count, seed, deadline) -> tuple[list[_Trial], list[str]]:
    """Run the candidate on the counterexample's fresh cases (until ``deadline``); judge each against TF's."""
    trials = [_trial(case, got, tolerances, fresh=False)]
    skipped = []
    for fresh in discriminating_cases(case, executor.info, count=count, seed=seed):
        if len(trials) > MIN_FRESH_CASES and _time.monotonic() > deadline:
            skipped.append("not run: the diagnosis time budget was spent")
            break
        try:
            result = executor.run(fresh)
        except CandidateFault as exc:
            skipped.append(f"{exc.kind}: {exc.message}")
            continue
        trial = _trial(fresh, result, tolerances, fresh=True)
        if trial.baseline.kind in ("wrong_shape", "wrong_dtype"):
            skipped.append(f"{trial.baseline.kind}: {trial.baseline.message}")
            continue
        trials.append(trial)
    return trials, skipped


def _trial(case: Case, got: Result, tolerances, *, fresh: bool) -> _Trial:
    spec = reference(case)
    with np.errstate(all="ignore"):
        baseline = compare(case, got, spec.astype(case.config.np_dtype), tolerances=tolerances, spec=spec,
                           check_oracle=False)
        spread = rounding_spread(case, spec)
    return _Trial(case, got, baseline, fresh, spread)


# ------------------------------------------------------------------ the whole analysis


def structural_case(case: Case, info: Any, *, seed: int = 0) -> Case:
    """A case for the structural properties: the counterexample's config, B = 3, T >= 4, dense values."""
    rng = np.random.default_rng(seed + 1)
    T = max(case.time, 4)
    if info.max_time is not None:
        T = max(case.time, min(T, info.max_time))
    fresh = _random_case(case.config, 3, T, rng, initial_state="initial_state" in info.features)
    return fresh if info.supports(fresh) else case


def analyse(cx: Any, executor: Any, *, tolerances: Mapping[str, Tolerance] | None = None,
            max_seconds: float = 30.0) -> None:
    """Fill ``cx.diagnosis``, ``cx.localization``, ``cx.structural`` and ``cx.diagnosed`` of a Counterexample."""
    from conformance._localize import localize
    from conformance._structural import check_structure

    got = cx.evaluation.candidate
    if got is None or cx.kind not in DIAGNOSED_KINDS:
        return
    try:
        result = diagnose(cx.case, got, executor, tolerances=tolerances, max_seconds=max_seconds)
        localization = localize(cx.case, got, executor, tolerances=tolerances)
        localization["diagnosis_evidence"] = {
            "cases": result.cases, "informative_cases": result.informative, "variants_tried": result.variants_tried,
            "skipped_cases": result.skipped, "seconds": round(result.elapsed, 3),
        }
        structural = check_structure(structural_case(cx.case, executor.info), executor, tolerances=tolerances)
    except Exception as exc:  # a harness bug must not cost the user the counterexample already found
        cx.localization = {"error": f"diagnosis failed: {type(exc).__name__}: {exc}"}
        return
    cx.diagnosis, cx.localization, cx.structural, cx.diagnosed = result.matches, localization, structural, True
