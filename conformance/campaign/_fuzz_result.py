"""What a fuzz run found: :class:`SliceRun` (one slice as it ran) and :class:`FuzzResult` (the whole run),
with the summary ``str(result)`` prints and :meth:`FuzzResult.write_reports` for use from Python."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from conformance.candidates import LoadedCandidate
from conformance.outcome import CheckResult
from conformance.spec import exit_status

if TYPE_CHECKING:
    from conformance.campaign._fuzz import Slice


@dataclasses.dataclass
class SliceRun:
    """One slice as it ran: its CheckResult plus where in the run it happened."""

    slice: Slice
    round: int
    started_s: float  # seconds after the fuzz run started
    seed: int | None
    result: CheckResult | None  # None when the slice could not run (``error`` says why)
    error: str | None = None
    first_failure_example: int | None = None  # 1-based index of the first failing example in the slice
    db_replayed: int = 0  # stored failures the example database handed to this slice
    corpus_replayed: int = 0

    @property
    def verdict(self) -> str:
        return self.result.verdict if self.result is not None and self.error is None else "error"

    @property
    def from_database(self) -> bool:
        """The slice failed on an example the database handed out.

        A slice runs its corpus cases first, then the database's stored failures, then generated ones.
        """
        n, before = self.first_failure_example, self.corpus_replayed
        return self.verdict == "nonconformant" and n is not None and before < n <= before + self.db_replayed


@dataclasses.dataclass
class FuzzResult:
    runs: list[SliceRun]
    candidates: list[LoadedCandidate]
    elapsed: float
    budget_seconds: float
    seed: int | None
    run_id: str
    started_at: str  # ISO 8601, UTC
    database: str | None = None
    corpus: str | None = None
    interrupted: bool = False
    signal: str | None = None
    error: str | None = None  # why nothing could run, if nothing did
    tensorflow: str | None = None
    history: dict[str, Any] | None = None
    history_records: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: The FuzzOptions it ran with (what its report records).
    options: Any = None

    @property
    def verdict(self) -> str:
        verdicts = {r.verdict for r in self.runs}
        if "nonconformant" in verdicts:
            return "nonconformant"
        return "error" if "error" in verdicts or not self.runs else "conformant"

    @property
    def exit_code(self) -> int:
        return exit_status(self.verdict, interrupted=self.interrupted, signal=self.signal)

    @property
    def examples(self) -> int:
        return sum(r.result.examples for r in self.runs if r.result is not None)

    def counterexamples(self) -> list[tuple[SliceRun, Any]]:
        return [(r, r.result.counterexample) for r in self.runs if r.result is not None and r.result.counterexample]

    def write_reports(self, directory: str, formats: Iterable[str] | None = None) -> dict[str, str]:
        """What ``fuzz --report-dir DIR`` writes, from Python: every counterexample (``.npz``/``.json``) and
        ``formats`` (default: all) of the report; returns ``{format: path}``."""
        from conformance.campaign._fuzz_report import fuzz_report, save_findings
        from conformance.report import write_reports

        save_findings(self, directory)
        return write_reports(fuzz_report(self, self.options), directory, formats)

    def summary_lines(self) -> list[str]:
        """What ``str(result)`` prints: the run's verdict, then one line per slice that did not pass."""
        extra = " (interrupted; partial)" if self.interrupted else ""
        lines = [f"fuzz: {self.verdict.upper()} after {self.examples} examples in {len(self.runs)} slice(s), "
                 f"{self.elapsed:.1f} s of a {self.budget_seconds:.0f} s budget{extra}"]
        if self.error:
            lines.append(f"  error: {self.error}")
        for run in self.runs:
            if run.verdict != "conformant":
                cx = run.result.counterexample if run.result is not None else None
                why = run.error or (f"{cx.kind}: {cx.comparison.message}" if cx is not None else run.verdict)
                lines.append(f"  {run.slice.label}: {run.verdict.upper()}: {why}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        lines = self.summary_lines()
        items = "".join(f"<li>{html.escape(line.strip())}</li>" for line in lines[1:])
        return f"<div><b>{html.escape(lines[0])}</b><ul>{items}</ul></div>"
