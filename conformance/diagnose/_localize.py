"""Where in time a failing candidate leaves TF's semantics, and which of c, h or the output goes first.

A candidate only returns the final state, so the cell state after step t is
obtained by running it on the time prefix ``case.slice_time(0, t + 1)``.  Each
step's c [B, H], h [B, P] and output [B, P] are judged against the float64 spec
(conformance.spec) by the run's :class:`~conformance.judge.Judge`, with the verdict's
own rounding model (per-dtype atol/rtol plus the spread of that step), so the
localization never disagrees with the verdict it explains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.candidates import Executor
from conformance.judge import DEFAULT_JUDGE, Judge
from conformance.spec import CandidateFault, Case, Result, cell_label, cell_prefix, finite_or_none, reference_trace

#: Arrays in the order they are named when several diverge at the same step.
SERIES = ("c", "h", "outputs")


@dataclasses.dataclass(frozen=True)
class RowLocalization:
    """Where one row of a case with sequence lengths diverges, relative to its length."""

    row: int
    length: int
    #: First step whose output diverges (None: the outputs agree).
    first_output_step: int | None
    #: Every diverging output lies past the row's end (t >= length).
    padded_only: bool
    #: The row's final c or h differs.
    final_state_differs: bool

    def sentence(self) -> str:
        b, L = self.row, self.length
        if self.first_output_step is not None and self.padded_only:
            text = f"row {b} diverges only at padded steps t >= L[{b}] = {L}"
        elif self.first_output_step is not None:
            text = f"row {b} (length {L}) diverges at step {self.first_output_step}, within its length"
        else:
            return f"the final state of row {b} (length {L}) differs, its outputs agree"
        return text + (" and in its final state" if self.final_state_differs else "")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _state_h(case: Case, outputs: np.ndarray) -> np.ndarray:
    """The state h [B, T, P] after each step: the output up to a row's end, frozen after it (h0 for an
    empty row); ``outputs`` is the spec's [B, T, P] (zeros past each row's end)."""
    if case.sequence_length is None:
        return outputs
    lengths = case.lengths()
    h0 = case.initial_state.h.astype(np.float64)
    rows = np.arange(case.batch)
    last = np.where((lengths > 0)[:, None], outputs[rows, np.maximum(lengths - 1, 0)], h0)
    padded = np.arange(case.time)[None, :] >= lengths[:, None]
    return np.where(padded[:, :, None], last[:, None, :], outputs)


def _cells(case: Case, got: Result, spec: Result, judge: Judge, spread_final: Mapping[str, np.ndarray]) -> str:
    """For a network: which cells' final states (and which directions' top outputs) diverge, in words."""
    if case.single_cell:
        return ""
    npd = case.config.np_dtype
    expected = {k: v.astype(npd) for k, v in spec.arrays().items()}
    _, _, fails = judge.elementwise(case, got.arrays(), expected, spread_final)
    bad: list[str] = []
    good: list[str] = []
    for k, d, _ in case.cells():
        prefix = cell_prefix(k, d)
        (bad if fails[prefix + "c"].any() or fails[prefix + "h"].any() else good).append(cell_label(k, d))
    text = (f"final state of {', '.join(bad)} diverges" if bad else "every cell's final state agrees")
    if good and bad:
        text += f"; {', '.join(good)} agree{'s' if len(good) == 1 else ''}"
    if "outputs_bw" in fails:
        fw, bw = bool(fails["outputs"].any()), bool(fails["outputs_bw"].any())
        text += f"; top layer outputs: forward {'diverges' if fw else 'agrees'}, backward {'diverges' if bw else 'agrees'}"
    return text


def _rows(case: Case, fails: Mapping[str, np.ndarray], ran: list[int]) -> tuple[RowLocalization, ...]:
    """Per-row localization of a case with lengths (empty for full-length cases and agreeing rows)."""
    if case.sequence_length is None:
        return ()
    T = case.time
    out = []
    for b, L in enumerate(case.lengths()):
        steps = np.nonzero(fails["outputs"][b].any(axis=-1))[0]
        final = T - 1 in ran and bool(fails["c"][b, T - 1].any() or fails["h"][b, T - 1].any())
        if steps.size or final:
            out.append(RowLocalization(b, int(L), int(steps[0]) if steps.size else None,
                                       bool(steps.size) and bool(steps[0] >= L), final))
    return tuple(out)



@dataclasses.dataclass(frozen=True)
class Localization:
    """Where a failure starts: report.json's ``counterexample.localization`` (see :meth:`to_dict`).

    ``first_steps[name]`` is the first diverging step of c, h and the outputs (None: never);
    ``step_errors[name]`` the max abs error per step (None where not checked or non-finite);
    ``steps_checked`` the steps whose time prefix was run; ``note`` why checking stopped early.
    """

    first_divergent_step: int | None
    first_divergent: tuple[str, ...]
    first_steps: Mapping[str, int | None]
    step_errors: Mapping[str, tuple[float | None, ...]]
    steps_checked: tuple[int, ...]
    non_finite: tuple[str, ...]
    note: str | None
    summary: str
    case: str = "minimized counterexample"
    #: For a case with sequence lengths: each diverging row, relative to its length.
    rows: tuple[RowLocalization, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "rows": [r.to_dict() for r in self.rows],
            "first_divergent_step": self.first_divergent_step,
            "first_divergent": list(self.first_divergent),
            "first_steps": dict(self.first_steps),
            "step_errors": {k: list(v) for k, v in self.step_errors.items()},
            "steps_checked": list(self.steps_checked),
            "non_finite": list(self.non_finite),
            "note": self.note,
            "summary": self.summary,
        }


def _prefix_steps(T: int, first_output_step: int | None, max_prefixes: int) -> list[int]:
    """The steps whose prefix is run: all of them, or a window that ends just after the output diverges."""
    if T <= max_prefixes:
        return list(range(T))
    end = T - 1 if first_output_step is None else min(T - 1, first_output_step + 1)
    return list(range(max(0, end - max_prefixes + 1), end + 1))


def localize(
    case: Case,
    got: Result,
    executor: Executor,
    *,
    judge: Judge = DEFAULT_JUDGE,
    max_prefixes: int = 48,
) -> Localization:
    """Localize a failure of ``got`` (the candidate's Result on ``case``) in time.

    ``c``/``h`` of a step come from running ``executor`` on that time prefix; a step
    whose prefix was not run (long cases: only ``max_prefixes`` are) is None in the series.
    """
    npd = case.config.np_dtype
    trace = reference_trace(case)
    spec, cells = trace
    T = case.time
    measured = judge.spread(case, base=trace)
    # The series: the top layer's outputs, and layer 1 forward's state after every step (in a network
    # the first cell's own outputs are its h, from the spec of that cell alone).
    first_cell = case if case.single_cell else dataclasses.replace(case, upper=(), backward=())
    first_outputs = spec.outputs if case.single_cell else reference_trace(first_cell)[0].outputs
    expected = {"outputs": spec.outputs.astype(npd), "c": cells.astype(npd),
                "h": _state_h(first_cell, first_outputs).astype(npd)}
    spread = {k: np.broadcast_to(v.max(axis=(0, 2), keepdims=True) if v.size else v, expected[k].shape)
              for k, v in measured.per_step().items()}
    errs, _, fails = judge.elementwise(case, {"outputs": got.outputs, "c": expected["c"], "h": expected["h"]},
                                       expected, spread)
    out_fail_steps = np.nonzero(fails["outputs"].any(axis=(0, 2)))[0]
    first_output = int(out_fail_steps[0]) if out_fail_steps.size else None

    steps = _prefix_steps(T, first_output, max_prefixes)
    c_series = np.full(cells.shape, np.nan)
    h_series = np.full(expected["h"].shape, np.nan)
    ran: list[int] = []
    fault = None
    for t in steps:
        try:
            r = got if t == T - 1 else executor.run(case.slice_time(0, t + 1))
        except CandidateFault as exc:
            fault = f"the candidate failed on the first {t + 1} steps: {exc.kind}: {exc.message}"
            break
        if r.c.shape != c_series[:, t].shape or r.h.shape != h_series[:, t].shape:
            fault = f"the candidate returned a wrong-shaped state on the first {t + 1} steps"
            break
        c_series[:, t] = np.asarray(r.c, dtype=np.float64)
        h_series[:, t] = np.asarray(r.h, dtype=np.float64)
        ran.append(t)
    got_series = {"outputs": got.outputs, "c": c_series, "h": h_series}
    errs, _, fails = judge.elementwise(case, got_series, expected, spread)

    first_steps: dict[str, int | None] = {}
    step_errors: dict[str, list[float | None]] = {}
    for name in SERIES:
        checked = range(T) if name == "outputs" else ran
        per_step = {t: float(np.max(errs[name][:, t])) if errs[name][:, t].size else 0.0 for t in checked}
        step_errors[name] = [finite_or_none(per_step[t]) if t in per_step else None for t in range(T)]
        failing = [t for t in checked if fails[name][:, t].any()]
        first_steps[name] = failing[0] if failing else None
    found = [t for t in first_steps.values() if t is not None]
    first = min(found) if found else None
    first_arrays = [n for n in SERIES if first_steps[n] == first] if first is not None else []
    non_finite = [n for n in SERIES for t in range(T)
                  if step_errors[n][t] is None and (n == "outputs" or t in ran)]
    summary = _summary(first, first_arrays, first_steps, T, ran, fault)
    cell_text = _cells(case, got, spec, judge, spread_final=measured.final())
    if cell_text:
        summary += "; " + cell_text
    rows = _rows(case, fails, ran)
    if rows:
        summary += "; " + "; ".join(r.sentence() for r in rows[:3]) + ("; ..." if len(rows) > 3 else "")
    if non_finite:
        summary += f"; non-finite values in {', '.join(sorted(set(non_finite)))}"
    return Localization(
        first_divergent_step=first,
        first_divergent=tuple(first_arrays),
        first_steps=first_steps,
        step_errors={k: tuple(v) for k, v in step_errors.items()},
        steps_checked=tuple(ran),
        non_finite=tuple(sorted(set(non_finite))),
        note=fault,
        summary=summary,
        rows=rows,
    )


def _summary(first: int | None, first_arrays: list[str], first_steps: Mapping[str, int | None], T: int,
             ran: list[int], fault: str | None) -> str:
    if first is None:
        text = "no step diverges from the spec beyond tolerance in c, h or the outputs"
        if len(ran) < T:
            text += f" (c and h checked at steps {ran[0] if ran else '-'}..{ran[-1] if ran else '-'} only)"
    else:
        names = {"c": "the cell state c", "h": "the state h", "outputs": "the output"}
        said = [names[n] for n in first_arrays]
        lead = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
        verb = "diverges first" if len(said) == 1 else "diverge together"
        others = [f"{n} from step {first_steps[n]}" for n in SERIES if n not in first_arrays and first_steps[n] is not None]
        never = [n for n in SERIES if first_steps[n] is None]
        text = f"{lead} {verb} at time step {first} (of {T}, counted from 0)"
        if others:
            text += "; " + ", ".join(others)
        if never:
            text += "; " + " and ".join(never) + (" never diverges" if len(never) == 1 else " never diverge")
    if fault:
        text += f" ({fault})"
    return text
