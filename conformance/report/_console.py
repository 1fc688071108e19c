"""Terminal output shared by the commands: counterexample, per-step errors (the progress display: _progress)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import numpy as np

from conformance.outcome import Counterexample
from conformance.report._json import repro_command
from conformance.report._view_seq import is_padding, layout_text, lengths_text, padding_note
from conformance.report._view_text import clean, last_line


def format_config(config: Any) -> str:
    d = config.to_dict()
    return ", ".join(f"{k}={v!r}" for k, v in d.items())


def _lengths(case: Any) -> list[int] | None:
    lengths = getattr(case, "sequence_length", None)
    return None if lengths is None else [int(n) for n in lengths]


def print_case(case: Any, out=None) -> None:
    """Config, shapes, layout and row lengths, and every non-zero number of a case (padding marked)."""
    out = out or sys.stdout
    cfg = case.config
    time_major, lengths = bool(getattr(cfg, "time_major", False)), _lengths(case)
    print(f"  config: {format_config(cfg)}", file=out)
    print(f"  shapes: batch={case.batch} time={case.time} input_size={cfg.input_size} "
          f"num_units={cfg.num_units} output_size={cfg.output_size}", file=out)
    if not getattr(case, "single_cell", True):
        kind = ("bidirectional, " if case.bidirectional else "") + f"{case.num_layers} layer(s)"
        print(f"  network: {kind}; the config above is layer 1 forward's, arrays of the others are prefixed "
              f"(layer2/, bw/, layer2_bw/)", file=out)
        for k, d, cell in case.cells()[1:]:
            print(f"    layer {k + 1} {d}: {format_config(cell.config)}", file=out)
    layout = layout_text(time_major)
    if layout:
        print(f"  layout: {layout}", file=out)
    if lengths is not None:
        print(f"  sequence_length: {lengths_text(lengths, case.time)}", file=out)
    entries = case.nonzero_entries()
    where = f"; inputs indexed [{'t, b, i' if time_major else 'b, t, i'}]" if time_major or lengths is not None else ""
    print(f"  non-zero values ({len(entries)}; every other number is 0{where}):", file=out)
    for e in entries[:60]:
        idx = ", ".join(str(i) for i in e["index"])
        pad = "   (padding: past the row's end, must be ignored)" if is_padding(
            e["array"], e["index"], time_major, lengths) else ""
        print(f"    {e['array']}[{idx}] = {e['value']:.9g}{pad}", file=out)
    if len(entries) > 60:
        print(f"    ... {len(entries) - 60} more (see the .npz)", file=out)


def print_step_errors(step_errors: list[float], first: int | None, out: TextIO | None = None,
                      lengths: list[int] | None = None) -> None:
    """Max abs error per step; the first divergence and, with row ``lengths``, padded steps marked."""
    out = out or sys.stdout
    print("  max abs error of outputs per time step:", file=out)
    shown: list[float | None] = list(step_errors) if len(step_errors) <= 20 else [*step_errors[:10], None, *step_errors[-5:]]
    t = 0
    for e in shown:
        if e is None:
            print("    ...", file=out)
            t = len(step_errors) - 5
            continue
        mark = "   <- first divergence" if first is not None and t == first else ""
        pad = padding_note(lengths, t)
        mark += f"   ({pad})" if pad else ""
        print(f"    t={t:<4d} {e:.3g}{mark}", file=out)
        t += 1


def print_counterexample(cx: Counterexample, *, verbose: bool = False, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    cmp = cx.comparison
    fault = cx.evaluation.fault
    message = clean(cmp.message)
    print(f"{cx.kind}: {message}", file=out)
    # The message is cut to one line; TF puts the real error at the end of a long one.
    tail = last_line(getattr(fault, "full_message", None)) if fault is not None else ""
    if tail and tail not in message:
        print(f"  last line of the full message: {tail if len(tail) <= 300 else '...' + tail[-297:]}", file=out)
    print("minimized counterexample:", file=out)
    print_case(cx.case, out)
    if cmp.step_errors:
        print_step_errors(cmp.step_errors, cmp.first_divergent_step, out, lengths=_lengths(cx.case))
    if cmp.oracle_deviation:
        print(f"  note: {clean(cmp.oracle_deviation)}", file=out)
    print_diagnosis(cx, out)
    if cx.repro:
        print(f"replay: {clean(repro_command(cx.repro, cx.target))}", file=out)
    if verbose and fault is not None and getattr(fault, "traceback", None):
        print(clean(fault.traceback), file=out)  # type: ignore[attr-defined]


def print_diagnosis(cx: Counterexample, out: TextIO | None = None) -> None:
    """The best-fitting convention variant (or that none fits), the localization and broken structure."""
    out = out or sys.stdout
    if cx.diagnosis:
        best = cx.diagnosis[0]
        partly = "" if best.complete else "partly "
        print(f"diagnosis: {partly}{best.variant} (explains {best.explained_cases}/{best.tried_cases} "
              f"cases): {best.explanation}", file=out)
        if best.fix:
            print(f"  fix: {best.fix}", file=out)
        # A complete tie is said as one: "also fits in part" would rank what the evidence cannot.
        found = cx.analysis.diagnosis if cx.analysis is not None else None
        ambiguity = getattr(found, "ambiguity", "")
        tied = set(getattr(found, "ambiguous", ()))
        if ambiguity:
            print(f"  {clean(ambiguity)}", file=out)
        others = [d for d in cx.diagnosis[1:3] if d.variant not in tied]
        for label, group in (("also fits", [d for d in others if d.complete]),
                             ("also fits in part", [d for d in others if not d.complete])):
            if group:
                listed = ", ".join(f"{d.variant} ({d.explained_cases}/{d.tried_cases})" for d in group)
                print(f"  {label}: {listed}", file=out)
    elif cx.diagnosed:
        print("diagnosis: no known variant explains this", file=out)
    for hint in getattr(cx.analysis.diagnosis if cx.analysis is not None else None, "hints", ()):
        print(f"structural hint: {hint.hint}: {clean(hint.message)}", file=out)
    if cx.localization is not None and cx.localization.summary:
        print(f"localization: {cx.localization.summary}", file=out)
    for s in cx.structural:
        if s.holds is False:
            print(f"structural property violated: {s.property}: {clean(s.message)}", file=out)


def print_arrays(label: str, result: Any, out=None) -> None:
    out = out or sys.stdout
    with np.printoptions(precision=6, suppress=True, threshold=200, linewidth=120):
        print(f"{label}:", file=out)
        for name, a in result.arrays().items():
            print(f"  {name} {list(a.shape)} =\n    " + str(np.asarray(a, dtype=np.float64)).replace("\n", "\n    "),
                  file=out)
