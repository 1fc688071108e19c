"""The whole explanation of a failure: convention variants, localization in time, structural properties."""

from __future__ import annotations

import dataclasses
from typing import Any

from conformance.candidates import Executor
from conformance.diagnose._fresh import structural_case
from conformance.diagnose._localize import Localization, localize
from conformance.diagnose._precision import PREFIX
from conformance.diagnose._search import DIAGNOSED_KINDS, Diagnosis, VariantMatch, diagnose
from conformance.judge import DEFAULT_JUDGE, Evaluation, Judge, StructuralFinding, check_structure


@dataclasses.dataclass(frozen=True)
class Analysis:
    """What :func:`analyse` found; ``error`` is set (and the rest empty) when the analysis itself failed."""

    diagnosis: Diagnosis | None = None
    localization: Localization | None = None
    structural: tuple[StructuralFinding, ...] = ()
    error: str | None = None

    @property
    def diagnosed(self) -> bool:
        """The variant search ran to the end (no match then means no known variant explains it)."""
        return self.diagnosis is not None

    @property
    def matches(self) -> tuple[VariantMatch, ...]:
        return self.diagnosis.matches if self.diagnosis is not None else ()

    def localization_dict(self) -> dict[str, Any] | None:
        """``counterexample.localization`` of report.json (with the diagnosis' evidence), or the error."""
        if self.error is not None:
            return {"error": self.error}
        if self.localization is None:
            return None
        out = self.localization.to_dict()
        if self.diagnosis is not None:
            out["diagnosis_evidence"] = self.diagnosis.evidence()
        return out


def reduced_precision(diagnosis: Diagnosis) -> str | None:
    """The narrower dtype the diagnosis found the candidate computing in (its first match), or None."""
    if diagnosis.matches and diagnosis.matches[0].variant.startswith(PREFIX):
        return diagnosis.matches[0].variant[len(PREFIX):]
    return None


def analyse(evaluation: Evaluation, executor: Executor, *, judge: Judge = DEFAULT_JUDGE,
            max_seconds: float = 30.0) -> Analysis | None:
    """Explain a failing :class:`~conformance.judge.Evaluation` of ``executor``'s candidate.

    None when there are no numbers to explain (a crash, a hang, a wrong shape).  A harness
    error inside the analysis never costs the counterexample already found: it is returned
    as ``Analysis(error=...)``.
    """
    got = evaluation.candidate
    kind = evaluation.comparison.kind or "mismatch"
    if got is None or kind not in DIAGNOSED_KINDS:
        return None
    case = evaluation.case
    try:
        diagnosis = diagnose(case, got, executor, judge=judge, max_seconds=max_seconds)
        localization = localize(case, got, executor, judge=judge)
        structural = check_structure(structural_case(case, executor.info), executor, judge=judge,
                                     rounding_dtype=reduced_precision(diagnosis))
    except Exception as exc:  # a harness bug must not cost the user the counterexample already found
        return Analysis(error=f"diagnosis failed: {type(exc).__name__}: {exc}")
    return Analysis(diagnosis, localization, structural)
