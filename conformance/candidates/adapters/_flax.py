"""Flax NNX: ``nnx.LSTMCell`` and ``nnx.OptimizedLSTMCell``, scanned over time by ``nnx.RNN``.

Mapping (docs/mapping.md): Flax gates are i, f, g, o (g = TF's j); the carry is ``(c, h)``.

* ``OptimizedLSTMCell``: ``dense_i.kernel`` [I, 4H] and ``dense_h.kernel`` [H, 4H] are
  the canonical input and recurrent kernel blocks reordered; ``dense_h.bias`` [4H]
  holds the bias with ``forget_bias`` folded into f.
* ``LSTMCell``: one Linear per gate: ``ii``/``if_``/``ig``/``io`` kernels [I, H] (no bias)
  and ``hi``/``hf``/``hg``/``ho`` kernels [H, H] with the per-gate bias [H].

``activation_fn`` is the cell activation; ``gate_fn`` stays sigmoid.  No peepholes,
clipping or projection.  JAX runs with 64-bit types enabled so float64 is float64.

Sequence lengths and layout (docs/mapping.md): ``nnx.RNN.__call__`` takes ``seq_lengths``
([B] ints) and ``time_major``; both are passed as they are.  Flax's contract for
``seq_lengths`` (flax 0.12.8, ``flax/nnx/nn/recurrent.py``): the scan runs every row over
all T steps, and only the returned *carry* is gathered at step ``L[b] - 1``
(``_select_last_carry``); the outputs past a row's end are whatever the cell computed on
the padding (not zeros), and a row of length 0 gathers index -1, the carry after step
T - 1.  The adapter does not patch either; the harness reports them.

Networks (docs/mapping.md, "Stacked and bidirectional networks"): one ``nnx.RNN`` per layer,
chained in one jitted function; a bidirectional layer is ``nnx.Bidirectional(forward_rnn,
backward_rnn)`` with its default ``merge_fn`` (concatenation, forward first) and
``initial_carry=((c_fw, h_fw), (c_bw, h_bw))``; its backward RNN flips each row within
``seq_lengths`` (``flip_sequences``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.candidates import candidate
from conformance.candidates.adapters._jax import activation, import_jax
from conformance.candidates.adapters._layout import (
    FLAX_ORDER,
    BoundedCache,
    cell_view,
    check_computed_dtype,
    finish,
    folded_bias,
    gate_blocks,
    network_result,
    reorder_gates,
    split_kernel,
)
from conformance.spec import DTYPES, Case

FEATURES = ["forget_bias", "initial_state", "activation", "sequence_length", "time_major", "stacked",
            "bidirectional"]
UNSUPPORTED = {
    "peepholes": "Flax's LSTM cells have no peephole connections",
    "cell_clip": "Flax's LSTM cells have no cell-state clipping",
    "projection": "Flax's LSTM cells have no projection",
    "proj_clip": "Flax's LSTM cells have no projection",
}
_built = BoundedCache()

#: nnx.LSTMCell's per-gate Linear names: (input side, recurrent side) by TF gate name.
_LSTMCELL_LINEARS = {"i": ("ii", "hi"), "f": ("if_", "hf"), "j": ("ig", "hg"), "o": ("io", "ho")}


def _build(case: Case, cell_class: str) -> tuple[Any, Any]:
    """An ``nnx.RNN`` over the cell, and a jitted ``run(state, x, c0, h0, seq_lengths) -> ((c, h), outputs)``
    (``seq_lengths`` None or int [B]; the RNN is time-major when the case is)."""
    jax = import_jax()
    from flax import nnx

    cfg = case.config
    cls = getattr(nnx, cell_class)
    # Zero initialisers: the weights are overwritten, and the orthogonal default (a QR) has no bfloat16 kernel.
    zeros = nnx.initializers.zeros
    cell = cls(cfg.input_size, cfg.num_units, activation_fn=activation(cfg.activation), dtype=cfg.dtype,
               param_dtype=cfg.dtype, kernel_init=zeros, recurrent_kernel_init=zeros, rngs=nnx.Rngs(0))
    rnn = nnx.RNN(cell, return_carry=True, time_major=cfg.time_major)  # [B, T, I], or [T, B, I] time-major
    graphdef, _ = nnx.split(rnn)

    def run(state, x, c0, h0, seq_lengths):
        return nnx.merge(graphdef, state)(x, initial_carry=(c0, h0), seq_lengths=seq_lengths)

    return rnn, jax.jit(run)


def _set_params(cell: Any, case: Case, cell_class: str) -> None:
    jnp = import_jax().numpy
    H = case.config.num_units
    kx, kh = split_kernel(case)
    put = lambda param, a: param.set_value(jnp.asarray(a))
    if cell_class == "OptimizedLSTMCell":
        put(cell.dense_i.kernel, reorder_gates(kx, H, FLAX_ORDER))
        put(cell.dense_h.kernel, reorder_gates(kh, H, FLAX_ORDER))
        put(cell.dense_h.bias, folded_bias(case, FLAX_ORDER))
        return
    bias = gate_blocks(folded_bias(case), H)
    kx_blocks, kh_blocks = gate_blocks(kx, H), gate_blocks(kh, H)
    for gate, (input_name, recurrent_name) in _LSTMCELL_LINEARS.items():
        put(getattr(cell, input_name).kernel, kx_blocks[gate])
        recurrent = getattr(cell, recurrent_name)
        put(recurrent.kernel, kh_blocks[gate])
        put(recurrent.bias, bias[gate])


def _run(case: Case, cell_class: str):
    if not case.single_cell:
        return _run_network(case, cell_class)
    jax = import_jax()
    from flax import nnx

    cfg = case.config
    rnn, run = _built.get((cell_class, cfg.input_size, cfg.num_units, cfg.activation, cfg.dtype, cfg.time_major),
                          lambda: _build(case, cell_class))
    _set_params(rnn.cell, case, cell_class)
    jnp = jax.numpy
    lengths = None if case.sequence_length is None else jnp.asarray(case.sequence_length)
    (c, h), outputs = run(nnx.state(rnn), jnp.asarray(case.inputs), jnp.asarray(case.initial_state.c),
                          jnp.asarray(case.initial_state.h), lengths)
    check_computed_dtype(case, outputs.dtype.name)
    return finish(case, np.asarray(outputs), np.asarray(c), np.asarray(h))


def _build_network(case: Case, cell_class: str) -> tuple[list[Any], Any]:
    """Per layer an ``nnx.RNN`` over the layer's cell, or ``nnx.Bidirectional(forward_rnn, backward_rnn)``
    (default ``merge_fn``: the two outputs concatenated, forward first); and a jitted
    ``run(states, x, carries, seq_lengths) -> [(carry, outputs) per layer]`` feeding each layer the
    previous one's (merged) outputs."""
    jax = import_jax()
    from flax import nnx

    cfg = case.config
    cls = getattr(nnx, cell_class)
    zeros = nnx.initializers.zeros
    layers, width = [], cfg.input_size
    for k in range(case.num_layers):
        cells = [cell for level, _, cell in case.cells() if level == k]
        rnns = [nnx.RNN(cls(width, cell.config.num_units, activation_fn=activation(cfg.activation), dtype=cfg.dtype,
                            param_dtype=cfg.dtype, kernel_init=zeros, recurrent_kernel_init=zeros, rngs=nnx.Rngs(0)),
                        return_carry=True, time_major=cfg.time_major) for cell in cells]
        layers.append(nnx.Bidirectional(rnns[0], rnns[1], return_carry=True, time_major=cfg.time_major)
                      if case.bidirectional else rnns[0])
        width = sum(cell.config.num_units for cell in cells)
    graphdefs = [nnx.split(layer)[0] for layer in layers]

    def run(states, x, carries, seq_lengths):
        results = []
        for graphdef, state, carry in zip(graphdefs, states, carries):
            carry, x = nnx.merge(graphdef, state)(x, initial_carry=carry, seq_lengths=seq_lengths)
            results.append((carry, x))
        return results

    return layers, jax.jit(run)


