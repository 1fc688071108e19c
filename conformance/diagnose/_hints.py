"""Structural hints for a failure no catalogue variant explains: what the candidate's outputs look like
against TF's semantics, each stated only when a test shows it beyond rounding.

Every hypothesis is a transformation of TF's float64 result (or of the candidate's) that the candidate must
then match under the verdict's own rule (:meth:`conformance.judge.Judge.compare`: tolerance plus the rounding
spread) on every informative case it applies to:

* ``outputs_reversed``: the outputs are TF's in reverse time order;
* ``inputs_reversed``: the candidate runs the sequence back to front (TF on the time-reversed inputs);
* ``outputs_shifted``: output t is TF's output t - 1 (an off-by-one when collecting outputs);
* ``state_reset``: the state is reset to zero every k steps (k fitted: the smallest that fits);
* ``final_state_step``: the outputs are right but the returned state is the one after another step
  (the state is then not carried across a split of the sequence);
* ``rows_leak``: each row run alone is right, the rows run together are not (rows of a batch mix);
* ``saturation``: the outputs are TF's clipped at a threshold (fitted: the largest |output|);
* ``approximated_activation``: the error is there from the first step, stays small relative to the values
  and none of the above holds (an approximated tanh/sigmoid; the largest relative error is given).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from conformance.candidates import Executor
from conformance.judge import Judge
from conformance.spec import CandidateFault, Case, Result, reference, reference_trace

HINTS = ("outputs_reversed", "inputs_reversed", "outputs_shifted", "state_reset", "final_state_step", "rows_leak",
         "saturation", "approximated_activation")
#: The largest relative error (to the values' magnitude) an approximated activation is taken to make.
APPROXIMATION_LIMIT = 0.15


@dataclasses.dataclass(frozen=True)
class StructuralHint:
    """``hint`` (one of :data:`HINTS`) holds on ``cases`` informative cases; ``message`` says what was seen."""

    hint: str
    message: str
    cases: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _with(result: Result, **arrays: np.ndarray) -> Result:
    return Result.from_arrays({**result.arrays(), **arrays})


def _passes(judge: Judge, case: Case, got: Result, expected: Result) -> bool:
    npd = case.config.np_dtype
    with np.errstate(all="ignore"):
        return judge.compare(case, got.astype(npd), expected.astype(npd), check_oracle=False).passed


def _time_axis(case: Case) -> int:
    return 0 if case.config.time_major else 1


def _reversed_outputs(case: Case, got: Result, spec: Result) -> Result:
    return _with(spec, outputs=np.flip(spec.outputs, axis=_time_axis(case)).copy())


def _reversed_inputs(case: Case, got: Result, spec: Result) -> Result:
    flipped = case.with_arrays({"inputs": np.flip(case.inputs, axis=_time_axis(case)).copy()})
    return reference(flipped)


def _shifted(case: Case, got: Result, spec: Result) -> Result | None:
    if case.time < 2:
        return None
    out = spec.outputs.copy()
    if case.config.time_major:
        out[1:] = spec.outputs[:-1]
        out[0] = got.outputs[0]  # step 0's output is whatever the candidate wrote there
    else:
        out[:, 1:] = spec.outputs[:, :-1]
        out[:, 0] = got.outputs[:, 0]
    return _with(spec, outputs=out)


def _reset_every(case: Case, period: int) -> Result:
    """TF's result with the state set to zero before steps period, 2 * period, ..."""
    axis = _time_axis(case)
    pieces, state = [], None
    for start in range(0, case.time, period):
        part = case.slice_time(start, min(start + period, case.time))
        if start:
            part = part.with_initial_state(np.zeros_like(case.initial_state.c), np.zeros_like(case.initial_state.h))
        state = reference(part)
        pieces.append(state.outputs)
    assert state is not None
    return _with(state, outputs=np.concatenate(pieces, axis=axis))


def _single(case: Case) -> bool:
    return case.single_cell and case.sequence_length is None


def structural_hints(trials: Sequence[tuple[Case, Result]], executor: Executor, judge: Judge) -> tuple[StructuralHint, ...]:
    """Hints for the informative ``(case, got)`` pairs no variant explains (see the module docstring)."""
    usable = [(c, g) for c, g in trials if _single(c)]
    if not usable:
        return ()
    specs = [reference(c) for c, _ in usable]
    hints: list[StructuralHint] = []

    def holds(make: Callable[[Case, Result, Result], Result | None]) -> int:
        n = 0
        for (case, got), spec in zip(usable, specs):
            expected = make(case, got, spec)
            if expected is None:
                continue
            if not _passes(judge, case, got, expected):
                return 0
            n += 1
        return n

    for name, make, text in (
        ("outputs_reversed", _reversed_outputs, "the outputs are TF's in reverse time order (the list of step "
                                                "outputs reversed, or read from the wrong end)"),
        ("inputs_reversed", _reversed_inputs, "the candidate runs the sequence back to front: it matches TF on the "
                                              "time-reversed inputs"),
        ("outputs_shifted", _shifted, "output t is TF's output t - 1: the outputs are shifted by one step (the "
                                      "output collected before the step, or the state written one step late)"),
    ):
        n = holds(make)
        if n:
            hints.append(StructuralHint(name, text, n))
    if not hints:
        hints += _reset_hint(usable, specs, judge)
    if not hints:
        hints += _final_state_hint(usable, specs, judge)
    if not hints:
        hints += _rows_hint(usable, specs, executor, judge)
    if not hints:
        hints += _saturation_hint(usable, specs, judge)
    if not hints:
        hints += _approximation_hint(usable, specs, judge)
    return tuple(hints)


