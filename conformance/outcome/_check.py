"""What one check run found: :class:`CheckResult`, its :class:`Counterexample`, and :class:`Progress`.

Typed and frozen: the run (conformance.run) builds them once, when it knows the
answer; reports (conformance.report) read their fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from conformance.candidates import CandidateInfo
from conformance.diagnose import Analysis, Localization, VariantMatch
from conformance.judge import Comparison, Evaluation, StructuralFinding, Tolerance
from conformance.outcome._summary import summary_html, summary_lines
from conformance.spec import Case, exit_status

#: Where a counterexample came from.
SOURCES = ("generated", "replay")

#: ``writer(result, directory, formats) -> {format: path}``: what :meth:`CheckResult.write_reports` calls.
#: conformance.report registers it on import (outcome sits below report in the layers and may not import it).
ReportWriter = Callable[["CheckResult", str, "Iterable[str] | None"], dict[str, str]]
_writers: list[ReportWriter] = []


def register_report_writer(writer: ReportWriter) -> None:
    """Make ``writer`` the one :meth:`CheckResult.write_reports` uses (conformance.report calls this on import)."""
    _writers[:] = [writer]


@dataclasses.dataclass(frozen=True)
class Progress:
    """A run's progress, handed to ``CheckOptions.progress`` about twice a second."""

    examples: int
    elapsed: float
    failures: int
    last_kind: str | None = None
    #: The examples the run means to try (None: unbounded, e.g. a fuzz slice).
    total: int | None = None

    @property
    def rate(self) -> float:
        return self.examples / self.elapsed if self.elapsed > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Counterexample:
    """A minimized failing case, what it showed, and (after analysis) why.

    ``shrunk_case`` is the case as found (or as Hypothesis left it) before post-minimisation;
    ``repro`` the ``.npz`` it was saved to, once it was (:meth:`with_repro`).
    """

    case: Case
    evaluation: Evaluation
    shrunk_case: Case
    source: str = "generated"
    target: str | None = None
    analysis: Analysis | None = None
    repro: str | None = None
    #: Files a candidate produced for ``case`` (a converter: the converted model and the converter's log), by
    #: file suffix (``.tflite``, ``.onnx``, ``.converter.log``); saved beside the counterexample.
    artifacts: Mapping[str, bytes] = dataclasses.field(default_factory=dict)

    @property
    def comparison(self) -> Comparison:
        return self.evaluation.comparison

    @property
    def kind(self) -> str:
        return self.comparison.kind or "mismatch"

    @property
    def diagnosed(self) -> bool:
        """True once the variant search ran: an empty :attr:`diagnosis` then means none fits."""
        return self.analysis is not None and self.analysis.diagnosed

    @property
    def diagnosis(self) -> tuple[VariantMatch, ...]:
        """The convention variants that reproduce the candidate, best first."""
        return self.analysis.matches if self.analysis is not None else ()

    @property
    def localization(self) -> Localization | None:
        return self.analysis.localization if self.analysis is not None else None

    @property
    def structural(self) -> tuple[StructuralFinding, ...]:
        return self.analysis.structural if self.analysis is not None else ()

    def with_repro(self, path: str) -> Counterexample:
        """The same counterexample, saved at ``path``."""
        return dataclasses.replace(self, repro=path)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one ``check``: a verdict, how far the run got, and the counterexample if any.

    ``verdict`` is "conformant", "nonconformant" or "error"; ``signal`` is "SIGINT" or
    "SIGTERM" when ``interrupted``; ``tolerances`` the table the run judged with.
    """

    verdict: str
    target: str
    candidate: CandidateInfo
    examples: int
    elapsed: float
    seed: int | None
    counterexample: Counterexample | None = None
    error: str | None = None
    interrupted: bool = False
    signal: str | None = None
    budget_exhausted: bool = False
    oracle_deviations: int = 0
    oracle_deviation_examples: tuple[str, ...] = ()
    max_score: float = 0.0
    max_abs_error: float = 0.0
    features: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    tolerances: Mapping[str, Tolerance] | None = None
    #: A ``--workers`` run's per-worker summaries (conformance.run._parallel); empty for a serial run.
    workers: tuple[Mapping[str, Any], ...] = ()
    #: Whose weights the run used (conformance.spec.PinnedParams.describe): None when generated per case.
    weights: Mapping[str, Any] | None = None
    #: ``max_abs_error`` over the largest |expected value| of the example it came from (a float64
    #: state of 1e19 makes an abs error of 4e11 a rounding difference).
    max_abs_error_relative: float = 0.0
    #: The examples the run was asked for (None: unbounded, a fuzz slice), and the drawn cases the
    #: candidate's ``accepts=`` turned down (they are not run, so a run may end short of what was asked).
    examples_asked: int | None = None
    rejected_by_accepts: int = 0

    @property
    def exit_code(self) -> int:
        return exit_status(self.verdict, interrupted=self.interrupted, signal=self.signal)

    def replace(self, **changes: Any) -> CheckResult:
        return dataclasses.replace(self, **changes)

    def write_reports(self, directory: str, formats: Iterable[str] | None = None) -> dict[str, str]:
        """Write report.json, report.html, junit.xml and summary.md (or ``formats``) into ``directory``, with the
        counterexample as ``counterexample.npz``/``.json``; returns ``{format: path}``. As ``check --report-dir``."""
        if not _writers:  # conformance.report not imported yet (importing conformance imports it)
            raise RuntimeError("no report writer: import conformance.report first")
        return _writers[0](self, directory, formats)

    def __str__(self) -> str:
        return "\n".join(summary_lines(self))

    def _repr_html_(self) -> str:
        return summary_html(self)
