"""Stacked and bidirectional networks: the cells beyond the first, and how their arrays are named.

A case is one forward cell (``case.config``, ``case.params``, ``case.initial_state``: layer 1,
forward) plus, for a stack, the forward cells of layers 2..K (``case.upper``) and, for a
bidirectional network, the backward cell of every layer (``case.backward``).  TF's semantics
(``tf.compat.v1.nn``): ``MultiRNNCell`` feeds layer k the output of layer k - 1;
``bidirectional_dynamic_rnn`` runs the backward cell on each row reversed within its own
length and reverses its outputs back; ``stack_bidirectional_dynamic_rnn`` feeds layer k
``concat([out_fw, out_bw], -1)`` of layer k - 1.

Names: the first cell's arrays keep their single-cell names (``kernel``, ``c0``, ... and the
results ``outputs``, ``c``, ``h``); every other cell's are prefixed with its place,
``layer2/kernel``, ``bw/c0``, ``layer2_bw/c`` (layers counted from 1).  The backward outputs of the
top layer are ``outputs_bw``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.spec._config import PARAM_NAMES, LSTMConfig
from conformance.spec._errors import InvalidArgument
from conformance.spec._params import InitialState, LSTMParams

FORWARD, BACKWARD = "forward", "backward"


@dataclasses.dataclass(frozen=True)
class LSTMLayer:
    """One cell of a network: its config, canonical parameters and initial state (c [B, H], h [B, P])."""

    config: LSTMConfig
    params: LSTMParams
    initial_state: InitialState


def cell_prefix(layer: int, direction: str) -> str:
    """The name prefix of the cell at ``layer`` (0-based) and ``direction``: "" for the first cell."""
    if layer == 0 and direction == FORWARD:
        return ""
    if layer == 0:
        return "bw/"
    return f"layer{layer + 1}/" if direction == FORWARD else f"layer{layer + 1}_bw/"


def cell_label(layer: int, direction: str) -> str:
    """"layer 2 backward" (layers counted from 1)."""
    return f"layer {layer + 1} {direction}"


def label_of(name: str) -> str:
    """The cell an array name belongs to, in words ("layer 1 forward" for an unprefixed name)."""
    prefix, _, _ = name.rpartition("/")
    if not prefix:
        return cell_label(0, FORWARD)
    if prefix == "bw":
        return cell_label(0, BACKWARD)
    layer, _, bw = prefix.removeprefix("layer").partition("_")
    return cell_label(int(layer) - 1, BACKWARD if bw else FORWARD)


def check_topology(first: LSTMConfig, upper: tuple[LSTMLayer, ...], backward: tuple[LSTMLayer, ...]) -> None:
    """InvalidArgument unless the cells chain: one dtype, activation and layout; layer k's input size is
    the output size of layer k - 1 (forward plus backward when bidirectional); a backward cell per layer."""
    layers = 1 + len(upper)
    if backward and len(backward) != layers:
        raise InvalidArgument(f"backward has {len(backward)} cells for {layers} layers (one per layer, or none)")
    forward = [first] + [cell.config for cell in upper]
    for k, cell in enumerate(list(upper) + list(backward)):
        if not isinstance(cell, LSTMLayer):
            raise InvalidArgument(f"upper/backward cell {k} is a {type(cell).__name__}, not an LSTMLayer")
    for k in range(layers):
        for direction, cfg in ((FORWARD, forward[k]), (BACKWARD, backward[k].config if backward else None)):
            if cfg is None:
                continue
            where = cell_label(k, direction)
            for field in ("dtype", "activation", "time_major"):
                if getattr(cfg, field) != getattr(first, field):
                    raise InvalidArgument(f"{where}: {field}={getattr(cfg, field)!r} differs from layer 1's "
                                          f"{getattr(first, field)!r} (one {field} for the whole network)")
            want = first.input_size if k == 0 else (
                forward[k - 1].output_size + (backward[k - 1].config.output_size if backward else 0))
            if cfg.input_size != want:
                raise InvalidArgument(f"{where}: input_size={cfg.input_size} but layer {k} gives it {want} inputs"
                                      if k else f"{where}: input_size={cfg.input_size}, expected {want}")


def rows_of(state: Any, rows: Any) -> InitialState:
    return InitialState(np.ascontiguousarray(state.c[rows]), np.ascontiguousarray(state.h[rows]))


def cell_with_arrays(cell: LSTMLayer, prefix: str, arrays: Mapping[str, np.ndarray]) -> LSTMLayer:
    mine = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix) and "/" not in k[len(prefix):]}
    if not mine:
        return cell
    params = cell.params.replace(**{k: v for k, v in mine.items() if k in PARAM_NAMES})
    state = InitialState(c=mine.get("c0", cell.initial_state.c), h=mine.get("h0", cell.initial_state.h))
    return LSTMLayer(cell.config, params, state)


def cell_astype(cell: LSTMLayer, dtype: str) -> LSTMLayer:
    npd = cell.config.replace(dtype=dtype).np_dtype
    state = cell.initial_state
    return LSTMLayer(cell.config.replace(dtype=dtype),
                     LSTMParams(**{k: v.astype(npd) for k, v in cell.params.arrays().items()}),
                     InitialState(state.c.astype(npd), state.h.astype(npd)))


def cell_from_arrays(config: LSTMConfig, prefix: str, arr: Mapping[str, np.ndarray], source: str) -> LSTMLayer:
    missing = [prefix + k for k in ("c0", "h0", "kernel", "bias") if prefix + k not in arr]
    if missing:
        raise InvalidArgument(f"{source}: missing array(s) {', '.join(missing)}")
    params = LSTMParams(**{k: arr[prefix + k] for k in PARAM_NAMES if prefix + k in arr})
    return LSTMLayer(config, params, InitialState(arr[prefix + "c0"], arr[prefix + "h0"]))
