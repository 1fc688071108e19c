"""What every human-facing report shows, computed once from the report.json dict.

The HTML, Markdown and JUnit writers all render these facts, so they can never
disagree with each other or with report.json.  Nothing here formats markup:
every string returned is plain (untrusted parts included) and each writer
escapes it for its own syntax.

Report sections read here (see report.schema.json and docs/reports.md):
``counterexample`` (one) or ``counterexamples`` (several, e.g. matrix/fuzz),
``matrix`` (rows candidates, columns features) and ``runs`` (one per fuzz run).

This module holds the report-level facts (headline, matrix, runs, JUnit cases) and
re-exports the rest of the view, so writers read everything as ``_view.NAME``:
one counterexample's facts live in conformance.report._view_case, the plain-text
primitives (clean, one_line, num, join) in conformance.report._view_text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.report._view_case import (
    KIND_TITLES,
    NO_VARIANT,
    config_items,
    cx_dtype,
    cx_label,
    cx_target,
    describe_entry,
    diagnosis_rows,
    diagnosis_state,
    entry_name,
    flat_items,
    flat_value,
    how_to_fix,
    minimal_case_line,
    nonzero_values,
    record_table,
    replay_command,
    replay_snippet,
    shapes_line,
    step_error_rows,
    what_failed,
    where_failed,
    why_failed,
    worst_pair,
)
from conformance.report._view_loc import (
    evidence_sentence,
    localization_other,
    localization_sentences,
    localization_table,
    structural_rows,
)
from conformance.report._view_seq import (
    case_lines,
    cx_lengths,
    cx_time_major,
    is_padding,
    layout_text,
    lengths_text,
    padded_rows,
    padding_note,
)
from conformance.report._view_text import clean, join, num, one_line
from conformance.spec import difference, shortest

VERDICT_WORDS = {
    "conformant": "CONFORMANT",
    "nonconformant": "NONCONFORMANT",
    "error": "ERROR",
}

#: Matrix cell status words (report.schema.json ``cell_status``); a row verdict word is accepted too.
_CELL_STATUS = {
    "pass": "pass", "fail": "fail", "error": "error", "unsupported": "unsupported", "skipped": "skipped",
    "conformant": "pass", "nonconformant": "fail",
}


def verdict_word(report: Mapping[str, Any]) -> str:
    word = VERDICT_WORDS.get(str(report.get("verdict")), clean(report.get("verdict", "unknown")).upper())
    if report.get("interrupted"):
        word += " (interrupted: partial report)"
    elif report.get("budget_exhausted"):
        word += " (time budget spent)"
    return word


def candidate_names(report: Mapping[str, Any]) -> list[str]:
    """Every candidate a report covers, in order: its ``candidates`` list, matrix rows and runs."""
    names: list[str] = []
    sources = [c.get("name") or c.get("target") for c in report.get("candidates") or [] if isinstance(c, Mapping)]
    sources += [r.get("candidate") for r in ((report.get("matrix") or {}).get("rows") or []) if isinstance(r, Mapping)]
    sources += [r.get("candidate") or r.get("target") for r in report.get("runs") or [] if isinstance(r, Mapping)]
    for name in sources:
        if name and clean(name) not in names:
            names.append(clean(name))
    return names


def several(report: Mapping[str, Any]) -> bool:
    return len(candidate_names(report)) > 1


def subject(report: Mapping[str, Any]) -> str:
    """Who was checked: the candidate's name, or "N candidates (a, b, ...)" for a matrix/fuzz report."""
    names = candidate_names(report)
    if len(names) > 1:
        return f"{len(names)} candidates ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})"
    cand = report.get("candidate") or {}
    if cand.get("name"):
        return clean(cand["name"])
    return names[0] if names else "candidate"


def headline(report: Mapping[str, Any]) -> str:
    """One sentence a newcomer understands: who, verdict, how much evidence."""
    who = subject(report)
    verdict = report.get("verdict")
    examples = report.get("examples")
    evidence = f" after {examples} example(s)" if isinstance(examples, int) else ""
    many = several(report)
    if verdict == "conformant":
        who = f"Every one of {who}" if many else who
        return f"{who} computes what TensorFlow's LSTMCell computes: no difference found{evidence}."
    if verdict == "nonconformant":
        if many:
            return f"At least one of {who} does NOT compute what TensorFlow's LSTMCell computes{evidence}."
        return f"{who} does NOT compute what TensorFlow's LSTMCell computes: a difference was found{evidence}."
    if report.get("error"):
        return f"The run of {who} did not finish: {one_line(report['error'])}"
    return f"{who}: {verdict_word(report)}{evidence}."


