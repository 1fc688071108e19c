"""The localization and structural sections of a counterexample as sentences and small tables.

Part of the report view (conformance.report._view): plain strings, escaped by each writer.  Reads
``counterexample.localization`` (conformance.diagnose.Localization.to_dict, plus the diagnosis'
``diagnosis_evidence``, or ``{"error": ...}``) and ``counterexample.structural`` (a list of
``{"property", "holds", "message"}``).  Nothing is dumped as raw keys: each known field becomes a
sentence or a table row, an empty or null field is left out, and only fields this module does not
know are listed as they are (so nothing a newer harness records is lost).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.report._view_text import clean, num, one_line

#: Fields of a localization dict turned into sentences or tables below (the rest are listed as they are).
_KNOWN = ("case", "rows", "first_divergent_step", "first_divergent", "first_steps", "step_errors", "steps_checked",
          "non_finite", "note", "summary", "diagnosis_evidence", "error")
_SERIES = ("c", "h", "outputs")


def _steps_text(steps: list[int]) -> str:
    """``[0, 1, 2, 3, 7]`` -> "0-3, 7"."""
    runs: list[list[int]] = []
    for s in sorted(steps):
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _row_sentence(r: Mapping[str, Any]) -> str:
    """One diverging row, relative to its length (the words of conformance.diagnose's RowLocalization)."""
    b, length, first = r.get("row"), r.get("length"), r.get("first_output_step")
    if first is not None and r.get("padded_only"):
        text = f"row {b} diverges only at padded steps t >= L[{b}] = {length}"
    elif first is not None:
        text = f"row {b} (length {length}) diverges at step {first}, within its length"
    else:
        return f"the final state of row {b} (length {length}) differs, its outputs agree"
    return text + (" and in its final state" if r.get("final_state_differs") else "")


def localization_sentences(loc: Any) -> list[str]:
    """What the localization found, as sentences (empty fields say nothing)."""
    if not isinstance(loc, Mapping):
        return [one_line(loc)] if loc else []
    if loc.get("error"):
        return [f"The localization could not run: {one_line(loc['error'])}"]
    out = []
    summary = one_line(loc.get("summary") or "", 2000)
    if summary:
        out.append(f"{summary[:1].upper()}{summary[1:]}.")
    first_steps = loc.get("first_steps")
    if isinstance(first_steps, Mapping) and first_steps and not summary:  # the summary says it already
        diverge = [f"{clean(k)} at step {v}" for k, v in first_steps.items() if v is not None]
        agree = [clean(k) for k, v in first_steps.items() if v is None]
        if diverge:
            out.append("First diverging step of each array: " + "; ".join(diverge)
                       + (f"; {', '.join(agree)} never diverge{'s' if len(agree) == 1 else ''}" if agree else "") + ".")
    checked = loc.get("steps_checked")
    if isinstance(checked, list) and checked and all(isinstance(s, int) for s in checked):
        out.append(f"Time prefixes run to find it: steps {_steps_text(checked)} (each prefix of the case is re-run "
                   "on the candidate and compared with the float64 spec).")
    rows = [r for r in loc.get("rows") or [] if isinstance(r, Mapping) and _row_sentence(r) not in summary]
    if rows:
        out.append("Per row: " + "; ".join(_row_sentence(r) for r in rows) + ".")
    if loc.get("non_finite"):
        out.append(f"Non-finite values (NaN or Inf) where the spec is finite, in: {', '.join(map(clean, loc['non_finite']))}.")
    if loc.get("note"):
        out.append(f"Note: {one_line(loc['note'])}")
    evidence = loc.get("diagnosis_evidence")
    if isinstance(evidence, Mapping) and evidence:
        out.append(evidence_sentence(evidence))
    if loc.get("case") and loc.get("case") != "minimized counterexample":
        out.append(f"Localized on the {one_line(loc['case'])}.")
    return [s for s in out if s]


def evidence_sentence(evidence: Mapping[str, Any]) -> str:
    """``diagnosis_evidence`` in words: how hard the diagnosis looked."""
    tried, cases, informative = evidence.get("variants_tried"), evidence.get("cases"), evidence.get("informative_cases")
    text = "The diagnosis"
    text += f" tried {num(tried)} convention variant(s)" if tried is not None else " ran"
    if cases is not None:
        text += f" on {num(cases)} case(s)"
        if informative is not None:
            text += f", {num(informative)} of which tell the variants apart"
    if evidence.get("seconds") is not None:
        text += f", in {num(evidence['seconds'], 3)} s"
    skipped = evidence.get("skipped_cases") or []
    if skipped:
        text += f"; skipped: {one_line('; '.join(map(str, skipped)), 300)}"
    return text + "."


def localization_table(loc: Any, limit: int = 12) -> tuple[list[str], list[list[str]]] | None:
    """(columns, rows) of the max abs error per checked step for c, h and the outputs, or None.

    Long localizations keep the steps around the first divergence (``limit`` rows)."""
    if not isinstance(loc, Mapping) or not isinstance(loc.get("step_errors"), Mapping):
        return None
    series = {k: v for k, v in loc["step_errors"].items() if isinstance(v, list)}
    names = [k for k in _SERIES if k in series] + [k for k in series if k not in _SERIES]
    if not names:
        return None
    T = max(len(series[k]) for k in names)
    checked = [s for s in loc.get("steps_checked") or range(T) if isinstance(s, int) and 0 <= s < T]
    first = loc.get("first_divergent_step")
    if len(checked) > limit:
        centre = checked.index(first) if first in checked else len(checked) - 1
        start = max(0, min(centre - limit // 2, len(checked) - limit))
        checked = checked[start:start + limit]
    rows = []
    for t in checked:
        cells = [num(series[k][t], 3) if t < len(series[k]) and series[k][t] is not None else "—" for k in names]
        rows.append([str(t), *cells, "first divergence" if t == first else ""])
    return ["t", *(f"max abs error of {clean(k)}" for k in names), ""], rows


def localization_other(loc: Any) -> list[tuple[str, str]]:
    """Fields this view does not know (from a newer harness), as (key, value)."""
    if not isinstance(loc, Mapping):
        return []
    from conformance.report._view_case import flat_items

    return flat_items({k: v for k, v in loc.items() if k not in _KNOWN and v not in (None, [], {}, "")})


_HOLDS = {True: "holds", False: "VIOLATED", None: "not checked"}


def structural_rows(items: Any) -> list[tuple[str, str, str]] | None:
    """(property, holds / VIOLATED / not checked, message) per structural finding; None when not that shape."""
    if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) for i in items):
        return None
    return [(clean(i.get("property", "?")).replace("_", " "), _HOLDS.get(i.get("holds"), one_line(i.get("holds"))),
             one_line(i.get("message") or "", 1000)) for i in items]