def _run_network(case: Case, cell_class: str):
    jax = import_jax()
    from flax import nnx

    cfg = case.config
    key = (cell_class, cfg.input_size, cfg.activation, cfg.dtype, cfg.time_major, case.bidirectional,
           tuple(cell.config.num_units for _, _, cell in case.cells()))
    layers, run = _built.get(("network",) + key, lambda: _build_network(case, cell_class))
    jnp = jax.numpy
    carries = []
    for k, layer in enumerate(layers):
        cells = [cell for level, _, cell in case.cells() if level == k]
        rnns = [layer.forward_rnn, layer.backward_rnn] if case.bidirectional else [layer]
        for rnn, cell in zip(rnns, cells):
            _set_params(rnn.cell, cell_view(case, cell), cell_class)
        pairs = [(jnp.asarray(cell.initial_state.c), jnp.asarray(cell.initial_state.h)) for cell in cells]
        carries.append(tuple(pairs) if case.bidirectional else pairs[0])
    lengths = None if case.sequence_length is None else jnp.asarray(case.sequence_length)
    results = run([nnx.state(layer) for layer in layers], jnp.asarray(case.inputs), carries, lengths)
    outputs = results[-1][1]
    check_computed_dtype(case, outputs.dtype.name)
    states = []
    for carry, _ in results:
        for c, h in (carry if case.bidirectional else (carry,)):
            states.append((np.asarray(c), np.asarray(h)))
    top = np.asarray(outputs)
    if not case.bidirectional:
        return network_result(case, top, states)
    P = case.cells()[-2][2].config.output_size  # the top forward cell's width: the first half of the concat
    return network_result(case, (top[..., :P], top[..., P:]), states)


@candidate(features=FEATURES, dtypes=DTYPES, unsupported=UNSUPPORTED)
def flax_lstmcell(case: Case):
    """Flax nnx.LSTMCell (one Linear per gate) scanned by nnx.RNN, jitted, on CPU."""
    return _run(case, "LSTMCell")


@candidate(features=FEATURES, dtypes=DTYPES, unsupported=UNSUPPORTED)
def flax_optimized_lstmcell(case: Case):
    """Flax nnx.OptimizedLSTMCell (fused gate kernels) scanned by nnx.RNN, jitted, on CPU."""
    return _run(case, "OptimizedLSTMCell")