def tolerance_items(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dtype, "atol A, rtol R") for each dtype the run covered (``coverage.dtypes``; every listed one
    when the report names no coverage)."""
    table = report.get("tolerances") or {}
    covered = (report.get("coverage") or {}).get("dtypes")
    return [(clean(k), f"atol {num(t.get('atol'), 3)}, rtol {num(t.get('rtol'), 3)}")
            for k, t in table.items() if isinstance(t, Mapping) and (not covered or k in covered)]


def counterexamples(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every counterexample of a report: the ``counterexamples`` list, else the single ``counterexample``."""
    many = report.get("counterexamples")
    if many:
        return [c for c in many if isinstance(c, dict)]
    one = report.get("counterexample")
    return [one] if isinstance(one, dict) else []


# --- matrix and runs ------------------------------------------------------------------------

def cell_status(cell: Any) -> tuple[str, str]:
    """(normalised status, one-line message) of a matrix cell given as a word or an object."""
    if isinstance(cell, Mapping):
        word = cell.get("status") or cell.get("verdict") or ""
        message = cell.get("message") or cell.get("reason") or ""
    else:
        word, message = cell, ""
    return _CELL_STATUS.get(str(word).lower(), "unknown"), one_line(message, 300)


def matrix_table(report: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]] | None:
    """(columns, rows) of the report's matrix, rows ``{"candidate", "cells": {column: (status, message)}}``."""
    m = report.get("matrix")
    if not isinstance(m, Mapping) or not m.get("rows"):
        return None
    columns = [clean(c) for c in (m.get("features") or m.get("columns") or [])]
    rows = []
    for r in m["rows"]:
        cells = r.get("cells") or {}
        if not columns:
            columns = [clean(c) for c in cells]
        rows.append({
            "candidate": clean(r.get("candidate") or r.get("name") or r.get("target") or "?"),
            "verdict": clean(r.get("verdict") or ""),
            "note": one_line(r.get("reason") or r.get("error") or "", 300),
            "cells": {c: cell_status(cells.get(c)) if c in cells else ("unsupported", "") for c in columns},
        })
    return columns, rows


RUN_COLUMNS = ("candidate", "feature", "dtype", "verdict", "examples", "elapsed_s", "seed", "message")


def run_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row of plain strings per entry of a fuzz report's ``runs`` (one slice: candidate x feature x dtype)."""
    rows = []
    for r in report.get("runs") or []:
        if not isinstance(r, Mapping):
            continue
        found = r.get("counterexample")
        cx: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        rows.append({
            "candidate": clean(r.get("candidate") or r.get("target") or "?"),
            "feature": clean(r.get("feature") or join(r.get("features") or [], "all")),
            "dtype": clean(r.get("dtype") or "all"),
            "verdict": clean(r.get("verdict") or ""),
            "examples": num(r.get("examples")),
            "elapsed_s": num(r.get("elapsed_s"), 4),
            "seed": num(r.get("seed")),
            "message": one_line(r.get("message") or cx.get("message") or r.get("error") or "", 300),
        })
    return rows


# --- JUnit test cases -------------------------------------------------------------------------

