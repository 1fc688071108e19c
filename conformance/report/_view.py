"""What every human-facing report shows, computed once from the report.json dict.

The HTML, Markdown and JUnit writers all render these facts, so they can never
disagree with each other or with report.json.  Nothing here formats markup:
every string returned is plain (untrusted parts included) and each writer
escapes it for its own syntax.

Report sections read here (see report.schema.json and docs/reports.md):
``counterexample`` (one) or ``counterexamples`` (several, e.g. matrix/fuzz),
``matrix`` (rows candidates, columns features) and ``runs`` (one per fuzz run).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Mapping

from conformance._spec import GATE_ORDER, LSTMConfig

#: Plain-words title of each failure kind (comparison kinds and FAULT_KINDS).
KIND_TITLES = {
    "mismatch": "wrong numbers: the outputs differ from TensorFlow's LSTMCell beyond tolerance",
    "non_finite": "NaN or Inf where TensorFlow's LSTMCell gives finite numbers",
    "exception": "the candidate raised an exception",
    "wrong_shape": "the candidate returned arrays of the wrong shape",
    "wrong_dtype": "the candidate returned arrays of the wrong dtype",
    "crash": "the candidate's process crashed",
    "hang": "the candidate did not return in time",
    "memory": "the candidate exceeded its memory limit",
    "nondeterminism": "the candidate gave different answers for the same input",
}

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

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: Any) -> str:
    """``str(text)`` without control characters (they break XML and terminals; tab/newline stay)."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", "" if text is None else str(text))