def _reset_hint(usable, specs, judge) -> list[StructuralHint]:
    longest = max(c.time for c, _ in usable)
    for period in range(1, longest):
        n = 0
        for (case, got), _spec in zip(usable, specs):
            if case.time <= period:
                continue
            if not _passes(judge, case, got, _reset_every(case, period)):
                n = 0
                break
            n += 1
        if n:
            return [StructuralHint("state_reset", f"the state is reset to zero every {period} steps (before steps "
                                                  f"{period}, {2 * period}, ...): fitted period {period}", n)]
    return []


def _final_state_hint(usable, specs, judge) -> list[StructuralHint]:
    found: set[int] = set()
    n = 0
    for (case, got), spec in zip(usable, specs):
        if not _passes(judge, case, _with(got, c=spec.c, h=spec.h), spec):
            return []  # the outputs are wrong too
        _, cells = reference_trace(case)
        outputs = spec.outputs if not case.config.time_major else spec.outputs.transpose(1, 0, 2)
        match = None
        for step in range(case.time - 1):
            expected = _with(spec, c=cells[:, step], h=outputs[:, step])
            if _passes(judge, case, got, expected):
                match = step
                break
        if match is None:
            return []
        found.add(case.time - 1 - match)
        n += 1
    if len(found) != 1:
        return []
    back = found.pop()
    return [StructuralHint("final_state_step", f"the outputs are right but the returned (c, h) is the state {back} "
                                               f"step(s) before the last: the state is not carried across a split of "
                                               f"the sequence", n)]


def _rows_hint(usable, specs, executor, judge) -> list[StructuralHint]:
    for case, _got in usable:
        if case.batch < 2:
            continue
        try:
            alone = [executor.run(case.slice_batch(slice(b, b + 1))) for b in range(case.batch)]
        except CandidateFault:
            return []
        if all(_passes(judge, case.slice_batch(slice(b, b + 1)), r, reference(case.slice_batch(slice(b, b + 1))))
               for b, r in enumerate(alone)):
            return [StructuralHint("rows_leak", f"each of the {case.batch} rows run alone matches TF, the rows run "
                                                f"together do not: rows of a batch leak into each other (a "
                                                f"reduction or normalisation over the batch axis, or shared state)",
                                   1)]
        return []
    return []


def _first_step(case: Case, got: Result) -> tuple[Case, Result, Result]:
    """The case cut to step 0, TF's result on it, and the candidate's step-0 outputs with TF's state
    (the candidate's state after step 0 is not known: only its outputs are judged)."""
    case0 = case.slice_time(0, 1)
    spec0 = reference(case0)
    got0 = _with(spec0, outputs=np.take(got.outputs, [0], axis=_time_axis(case)).astype(np.float64))
    return case0, spec0, got0


def _saturation_hint(usable, specs, judge) -> list[StructuralHint]:
    levels = []
    for (case, got), spec in zip(usable, specs):
        bound = float(np.max(np.abs(got.outputs.astype(np.float64))))
        if not float(np.max(np.abs(spec.outputs))) > 1.02 * bound:
            return []
        case0, spec0, got0 = _first_step(case, got)
        if not _passes(judge, case0, got0, _with(spec0, outputs=np.clip(spec0.outputs, -bound, bound))):
            return []
        levels.append(bound)
    return [StructuralHint("saturation", f"the outputs saturate at +-{max(levels):.4g} (TF's exceed it): a clip or "
                                         f"saturating stage on h; at the first step they are TF's clipped there",
                           len(levels))]


def _approximation_hint(usable, specs, judge) -> list[StructuralHint]:
    worst = 0.0
    for (case, got), spec in zip(usable, specs):
        scale = max(float(np.max(np.abs(spec.outputs))), 1e-12)
        case0, spec0, got0 = _first_step(case, got)
        if _passes(judge, case0, got0, spec0):
            return []  # right at the first step: a state or time mistake, not an activation
        rel = float(np.max(np.abs(got.outputs.astype(np.float64) - spec.outputs))) / scale
        if rel > APPROXIMATION_LIMIT:
            return []
        worst = max(worst, rel)
    return [StructuralHint("approximated_activation", f"consistent with an approximated activation: the error is "
                                                      f"beyond rounding from the first step and stays small (largest "
                                                      f"{worst:.2g} of the values' magnitude), as a tanh/sigmoid "
                                                      f"approximation makes", len(usable))]
