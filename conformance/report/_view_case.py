"""What the human-facing reports show of one counterexample (a ``counterexample`` dict of report.json).

Part of the report view (conformance.report._view): plain strings, escaped by each writer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from conformance.report._view_seq import cx_lengths, cx_time_major, is_padding, padding_note
from conformance.report._view_text import clean, num, one_line
from conformance.spec import GATE_ORDER, LSTMConfig, difference, shortest

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
    "input_mutation": "the candidate wrote into the arrays of the case it was given",
}


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

    Layout (conformance.spec._case): kernel [I+P, 4H] rows x then h, column blocks i, j, f, o;
    bias [4H]; w_*_diag [H]; proj_kernel [H, P]; inputs [B, T, I] ([T, B, I] time-major); c0 [B, H]; h0 [B, P].
    An input past its row's end is marked as padding.
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
            tm, lengths = cx_time_major(cx), cx_lengths(cx)
            t, b = (index[0], index[1]) if tm else (index[1], index[0])
            pad = (f" (padding: t >= L[{b}] = {lengths[b]}, must be ignored)"
                   if lengths is not None and is_padding(name, index, tm, lengths) else "")
            return f"batch {b}, time step {t}, feature {index[2]}{pad}"
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
        got, want = worst_pair(cx)
        detail = (f"{entry_name(worst)}{step}: the candidate gives {got}, TensorFlow's LSTMCell gives "
                  f"{want} (difference {difference(worst['got'], worst['expected'])}); largest difference anywhere "
                  f"{num(cx.get('max_abs_error'), 2)}")
    else:
        detail = one_line(cx.get("message"))
    return f"{KIND_TITLES.get(kind, clean(kind))}. {detail}"


def cx_dtype(cx: Mapping[str, Any]) -> str | None:
    dtype = (cx.get("config") or {}).get("dtype")
    return dtype if isinstance(dtype, str) else None


def worst_pair(cx: Mapping[str, Any]) -> tuple[str, str]:
    """(got, expected) of the worst element, each with the shortest digits that round-trip in the case's dtype
    (conformance.spec.shortest: a float64 difference of 2e-10 shows)."""
    worst = cx.get("worst") or {}
    return shortest(worst.get("got"), cx_dtype(cx)), shortest(worst.get("expected"), cx_dtype(cx))


def minimal_case_line(cx: Mapping[str, Any]) -> str:
    """The minimized case in one sentence: sizes, dtype and its non-zero numbers (all of them when few)."""
    cfg = cx.get("config") or {}
    options = [f"{k}={num(val)}" for k, val in cfg.items() if k not in ("num_units", "input_size", "dtype")
               and val != _BASELINE.get(k)]
    sizes = (f"batch {cx.get('batch')}, {cx.get('time')} time step(s), input size {cx.get('input_size')}, "
             f"{cx.get('num_units')} unit(s), {clean(cfg.get('dtype'))}"
             + (f", {', '.join(options)}" if options else
                ", default options (forget_bias=1, tanh, no peepholes, clipping or projection)"))
    lengths = cx_lengths(cx)
    if lengths is not None:
        sizes += f", sequence_length {lengths} (steps t >= L[b] are padding)"
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
        pad = padding_note(cx_lengths(cx), step) if isinstance(step, int) else ""
        if pad:
            where += f"; step {step} is {pad} (t >= L[b]), where TF outputs 0"
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
    tm, lengths = cx_time_major(cx), cx_lengths(cx)
    x_shape, out_shape = ("[T, B, I] (time-major)", "[T, B, P] (time-major)") if tm else ("[B, T, I]", "[B, T, P]")
    has_lengths = "case.sequence_length is None" if lengths is None else f"case.sequence_length.tolist() == {lengths}"
    lines = [
        "# Reproduce without the harness or TensorFlow: numpy + the candidate only.",
        "import numpy as np",
        "from conformance import Case",
        *load,
        "",
        f"with np.load({str(path)!r}, allow_pickle=False) as f:",
        f"    case = Case.from_arrays({{k: f[k] for k in f.files}})  # config + inputs {x_shape}, sequence_length, "
        "c0, h0, kernel, bias, ...",
        "# The layout and the row lengths of the report's case (padded steps t >= L[b] must be ignored):",
        f"assert case.config.time_major is {tm} and {has_lengths}",
        f"outputs, (c, h) = candidate(case)  # outputs {out_shape}, c [B, H], h [B, P]",
    ]
    worst = cx.get("worst")
    if isinstance(worst, Mapping) and worst.get("array") in ("outputs", "c", "h") and worst.get("index") is not None:
        index = [int(i) for i in worst["index"]]
        var = worst["array"]
        if tm and var == "outputs" and len(index) == 3:  # the report's index is batch-major [b, t, p]
            index = [index[1], index[0], index[2]]
        expected = shortest(float(worst.get("expected") or 0.0), cx_dtype(cx))
        if not expected[-1:].isdigit():  # nan, inf: a Python literal that parses
            expected = f"float({expected!r})"
        lines.append(f"print({var}[{', '.join(map(str, index))}], 'TensorFlow LSTMCell gives', {expected})")
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
    """(t, max abs error, note) rows; long sequences keep the start, the divergence and the end.

    The note names the first divergence and the rows a step is padding for (t >= L[b])."""
    errors = cx.get("step_errors") or []
    first = cx.get("first_divergent_step")
    lengths = cx_lengths(cx)
    keep = set(range(min(len(errors), limit // 2))) | set(range(max(0, len(errors) - limit // 4), len(errors)))
    if isinstance(first, int):
        keep |= set(range(max(0, first - 2), min(len(errors), first + 3)))
    rows: list[tuple[str, str, str]] = []
    last = -1
    for t in sorted(keep):
        if t != last + 1:
            rows.append(("...", "", ""))
        note = ["first divergence"] if t == first else []
        note += [padding_note(lengths, t)]
        rows.append((str(t), num(errors[t], 3), "; ".join(n for n in note if n)))
        last = t
    return rows



def nonzero_values(cx: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """Rows ``{"element", "value", "meaning", "padding"}`` of the minimal case, or None if too many were listed.

    ``padding`` is "padding" for an input past its row's end (to be ignored), else ""."""
    values = cx.get("values")
    if values is None:
        return None
    tm, lengths = cx_time_major(cx), cx_lengths(cx)
    return [{"element": entry_name(e), "value": num(e.get("value"), 9), "meaning": describe_entry(e, cx),
             "padding": "padding" if is_padding(e.get("array"), list(e.get("index") or []), tm, lengths) else ""}
            for e in values]