def one_line(text: Any, limit: int = 500) -> str:
    s = " ".join(clean(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def num(x: Any, digits: int = 6) -> str:
    """A number for people: ``None`` -> "n/a", floats with ``digits`` significant digits."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return clean(x)


def verdict_word(report: Mapping[str, Any]) -> str:
    word = VERDICT_WORDS.get(report.get("verdict"), clean(report.get("verdict", "unknown")).upper())
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


def counterexamples(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every counterexample of a report: the ``counterexamples`` list, else the single ``counterexample``."""
    many = report.get("counterexamples")
    if many:
        return [c for c in many if isinstance(c, dict)]
    one = report.get("counterexample")
    return [one] if isinstance(one, dict) else []


def cx_label(cx: Mapping[str, Any], index: int, report: Mapping[str, Any]) -> str:
    who = cx.get("candidate") or (report.get("candidate") or {}).get("name") or "candidate"
    return f"Counterexample {index + 1} ({clean(who)})"


def cx_target(cx: Mapping[str, Any], report: Mapping[str, Any]) -> str | None:
    return cx.get("target") or (report.get("candidate") or {}).get("target")


def shapes_line(cx: Mapping[str, Any]) -> str:
    return (f"batch B={cx.get('batch')}, time T={cx.get('time')}, input size I={cx.get('input_size')}, "
            f"units H={cx.get('num_units')}, output size P={cx.get('output_size')}")


def config_items(cx: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, value) of the case's LSTMConfig in constructor order (a .json may have sorted them)."""
    config = cx.get("config") or {}
    order = [f.name for f in dataclasses.fields(LSTMConfig)]
    keys = [k for k in order if k in config] + [k for k in config if k not in order]
    return [(clean(k), num(config[k]) if config[k] is not None else "None") for k in keys]


def describe_entry(entry: Mapping[str, Any], cx: Mapping[str, Any]) -> str:
    """What one canonical array element means, e.g. ``bias[1]`` -> "gate j, unit 0".

    Layout (conformance._spec): kernel [I+P, 4H] rows x then h, column blocks i, j, f, o;
    bias [4H]; w_*_diag [H]; proj_kernel [H, P]; inputs [B, T, I]; c0 [B, H]; h0 [B, P].
    """
    name, index = entry.get("array"), list(entry.get("index") or [])
    H, I = cx.get("num_units"), cx.get("input_size")
    if not isinstance(H, int) or not isinstance(I, int) or H < 1:
        return ""
    try:
        if name == "bias" and len(index) == 1:
            return f"gate {GATE_ORDER[index[0] // H]}, unit {index[0] % H}"
        if name == "kernel" and len(index) == 2:
            row, col = index
            src = f"input x[{row}]" if row < I else f"recurrent h[{row - I}]"
            return f"{src} -> gate {GATE_ORDER[col // H]}, unit {col % H}"
        if name == "inputs" and len(index) == 3:
            return f"batch {index[0]}, time step {index[1]}, feature {index[2]}"
        if name in ("c0", "h0") and len(index) == 2:
            return f"initial {name[0]} of batch {index[0]}, unit {index[1]}"
        if name in ("w_i_diag", "w_f_diag", "w_o_diag") and len(index) == 1:
            return f"peephole of gate {name[2]}, unit {index[0]}"
        if name == "proj_kernel" and len(index) == 2:
            return f"projection unit {index[0]} -> output {index[1]}"
    except (IndexError, TypeError):
        return ""
    return ""


def entry_name(entry: Mapping[str, Any]) -> str:
    return f"{clean(entry.get('array'))}[{', '.join(str(i) for i in entry.get('index') or [])}]"


def what_failed(cx: Mapping[str, Any]) -> str:
    """The kind in plain words, then the worst element (candidate vs TF) or the fault's message."""
    kind = cx.get("kind") or "mismatch"
    worst = cx.get("worst")
    if isinstance(worst, Mapping) and worst.get("got") is not None and worst.get("expected") is not None:
        step = f" (time step {worst['step']})" if worst.get("array") == "outputs" and worst.get("step") is not None else ""
        detail = (f"{entry_name(worst)}{step}: the candidate gives {num(worst['got'])}, TensorFlow's LSTMCell gives "
                  f"{num(worst['expected'])}; largest difference anywhere {num(cx.get('max_abs_error'), 3)}")
    else:
        detail = one_line(cx.get("message"))
    return f"{KIND_TITLES.get(kind, clean(kind))}. {detail}"


def minimal_case_line(cx: Mapping[str, Any]) -> str:
    """The minimized case in one sentence: sizes, dtype and its non-zero numbers (all of them when few)."""
    cfg = cx.get("config") or {}
    options = [f"{k}={num(val)}" for k, val in cfg.items() if k not in ("num_units", "input_size", "dtype")
               and val != _BASELINE.get(k)]
    sizes = (f"batch {cx.get('batch')}, {cx.get('time')} time step(s), input size {cx.get('input_size')}, "
             f"{cx.get('num_units')} unit(s), {clean(cfg.get('dtype'))}"
             + (f", {', '.join(options)}" if options else
                ", default options (forget_bias=1, tanh, no peepholes, clipping or projection)"))
    values = cx.get("values")
    if values is None:
        return f"{sizes}; {cx.get('nonzero_values')} non-zero numbers (see below)"
    if not values:
        return f"{sizes}; every input, weight and state is 0"
    shown = [f"{entry_name(e)} = {num(e.get('value'), 9)}" + (f" ({describe_entry(e, cx)})" if describe_entry(e, cx) else "")
             for e in values[:4]]
    more = f" and {len(values) - 4} more" if len(values) > 4 else ""
    return f"{sizes}; the only non-zero number(s): {'; '.join(shown)}{more}; everything else is 0"


#: LSTMConfig defaults: options equal to these are not worth naming in a one-line summary.
_BASELINE = {"forget_bias": 1.0, "use_peepholes": False, "cell_clip": None, "num_proj": None, "proj_clip": None,
             "activation": "tanh"}


def where_failed(cx: Mapping[str, Any]) -> str:
    """First divergent array and step, plus the localization's own summary when diagnosis ran."""
    step, array, T = cx.get("first_divergent_step"), cx.get("first_divergent_array"), cx.get("time")
    if step is None:
        where = "no particular time step (the candidate failed before producing comparable numbers)"
    elif array == "outputs":
        before = {0: "; it diverges from the very first step", 1: "; step 0 agrees"}.get(step, f"; steps 0-{step - 1} agree")
        where = f"outputs, first at time step {step} of {T} (steps counted from 0){before}"
    else:
        where = f"the final state {clean(array)} (after time step {step})"
    loc = cx.get("localization")
    if isinstance(loc, Mapping) and loc.get("summary"):
        where += f". Localization: {one_line(loc['summary'])}"
    return where


def diagnosis_state(cx: Mapping[str, Any]) -> str:
    """"explained", "unexplained" (diagnosis ran, nothing fits) or "not_run"."""
    if cx.get("diagnosis"):
        return "explained"
    return "unexplained" if cx.get("diagnosed") else "not_run"


NO_VARIANT = "no known variant explains this"


def why_failed(cx: Mapping[str, Any]) -> str:
    state = diagnosis_state(cx)
    if state == "explained":
        best = cx["diagnosis"][0]
        return f"{clean(best.get('variant', '?'))}: {one_line(best.get('explanation', ''))}" + _explains(best)
    if state == "unexplained":
        return NO_VARIANT + "; see the localization and the minimal arrays"
    return "not diagnosed in this run; the minimal arrays below show what triggers it"


def how_to_fix(cx: Mapping[str, Any]) -> str | None:
    """The best diagnosis's suggested fix, when it has one."""
    if diagnosis_state(cx) != "explained" or not isinstance(cx["diagnosis"][0], Mapping):
        return None
    fix = cx["diagnosis"][0].get("fix")
    return one_line(fix) if fix else None


def _explains(d: Mapping[str, Any]) -> str:
    if d.get("explained_cases") is not None and d.get("tried_cases") is not None:
        return f" (explains {d['explained_cases']}/{d['tried_cases']} cases)"
    return ""


def diagnosis_rows(cx: Mapping[str, Any]) -> list[dict[str, str]]:
    """``{"variant", "explanation", "fix", "evidence"}`` per diagnosis entry, best first; unknown keys go to evidence."""
    known = ("variant", "explanation", "fix", "explained_cases", "tried_cases")
    rows = []
    for d in cx.get("diagnosis") or []:
        if not isinstance(d, Mapping):
            rows.append({"variant": one_line(d), "explanation": "", "fix": "", "evidence": ""})
            continue
        evidence = [_explains(d).strip(" ()")] if _explains(d) else []
        evidence += [f"{clean(k)}={one_line(val, 200)}" for k, val in d.items() if k not in known]
        rows.append({"variant": clean(d.get("variant", "?")), "explanation": one_line(d.get("explanation", ""), 1000),
                     "fix": one_line(d.get("fix") or "", 1000), "evidence": "; ".join(evidence)})
    return rows


def record_table(items: Any) -> tuple[list[str], list[list[str]]] | None:
    """A list of flat dicts (e.g. structural findings) as (columns, rows) of one-line strings; None otherwise."""
    if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) for i in items):
        return None
    columns: list[str] = []
    for item in items:
        columns += [k for k in item if k not in columns]
    return [clean(c) for c in columns], [[flat_value(item.get(c)) for c in columns] for item in items]


