"""What the reports say of a case's row lengths (``sequence_length``) and layout (time-major or not).

Part of the report view (conformance.report._view): plain strings, escaped by each writer.  The
console printout (conformance.report._console) uses the same words for a live Case.
Semantics (conformance.spec._case): TF's ``dynamic_rnn``: outputs of row b at steps t >= L[b] are
zeros and its final state is the one after step L[b] - 1; ``inputs`` entries are indexed in the
case's own layout ([t, b, i] when time-major), a Result (outputs) always batch-major [b, t, p].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cx_time_major(cx: Mapping[str, Any]) -> bool:
    """Whether the case is time-major (the top-level field, else its config; absent in old reports: False)."""
    return bool(cx.get("time_major", (cx.get("config") or {}).get("time_major", False)))


def cx_lengths(cx: Mapping[str, Any]) -> list[int] | None:
    """The case's ``sequence_length`` as ints, or None (full-length rows, or not a list of ints)."""
    lengths = cx.get("sequence_length")
    if not isinstance(lengths, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in lengths):
        return None
    return [int(n) for n in lengths]


def layout_text(time_major: bool) -> str | None:
    """The layout of a time-major case in words; None for batch-major (the default, said nowhere)."""
    if not time_major:
        return None
    return ("time-major, inputs [T, B, I] (index [t, b, i]) and the candidate's outputs [T, B, P]; "
            "the harness compares outputs batch-major, so output indices here are [b, t, p]")


def lengths_text(lengths: list[int] | None, time: Any) -> str | None:
    """Each row's length and what it means, e.g. "[2, 0] (row 1 empty; ...)"; None without lengths."""
    if lengths is None:
        return None
    notes = []
    empty = [b for b, n in enumerate(lengths) if n == 0]
    if empty:
        notes.append(f"row{'s' if len(empty) > 1 else ''} {', '.join(map(str, empty))} empty")
    if isinstance(time, int):
        short = [f"row {b} runs steps 0-{n - 1} of {time}" for b, n in enumerate(lengths) if 0 < n < time]
        notes += short[:4] + (["..."] if len(short) > 4 else [])
        if not empty and not short:
            notes.append(f"every row runs all {time} steps")
    notes.append("padded steps t >= L[b] hold inputs that must be ignored; outputs there are 0 and the final "
                 "state of row b is the one after step L[b] - 1")
    return f"[{', '.join(map(str, lengths))}] ({'; '.join(notes)})"


def is_padding(name: Any, index: list[int], time_major: bool, lengths: list[int] | None) -> bool:
    """Whether ``inputs[index]`` (index in the case's own layout) lies past its row's end."""
    if name != "inputs" or lengths is None or len(index) != 3:
        return False
    t, b = (index[0], index[1]) if time_major else (index[1], index[0])
    return 0 <= b < len(lengths) and t >= lengths[b]


def padded_rows(lengths: list[int] | None, t: int) -> list[int]:
    """The rows for which time step ``t`` lies past their end (t >= L[b])."""
    return [] if lengths is None else [b for b, n in enumerate(lengths) if t >= n]


def padding_note(lengths: list[int] | None, t: int) -> str:
    """"padding in row 1" / "padding in every row" for step ``t``; "" when no row is padded there."""
    rows = padded_rows(lengths, t)
    if not rows:
        return ""
    if lengths is not None and len(rows) == len(lengths) and len(rows) > 1:
        return "padding in every row"
    return f"padding in row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:8]))}{', ...' if len(rows) > 8 else ''}"


def case_lines(cx: Mapping[str, Any]) -> list[tuple[str, str]]:
    """("layout", ...) and ("sequence_length", ...) of a counterexample, those that apply."""
    out = []
    layout = layout_text(cx_time_major(cx))
    if layout:
        out.append(("layout", layout))
    lengths = lengths_text(cx_lengths(cx), cx.get("time"))
    if lengths:
        out.append(("sequence_length", lengths))
    return out
