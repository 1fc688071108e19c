"""The executable spec of a network of cells: TF's ``MultiRNNCell``, ``bidirectional_dynamic_rnn`` and
``stack_bidirectional_dynamic_rnn`` composed from the one-cell loop (conformance.spec._reference).

* A forward stack feeds layer k the outputs of layer k - 1 (``MultiRNNCell``: one recurrence per
  layer, the same step; with row lengths every layer stops at the row's end).
* A bidirectional layer runs its backward cell on each row reversed within its own length
  (``reverse_sequence``), with the same lengths, and reverses the outputs back the same way; its
  final state is the one after the backward pass's last valid step.
* A stack of bidirectional layers feeds layer k ``concat([out_fw, out_bw], -1)`` of layer k - 1.

The network knobs of :class:`~conformance.spec._semantics.Semantics` (``bw_outputs``, ``bw_reverse``,
``concat_order``, ``layer_input``, ``initial_state_order``, ``bw_weights``, ``upper_input``) describe
the mistakes ports make; every cell-level knob applies to every cell.
"""

from __future__ import annotations

import numpy as np

from conformance.spec._case import Case, Result
from conformance.spec._params import InitialState
from conformance.spec._reference import cell_trace
from conformance.spec._semantics import Semantics
from conformance.spec._topology import BACKWARD, FORWARD, cell_prefix


def reverse_rows(a: np.ndarray, lengths: np.ndarray | None, *, whole: bool = False) -> np.ndarray:
    """``a`` [B, T, ...] with each row's first ``lengths[b]`` steps reversed (``tf.reverse_sequence``), the
    padding left in place; the whole time axis when ``whole`` or without lengths."""
    B, T = a.shape[:2]
    if whole or lengths is None:
        return a[:, ::-1]
    t = np.arange(T)[None, :]
    L = lengths[:, None]
    return a[np.arange(B)[:, None], np.where(t < L, L - 1 - t, t)]


def _states(case: Case, s: Semantics) -> dict[tuple[int, str], InitialState]:
    """Each cell's initial state, as the knobs read them (``initial_state_order``)."""
    cells = case.cells()
    states = {(k, d): cell.initial_state for k, d, cell in cells}
    if s.initial_state_order == "direction_major" and case.bidirectional and case.num_layers > 1:
        # The states are stored layer by layer, (fw, bw) within a layer; read in the other order.
        layer_major = [(k, d) for k, d, _ in cells]
        direction_major = sorted(layer_major, key=lambda kd: (kd[1] != FORWARD, kd[0]))
        states = {want: states[got] for want, got in zip(layer_major, direction_major)}
    return states


def network_trace(case: Case, s: Semantics, noise: tuple[np.random.Generator, float] | None,
                  gate_rounding: bool) -> tuple[Result, np.ndarray]:
    """The Result of a stacked and/or bidirectional case, and the first cell's per-step cell state [B, T, H]."""
    lengths = None if case.sequence_length is None else case.lengths()
    whole = s.bw_reverse == "whole"
    cells = {(k, d): cell for k, d, cell in case.cells()}
    states = _states(case, s)
    directions = (FORWARD, BACKWARD) if case.bidirectional else (FORWARD,)
    layer_in = case.batch_major_inputs.astype(np.float64)
    finals: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
    first_cells = np.empty(0)
    outs: dict[str, np.ndarray] = {}
    for k in range(case.num_layers):
        outs, carried = {}, {}
        for d in directions:
            cell = cells[(k, FORWARD)] if d == BACKWARD and s.bw_weights == "forward" else cells[(k, d)]
            x = layer_in if d == FORWARD else reverse_rows(layer_in, lengths, whole=whole)
            o, per_step, c, m = cell_trace(cell.config, cell.params, states[(k, d)], x, lengths, s,
                                           noise, gate_rounding)
            if d == BACKWARD and s.bw_outputs == "rereversed":
                o, per_step = reverse_rows(o, lengths, whole=whole), reverse_rows(per_step, lengths, whole=whole)
            outs[d], carried[d], finals[(k, d)] = o, per_step, (c, m)
            if (k, d) == (0, FORWARD):
                first_cells = per_step
        if k + 1 < case.num_layers:
            layer_in = _next_input(outs, carried, lengths, s, case.time)
    result = {"outputs": outs[FORWARD]}
    if case.bidirectional:
        result["outputs_bw"] = outs[BACKWARD]
    for (k, d), (c, m) in finals.items():
        first, second = (m, c) if s.final_state == "hc" else (c, m)
        result[cell_prefix(k, d) + "c"], result[cell_prefix(k, d) + "h"] = first, second
    return Result.from_arrays(result), first_cells


def _next_input(outs: dict[str, np.ndarray], carried: dict[str, np.ndarray], lengths: np.ndarray | None,
                s: Semantics, time: int) -> np.ndarray:
    """What layer k + 1 is fed: [B, T, P_fw (+ P_bw)] from layer k's outputs (or cell states, ``layer_input``)."""
    parts = dict(outs)
    if s.layer_input == "c":
        # The cell state where the output belongs: zeros past each row's end, as the outputs are.
        padded = np.zeros((1, time), dtype=bool) if lengths is None else np.arange(time)[None, :] >= lengths[:, None]
        parts = {d: np.where(padded[:, :, None], 0.0, c) for d, c in carried.items()}
    if BACKWARD in parts and s.upper_input == "forward_only":
        parts[BACKWARD] = np.zeros_like(parts[BACKWARD])
    order = [FORWARD, BACKWARD] if s.concat_order == "fw_bw" else [BACKWARD, FORWARD]
    return np.concatenate([parts[d] for d in order if d in parts], axis=-1)