def flat_value(value: Any) -> str:
    if isinstance(value, (Mapping, list)):
        return "; ".join(f"{k}: {val}" if k else val for k, val in flat_items(value))
    return num(value) if not isinstance(value, str) else one_line(value, 1000)


def flat_items(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested dict/list (localization, structural findings) as (dotted key, one-line value) pairs."""
    if isinstance(value, Mapping):
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            out += flat_items(v, f"{prefix}.{k}" if prefix else clean(k))
        return out
    if isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value):
        out = []
        for i, v in enumerate(value):
            out += flat_items(v, f"{prefix}[{i}]")
        return out
    if isinstance(value, list):
        return [(prefix, ", ".join(num(v) for v in value))]
    return [(prefix, num(value) if not isinstance(value, str) else one_line(value, 1000))]


def replay_command(cx: Mapping[str, Any]) -> str | None:
    return cx.get("repro_command")


def replay_snippet(cx: Mapping[str, Any], report: Mapping[str, Any]) -> str | None:
    """A short standalone script: load the .npz (no pickles), build the Case, call the candidate, show the worst element.

    No TensorFlow: the value TF's LSTMCell gives there is written into the script.
    """
    path = cx.get("repro")
    if not path:
        return None
    target = cx_target(cx, report)
    load = _candidate_import(target)
    lines = [
        "# Reproduce without the harness or TensorFlow: numpy + the candidate only.",
        "import numpy as np",
        "from conformance import Case",
        *load,
        "",
        f"with np.load({str(path)!r}, allow_pickle=False) as f:",
        "    case = Case.from_arrays({k: f[k] for k in f.files})  # config + inputs [B, T, I], c0, h0, kernel, bias, ...",
        "outputs, (c, h) = candidate(case)  # outputs [B, T, P], c [B, H], h [B, P]",
    ]
    worst = cx.get("worst")
    if isinstance(worst, Mapping) and worst.get("array") in ("outputs", "c", "h") and worst.get("index") is not None:
        idx = ", ".join(str(int(i)) for i in worst["index"])
        var = worst["array"]
        lines.append(f"print({var}[{idx}], 'TensorFlow LSTMCell gives', {float(worst.get('expected')):.9g})")
    else:
        lines.append("print(outputs, c, h)")
    return "\n".join(lines)


def _candidate_import(target: str | None) -> list[str]:
    if not target:
        return ["candidate = ...  # your candidate function"]
    left, sep, attr = target.rpartition(":")
    simple = re.fullmatch(r"[A-Za-z_][\w.]*", left or "") and re.fullmatch(r"[A-Za-z_]\w*", attr or "")
    if sep and simple and not target.startswith("exec:"):
        return [f"from {left} import {attr} as candidate"]
    return ["from conformance.candidates import resolve", f"candidate = resolve({target!r}).fn"]


def step_error_rows(cx: Mapping[str, Any], limit: int = 40) -> list[tuple[str, str, str]]:
    """(t, max abs error, note) rows; long sequences keep the start, the divergence and the end."""
    errors = cx.get("step_errors") or []
    first = cx.get("first_divergent_step")
    keep = set(range(min(len(errors), limit // 2))) | set(range(max(0, len(errors) - limit // 4), len(errors)))
    if isinstance(first, int):
        keep |= set(range(max(0, first - 2), min(len(errors), first + 3)))
    rows: list[tuple[str, str, str]] = []
    last = -1
    for t in sorted(keep):
        if t != last + 1:
            rows.append(("...", "", ""))
        rows.append((str(t), num(errors[t], 3), "first divergence" if t == first else ""))
        last = t
    return rows


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
        cx = r.get("counterexample") if isinstance(r.get("counterexample"), Mapping) else {}
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


def _check_cases(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    who = subject(report)
    coverage = report.get("coverage") or {}
    features = ["baseline"] + [clean(f) for f in coverage.get("features") or []]
    dtypes = [clean(d) for d in coverage.get("dtypes") or []]
    cxs = counterexamples(report)
    failing: dict[str, str] = {}
    for cx in cxs:
        cause = f"{cx.get('kind') or 'mismatch'}: {one_line(cx.get('message'))}"
        used = [clean(f) for f in cx.get("features") or []] or ["baseline"]
        for f in used:
            failing.setdefault(f"feature:{f}", cause)
        dtype = (cx.get("config") or {}).get("dtype")
        if dtype:
            failing.setdefault(f"dtype:{clean(dtype)}", cause)
    detail = ""
    if cxs:
        detail = "\n".join(filter(None, [what_failed(cxs[0]), "where: " + where_failed(cxs[0]),
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


def nonzero_values(cx: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """Rows ``{"element", "value", "meaning"}`` of the minimal case, or None if too many were listed."""
    values = cx.get("values")
    if values is None:
        return None
    return [{"element": entry_name(e), "value": num(e.get("value"), 9), "meaning": describe_entry(e, cx)}
            for e in values]


def join(items: Iterable[Any], empty: str = "none") -> str:
    items = [clean(i) for i in items]
    return ", ".join(items) if items else empty
