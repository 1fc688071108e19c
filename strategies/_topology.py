"""Stacked and bidirectional networks: the cells beyond the first (conformance.spec._topology).

Layers: 1, or 2-3 when stacked (shrinking toward fewer; a network in one case of four per feature
unless required); each cell draws its own units,
projection, peepholes, clips and forget bias (the first cell's dtype, activation and layout), its
own parameters and initial state.  Layer k's input size is layer k - 1's output width.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from conformance.spec import InitialState, LSTMConfig, LSTMLayer, LSTMParams, zero_state
from strategies._draw import Chooser

#: Features a further cell draws for itself (the network shares dtype, activation and layout).
_PER_CELL = frozenset({"forget_bias", "peepholes", "cell_clip", "projection", "proj_clip"})


def draw_topology(
    ch: Chooser,
    first: LSTMConfig,
    batch: int,
    *,
    config_spec: Any,
    stacked: bool,
    require_stacked: bool,
    bidirectional: bool,
    require_bidirectional: bool,
    initial_state: bool,
    draw_config: Callable[[Chooser, Any], LSTMConfig],
    draw_params: Callable[[Chooser, LSTMConfig], LSTMParams],
    draw_state: Callable[[Chooser, LSTMConfig, int], InitialState],
) -> tuple[tuple[LSTMLayer, ...], tuple[LSTMLayer, ...]]:
    """``(upper, backward)`` for a case whose first cell is ``first``; both empty for one forward layer."""
    # A network where allowed but not required in one case of four per feature: each (layers, direction)
    # pair is a graph of its own for the oracle, and most of a run is still spent on the cells themselves.
    layers = 1
    if require_stacked or (stacked and ch.integer(0, 3) == 3):
        layers = ch.integer(2, 3)
    backward_too = require_bidirectional or (bidirectional and ch.integer(0, 3) == 3)
    if layers == 1 and not backward_too:
        return (), ()

    def cell(input_size: int) -> LSTMLayer:
        spec = dataclasses.replace(config_spec, features=config_spec.features & _PER_CELL, dtypes=frozenset({first.dtype}),
                                   min_input_size=input_size, max_input_size=input_size, require=frozenset())
        cfg = draw_config(ch, spec).replace(activation=first.activation, time_major=first.time_major)
        state = draw_state(ch, cfg, batch) if initial_state and ch.boolean() else zero_state(cfg, batch)
        return LSTMLayer(cfg, draw_params(ch, cfg), state)

    upper: list[LSTMLayer] = []
    backward: list[LSTMLayer] = []
    width = first.output_size
    if backward_too:
        backward.append(cell(first.input_size))
        width += backward[0].config.output_size
    for _ in range(1, layers):
        upper.append(cell(width))
        if backward_too:
            backward.append(cell(width))
        width = upper[-1].config.output_size + (backward[-1].config.output_size if backward_too else 0)
    return tuple(upper), tuple(backward)
