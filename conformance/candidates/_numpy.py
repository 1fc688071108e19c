"""Built-in numpy candidates: a correct one, and the classic forget_bias mistake.

Both are written the way a user would write an LSTM by hand: a loop over time,
the gates split in TF's order i, j, f, o, computing in float32 (or wider) and
returning arrays in the case's dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from conformance.candidates._protocol import candidate
from conformance.spec import DTYPES, FEATURES, Case


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp overflow gives 1/inf = 0, the right limit (the candidates below run under errstate(all="ignore")).
    return 1.0 / (1.0 + np.exp(-x))


_ACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0.0),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
}


def _work_dtype(cfg) -> np.dtype:
    """float32 for the 16-bit dtypes and float32, float64 for float64: what a user's numpy code does."""
    return np.dtype(np.float64) if cfg.dtype == "float64" else np.dtype(np.float32)


def _run_cell(cfg, params, state, x: np.ndarray, lengths: np.ndarray | None, work: np.dtype):
    """One TF LSTMCell over x [B, T, I] (work dtype) under dynamic_rnn's row lengths: outputs [B, T, P], c, h."""
    npd = cfg.np_dtype
    p = {k: v.astype(work) for k, v in params.arrays().items()}
    kernel, bias = p["kernel"], p["bias"]
    act = _ACT[cfg.activation]
    c = state.c.astype(work)
    h = state.h.astype(work)
    B, T = x.shape[:2]
    H, I = cfg.num_units, cfg.input_size
    xh = np.empty((B, I + cfg.output_size), work)  # [x_t, h_{t-1}], refilled every step
    outputs = np.empty((B, T, cfg.output_size), work)
    for t in range(T):
        c_prev, h_prev = c, h
        xh[:, :I] = x[:, t]
        xh[:, I:] = h
        z = xh @ kernel
        z += bias
        z[:, 2 * H : 3 * H] += cfg.forget_bias
        if cfg.use_peepholes:
            z[:, :H] += p["w_i_diag"] * c
            z[:, 2 * H : 3 * H] += p["w_f_diag"] * c
        gates = _sigmoid(z)  # i, f and o in one call (j's sigmoid is not used)
        c = gates[:, 2 * H : 3 * H] * c + gates[:, :H] * act(z[:, H : 2 * H])
        if cfg.cell_clip is not None:
            c = np.minimum(np.maximum(c, -cfg.cell_clip), cfg.cell_clip)  # np.clip, without its overhead
        if cfg.use_peepholes:
            # The output gate peeks at the new cell state.
            h = _sigmoid(z[:, 3 * H :] + p["w_o_diag"] * c) * act(c)
        else:
            h = gates[:, 3 * H :] * act(c)
        if cfg.num_proj is not None:
            h = h @ p["proj_kernel"]
            if cfg.proj_clip is not None:
                h = np.minimum(np.maximum(h, -cfg.proj_clip), cfg.proj_clip)
        if npd != work:
            # Round the state to the case's dtype each step, as a native-precision LSTM would.
            c = c.astype(npd).astype(work)
            h = h.astype(npd).astype(work)
        if lengths is not None:
            # dynamic_rnn: past its length a row outputs zeros and keeps its state.
            active = (t < lengths)[:, None]
            c, h = np.where(active, c, c_prev), np.where(active, h, h_prev)
            outputs[:, t] = np.where(active, h, 0.0)
        else:
            outputs[:, t] = h
    return outputs, c, h


def _reverse_within_lengths(a: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """tf.reverse_sequence: row b's first lengths[b] steps reversed, its padding left in place."""
    out = a.copy()
    for b, n in enumerate(lengths):
        out[b, :n] = a[b, :n][::-1]
    return out


@candidate(name="numpy-reference", features=FEATURES, dtypes=DTYPES)
@np.errstate(all="ignore")  # overflow to inf/NaN is a result the harness judges, not a warning
def numpy_reference(case: Case):
    """A correct plain-numpy TF LSTMCell under dynamic_rnn: every option, every dtype, row lengths,
    time-major inputs, stacked (MultiRNNCell) and bidirectional layers (computes in float32 or wider)."""
    cfg = case.config
    work, npd = _work_dtype(cfg), cfg.np_dtype
    x = case.inputs.astype(work)
    if cfg.time_major:
        x = x.transpose(1, 0, 2)  # [T, B, I] -> [B, T, I]
    lengths = None if case.sequence_length is None else np.asarray(case.sequence_length)
    if case.single_cell:
        outputs, c, h = _run_cell(cfg, case.params, case.initial_state, x, lengths, work)
        if cfg.time_major:
            outputs = outputs.transpose(1, 0, 2)
        return outputs.astype(npd), (c.astype(npd), h.astype(npd))
    every_row = np.full(case.batch, case.time) if lengths is None else lengths
    layer_in, states = x, []
    cells = case.cells()
    for k in range(case.num_layers):
        fw, *bw = [cell for layer, _, cell in cells if layer == k]
        out_fw, c, h = _run_cell(fw.config, fw.params, fw.initial_state, layer_in, lengths, work)
        layer_states = [(c, h)]
        outs = [out_fw]
        if bw:
            # The backward cell reads each row reversed within its length; its outputs are turned back.
            out_bw, c, h = _run_cell(bw[0].config, bw[0].params, bw[0].initial_state,
                                     _reverse_within_lengths(layer_in, every_row), lengths, work)
            outs.append(_reverse_within_lengths(out_bw, every_row))
            layer_states.append((c, h))
        states.append(layer_states)
        layer_in = np.concatenate(outs, axis=2)  # the next layer reads concat([fw, bw])
    outs = [o.transpose(1, 0, 2) if cfg.time_major else o for o in outs]
    if not case.bidirectional:  # MultiRNNCell: (outputs, ((c1, h1), ..., (cK, hK)))
        return outs[0].astype(npd), tuple((c.astype(npd), h.astype(npd)) for [(c, h)] in states)
    # bidirectional: ((out_fw, out_bw), (((c, h)_fw, (c, h)_bw) for every layer))
    return (tuple(o.astype(npd) for o in outs),
            tuple(tuple((c.astype(npd), h.astype(npd)) for c, h in layer) for layer in states))


@candidate(name="seed-missing-forget-bias", features=[], dtypes=DTYPES)
@np.errstate(all="ignore")
def seed_missing_forget_bias(case: Case):
    """The classic port of TF's LSTMCell that forgets the run-time forget_bias (zero state, no options)."""
    cfg = case.config
    work = _work_dtype(cfg)
    W, b = case.params.kernel.astype(work), case.params.bias.astype(work)
    B, H = case.batch, cfg.num_units
    c = np.zeros((B, H), work)
    h = np.zeros((B, H), work)
    outputs = []
    for t in range(case.time):
        z = np.concatenate([case.inputs[:, t].astype(work), h], axis=1) @ W + b
        i, j, f, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(j)  # BUG: TF adds forget_bias to f here
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    npd = cfg.np_dtype
    return np.stack(outputs, axis=1).astype(npd), (c.astype(npd), h.astype(npd))
