"""A result at a glance: the text ``str(result)`` prints and the HTML a notebook shows (``_repr_html_``).

The full reports (report.json, HTML, JUnit, Markdown) are conformance.report's; this is the few
lines a Python user reads after ``conformance.check(fn)``: the verdict, how far the run got, and
for a failure what failed, on which case, the best-fitting diagnosis and where the case was saved.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.outcome._check import CheckResult
    from conformance.spec import Case


def case_summary(case: Case) -> str:
    """``batch 1, time 2, input 1, units 1, float32; features used: forget_bias``: a case on one line."""
    cfg = case.config
    shape = f"batch {case.batch}, time {case.time}, input {cfg.input_size}, units {cfg.num_units}"
    if cfg.num_proj is not None:
        shape += f", num_proj {cfg.num_proj}"
    if not case.single_cell:
        shape += f", {case.num_layers} layer(s)" + (", bidirectional" if case.bidirectional else "")
    if cfg.time_major:
        shape += ", time-major"
    if case.sequence_length is not None:
        shape += f", sequence_length {[int(v) for v in case.sequence_length]}"
    features = ", ".join(sorted(case.features())) or "none (baseline)"
    return f"{shape}, {cfg.dtype}; features used: {features}"


def summary_lines(result: CheckResult) -> list[str]:
    """The lines of ``str(result)``: verdict first, then (for a failure) what, where, why and the saved case."""
    extra = " (interrupted; partial)" if result.interrupted else ""
    extra += " (time budget spent)" if result.budget_exhausted else ""
    seed = f", seed {result.seed}" if result.seed is not None else ""
    lines = [f"{result.candidate.name or result.target}: {result.verdict.upper()} after {result.examples} examples "
             f"in {result.elapsed:.1f} s{seed}{extra}"]
    if result.features or result.dtypes:
        lines.append(f"  covered: features {', '.join(result.features) or 'none'}; dtypes {', '.join(result.dtypes)}")
    if result.error:
        lines.append(f"  error: {result.error}")
    cx = result.counterexample
    if cx is None:
        if result.verdict == "conformant":
            lines.append(f"  the worst element used {result.max_score:.0%} of its allowed error "
                         f"(max abs error {result.max_abs_error:.3g})")
        return lines
    lines.append(f"  {cx.kind}: {cx.comparison.message}")
    lines.append(f"  case: {case_summary(cx.case)}")
    if cx.diagnosis:
        best = cx.diagnosis[0]
        lines.append(f"  diagnosis: {best.variant}: {best.explanation}")
    elif cx.diagnosed:
        lines.append("  diagnosis: no known convention variant reproduces it")
    if cx.repro:
        lines.append(f"  saved: {cx.repro}")
    return lines


_COLOURS = {"conformant": "#1a7f37", "nonconformant": "#cf222e"}


def summary_html(result: CheckResult) -> str:
    """An HTML fragment of :func:`summary_lines` (escaped), the verdict coloured."""
    lines = summary_lines(result)
    colour = _COLOURS.get(result.verdict, "#9a6700")
    head = f'<div style="font-weight:bold;color:{colour}">{html.escape(lines[0])}</div>'
    body = "".join(f"<li>{html.escape(line.strip())}</li>" for line in lines[1:])
    return f'<div class="lstm-conformance-result">{head}<ul style="margin:0">{body}</ul></div>'
