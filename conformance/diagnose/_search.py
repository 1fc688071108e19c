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
(:meth:`conformance.judge.Judge.compare` with the variant's Result as the expected
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

Ties.  When the best variants explain the same cases, cases drawn to tell them apart
(conformance.diagnose._tiebreak) are run and everything re-ranked; a tie that survives is
reported as one (:attr:`Diagnosis.ambiguous`), never as a better match and a partial one.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time as _time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.candidates import Executor
from conformance.diagnose._evidence import Trial, gather, run_trials
from conformance.diagnose._fit import fit_variant
from conformance.diagnose._hints import StructuralHint, structural_hints
from conformance.diagnose._precision import explain_precision
from conformance.diagnose._tiebreak import tie_breaking_cases
from conformance.diagnose._variants import Variant, compose, variants
from conformance.judge import DEFAULT_JUDGE, Comparison, Judge
from conformance.spec import Case, Result, reference_trace

#: Kinds of failure the diagnosis looks at (crashes and hangs have no numbers to explain).
DIAGNOSED_KINDS = ("mismatch", "non_finite")
NO_EXPLANATION = "no known variant explains this"
#: A variant is rejected without measuring its own rounding spread when the candidate is further
#: from it than this many times the spread TF's semantics show on the case (see _VariantScorer._judge).
PREFILTER_MARGIN = 1000.0


# ------------------------------------------------------------------ evidence


@dataclasses.dataclass
class _Score:
    variant: Variant
    explained: int = 0
    tried: int = 0
    explained_fresh: int = 0
    closeness: float = 0.0  # mean log10(error vs variant / error vs TF) over informative cases

    def match(self) -> VariantMatch:
        return VariantMatch(self.variant.name, self.variant.explanation, self.variant.fix, self.explained, self.tried)


@dataclasses.dataclass(frozen=True)
class VariantMatch:
    """A convention variant that reproduces the candidate on ``explained_cases`` of the ``tried_cases``."""

    variant: str
    explanation: str
    fix: str
    explained_cases: int
    tried_cases: int

    @property
    def complete(self) -> bool:
        """It explains every case it was tried on."""
        return self.explained_cases == self.tried_cases

    def to_dict(self) -> dict[str, Any]:
        """The entry of ``counterexample.diagnosis`` in report.json."""
        return dataclasses.asdict(self)


def _log_error(cmp: Comparison) -> float:
    e = cmp.max_abs_error
    return math.log10(min(max(e, 1e-30), 1e30)) if not math.isnan(e) else 30.0


class _VariantScorer:
    """Evaluates variants on the trials with the run's judge, caching each distinct set of knobs per case."""

    def __init__(self, trials: list[Trial], judge: Judge):
        self.trials = trials
        self.judge = judge
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

    def _judge(self, trial: Trial, variant: Variant) -> tuple[bool, float]:
        # The variant's own trace: its Result, and the cell states compare needs (computed once).
        trace = reference_trace(trial.case, semantics=variant.semantics)
        expected64 = trace[0]
        expected = expected64.astype(trial.case.config.np_dtype)
        # Measuring the variant's own rounding spread costs four more runs; skip it when the
        # candidate is off by more than PREFILTER_MARGIN times the spread TF itself shows here.
        margin = {k: PREFILTER_MARGIN * v for k, v in trial.spread.final().items()}
        with np.errstate(all="ignore"):
            errs, _, fails = self.judge.elementwise(trial.case, trial.got.arrays(), expected.arrays(), margin)
            if any(f.any() for f in fails.values()):
                worst = max(float(np.max(e)) if e.size else 0.0 for e in errs.values())
                return False, math.log10(min(max(worst, 1e-30), 1e30))
            cmp = self.judge.compare(trial.case, trial.got, expected, semantics=variant.semantics,
                                     check_oracle=False, trace=trace)
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


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """``matches`` is ``counterexample.diagnosis`` (best first); the rest says what evidence there was."""

    matches: tuple[VariantMatch, ...]
    cases: int  # cases the candidate ran on (the counterexample included)
    informative: int  # of those, where it leaves TF's semantics
    variants_tried: int
    skipped: tuple[str, ...]  # fresh cases the candidate could not run, with why
    elapsed: float
    #: What the outputs look like when no match explains every case (conformance.diagnose._hints).
    hints: tuple[StructuralHint, ...] = ()
    #: The best matches when they explain the same cases even after cases drawn to tell them apart.
    ambiguous: tuple[str, ...] = ()
    #: Cases drawn to tell tied variants apart (conformance.diagnose._tiebreak), included in ``cases``.
    tie_breaking: int = 0

    @property
    def ambiguity(self) -> str:
        """"ambiguous: X and Y explain the same cases", or "" when the best match stands alone."""
        if len(self.ambiguous) < 2:
            return ""
        names = ", ".join(self.ambiguous[:-1]) + " and " + self.ambiguous[-1]
        return f"ambiguous: {names} explain the same cases"

    def evidence(self) -> dict[str, Any]:
        """``localization.diagnosis_evidence`` of report.json."""
        return {"cases": self.cases, "informative_cases": self.informative, "variants_tried": self.variants_tried,
                "skipped_cases": list(self.skipped), "seconds": round(self.elapsed, 3),
                "structural_hints": [h.to_dict() for h in self.hints], "ambiguous": list(self.ambiguous),
                "tie_breaking_cases": self.tie_breaking}


def _rank_key(s: _Score, catalogue_index: Mapping[str, int]) -> tuple:
    return (-s.explained, s.tried, s.variant.depth, catalogue_index.get(s.variant.components[0], 10**6),
            s.variant.name)


def diagnose(
    case: Case,
    got: Result,
    executor: Executor,
    *,
    judge: Judge = DEFAULT_JUDGE,
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
    bounds running fresh cases (half of it; at least :data:`MIN_FRESH_CASES` always run),
    fitting variants' parameters (a quarter) and the composition search; every single variant
    is always judged on every case run.  When no match explains every case, a narrower dtype
    (conformance.diagnose._precision) and then structural hints (``Diagnosis.hints``) are tried.
    """
    started = _time.monotonic()
    deadline = started + max_seconds
    catalogue = list(variants() if catalogue is None else catalogue)
    index = {v.name: i for i, v in enumerate(catalogue)}
    trials, skipped = gather(case, got, executor, judge, fresh_cases, seed, started + max_seconds / 2)
    informative = [k for k, t in enumerate(trials) if t.informative]
    # A variant with a parameter (a hard-coded clip, a constant offset) is judged at its fitted value.
    pairs = [(trials[k].case, trials[k].got) for k in sorted(informative, key=lambda k: not trials[k].fresh)]
    # Fitting is bounded (a quarter of the budget): a variant not fitted in time is judged at its default.
    fit_deadline = _time.monotonic() + max_seconds / 4
    catalogue = [fit_variant(v, pairs) if v.fit is not None and _time.monotonic() < fit_deadline else v
                 for v in catalogue]
    scorer = _VariantScorer(trials, judge)
    everything = list(range(len(trials)))
    # Fresh informative cases first: they discriminate; the tiny counterexample often does not.
    probe = sorted(informative, key=lambda k: not trials[k].fresh)[:3]

    scores = {v.name: scorer.score(v, everything) for v in catalogue}
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
                score = scorer.score(combo, probe)
                if score.explained:
                    score = scorer.score(combo, everything)
                    if score.explained > _best_sub_composition(combo.parts, scores):
                        scores[combo.name] = score
                level.append(score)
        if not level:
            break
    reported = [s for s in scores.values() if s.explained and (s.explained_fresh or not _fresh_informative(trials))]
    reported.sort(key=lambda s: _rank_key(s, index))
    reported = _without_restatements(reported)
    # The best variants explain the same cases: draw cases that tell them apart, run the candidate, re-rank.
    tie_breaking = 0
    if len(_tied(reported)) > 1:
        # At least two run even when the time budget is spent (one case rarely settles it).
        cases = tie_breaking_cases([s.variant for s in _tied(reported)], [t.case for t in trials],
                                   executor.info, seed=seed)
        tie_breaking = run_trials(cases, trials, executor, judge, deadline, minimum=2)
        if tie_breaking:
            rescored = [scorer.score(s.variant, range(len(trials))) for s in reported]
            reported = _without_restatements(sorted((s for s in rescored if s.explained),
                                                    key=lambda s: _rank_key(s, index)))
    ambiguous = tuple(s.variant.name for s in _tied(reported)) if len(_tied(reported)) > 1 else ()
    matches = [s.match() for s in reported[:max_reported]]
    if not any(m.complete for m in matches):
        # Right semantics, narrower arithmetic: its own family, ranked first when it explains everything.
        precision = explain_precision([(trials[k].case, trials[k].got, trials[k].baseline.max_abs_error)
                                       for k in informative], judge)
        if precision is not None:
            matches.insert(0, VariantMatch(precision.name, precision.explanation, precision.fix,
                                           precision.explained, precision.tried))
    hints: tuple[StructuralHint, ...] = ()
    if not any(m.complete for m in matches):
        hints = structural_hints([(trials[k].case, trials[k].got) for k in informative], executor, judge)
    return Diagnosis(
        matches=tuple(matches[:max_reported]),
        cases=len(trials),
        informative=sum(t.informative for t in trials),  # tie-breaking cases included
        variants_tried=len(tried_names),
        skipped=tuple(skipped),
        elapsed=_time.monotonic() - started,
        hints=hints,
        ambiguous=ambiguous,
        tie_breaking=tie_breaking,
    )


#: At most this many tied variants are told apart (the first against each other one).
MAX_TIED = 4


def _tied(ranked: list[_Score]) -> list[_Score]:
    """The first of ``ranked`` and those explaining as many cases of as many tried (at most MAX_TIED)."""
    if not ranked:
        return []
    first = ranked[0]
    return [s for s in ranked if (s.explained, s.tried) == (first.explained, first.tried)][:MAX_TIED]


def _without_restatements(ranked: list[_Score]) -> list[_Score]:
    """``ranked`` without the fitted variants that only restate a better-ranked complete match (a hard-coded
    forget bias fitted to 0 where forget_bias is always 1 is forget_bias_missing again)."""
    kept: list[_Score] = []
    for s in ranked:
        complete = s.explained == s.tried
        if (s.variant.fit is not None and complete
                and any(k.explained == k.tried and k.tried == s.tried for k in kept)):
            continue
        kept.append(s)
    return kept


def _best_sub_composition(parts: Sequence[Variant], scores: Mapping[str, _Score]) -> int:
    """The most cases any proper part (or composition of parts) already explains."""
    best = 0
    for size in range(1, len(parts)):
        for subset in itertools.combinations(parts, size):
            sub = subset[0] if size == 1 else compose(*subset)
            if sub is not None and sub.name in scores:
                best = max(best, scores[sub.name].explained)
    return best


def _fresh_informative(trials: list[Trial]) -> bool:
    return any(t.fresh and t.informative for t in trials)