def test_cases(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One test case per candidate x feature: ``{"classname", "name", "status", "message", "detail"}``.

    ``status`` is pass/fail/error/skipped.  A matrix report gives one case per
    cell; a check report one case per covered feature (``baseline`` = none of
    them) and per covered dtype, the failing ones being those the minimized
    counterexample exercises; a fuzz report's runs are one case each.
    """
    table = matrix_table(report)
    if table is not None:
        columns, rows = table
        out = []
        for row in rows:
            for col in columns:
                status, message = row["cells"][col]
                status = {"unknown": "error", "unsupported": "skipped"}.get(status, status)
                out.append({"classname": row["candidate"], "name": f"feature:{col}", "status": status,
                            "message": message or (f"{col} not supported" if status == "skipped" else ""),
                            "detail": ""})
        return out
    if report.get("runs"):
        return _run_cases(report)
    return _check_cases(report)


_STATUS_RANK = {"pass": 0, "skipped": 1, "error": 2, "fail": 3}


def _run_cases(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One case per candidate x feature x dtype slice; rounds of the same slice merge (worst status wins)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in run_rows(report):
        status = {"conformant": "pass", "nonconformant": "fail"}.get(r["verdict"], "error")
        key = (r["candidate"], f"feature:{r['feature']} dtype:{r['dtype']}")
        case = merged.setdefault(key, {"classname": key[0], "name": key[1], "status": "pass", "message": "",
                                       "detail": ""})
        if _STATUS_RANK[status] > _STATUS_RANK[case["status"]]:
            case.update(status=status, message=r["message"] or r["verdict"], detail=r["message"])
    return list(merged.values())


def _case_note(cx: Mapping[str, Any]) -> str:
    """" (case: time-major; sequence_length [2, 0])" when the case has a layout or lengths to name."""
    notes = (["time-major"] if cx_time_major(cx) else []) + (
        [f"sequence_length {cx_lengths(cx)}"] if cx_lengths(cx) is not None else [])
    return f" (case: {'; '.join(notes)})" if notes else ""


def credited_features(cx: Mapping[str, Any]) -> list[str]:
    """The features a failing counterexample is charged to (its ``feature:`` test cases fail): those of the
    minimized case, narrowed, when a diagnosis explains every case it was tried on, to the ones its variants
    need (none: the baseline). A cell-clip bug whose case also needed forget_bias != 1 to reach the clip
    fails ``feature:cell_clip`` alone."""
    from conformance.diagnose import variants

    used = [clean(f) for f in cx.get("features") or []]
    best = (cx.get("diagnosis") or [None])[0]
    if isinstance(best, Mapping) and best.get("tried_cases") and best.get("explained_cases") == best["tried_cases"]:
        catalogue = {v.name: v for v in variants()}
        parts = [catalogue.get(name) for name in str(best.get("variant", "")).split("+")]
        if parts and all(p is not None for p in parts):
            needs = set().union(*(p.needs for p in parts if p is not None))
            return [f for f in used if f in needs] or ["baseline"]
    return used or ["baseline"]


def _check_cases(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    who = subject(report)
    coverage = report.get("coverage") or {}
    features = ["baseline"] + [clean(f) for f in coverage.get("features") or []]
    dtypes = [clean(d) for d in coverage.get("dtypes") or []]
    cxs = counterexamples(report)
    failing: dict[str, str] = {}
    for cx in cxs:
        cause = f"{cx.get('kind') or 'mismatch'}: {one_line(cx.get('message'))}" + _case_note(cx)
        for f in credited_features(cx):
            failing.setdefault(f"feature:{f}", cause)
        dtype = (cx.get("config") or {}).get("dtype")
        if dtype:
            failing.setdefault(f"dtype:{clean(dtype)}", cause)
    detail = ""
    if cxs:
        case = "; ".join([shapes_line(cxs[0])] + [f"{k}: {val}" for k, val in case_lines(cxs[0])])
        detail = "\n".join(filter(None, [what_failed(cxs[0]), "case: " + case, "where: " + where_failed(cxs[0]),
                                         "why: " + why_failed(cxs[0]), "replay: " + (replay_command(cxs[0]) or "")]))
    error = report.get("error") if report.get("verdict") == "error" else None
    out = []
    for name in [f"feature:{f}" for f in features] + [f"dtype:{d}" for d in dtypes]:
        if error:
            status, message = "error", one_line(error)
        elif name in failing:
            status, message = "fail", failing[name]
        else:
            status, message = "pass", ""
        out.append({"classname": who, "name": name, "status": status, "message": message,
                    "detail": detail if status == "fail" else ""})
    # A failure the coverage lists do not name (e.g. coverage missing from a partial report) still shows.
    for name, cause in failing.items():
        if not any(c["name"] == name for c in out):
            out.append({"classname": who, "name": name, "status": "fail", "message": cause, "detail": detail})
    return out


__all__ = [
    "credited_features",
    "KIND_TITLES",
    "NO_VARIANT",
    "RUN_COLUMNS",
    "VERDICT_WORDS",
    "candidate_names",
    "case_lines",
    "cell_status",
    "clean",
    "config_items",
    "counterexamples",
    "cx_dtype",
    "cx_label",
    "cx_lengths",
    "cx_target",
    "cx_time_major",
    "describe_entry",
    "difference",
    "diagnosis_rows",
    "diagnosis_state",
    "entry_name",
    "evidence_sentence",
    "flat_items",
    "flat_value",
    "headline",
    "how_to_fix",
    "is_padding",
    "join",
    "layout_text",
    "lengths_text",
    "localization_other",
    "localization_sentences",
    "localization_table",
    "matrix_table",
    "minimal_case_line",
    "nonzero_values",
    "num",
    "one_line",
    "padded_rows",
    "padding_note",
    "record_table",
    "replay_command",
    "replay_snippet",
    "run_rows",
    "several",
    "shapes_line",
    "shortest",
    "step_error_rows",
    "structural_rows",
    "subject",
    "test_cases",
    "tolerance_items",
    "verdict_word",
    "what_failed",
    "where_failed",
    "why_failed",
    "worst_pair",
]
