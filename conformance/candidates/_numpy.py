"""Built-in numpy candidates: a correct one, and the classic forget_bias mistake.

Both are written the way a user would write an LSTM by hand: a loop over time,
the gates split in TF's order i, j, f, o, computing in float32 (or wider) and
returning arrays in the case's dtype.
"""

from __future__ import annotations

import numpy as np

from conformance._spec import DTYPES, Case
from conformance.candidates._protocol import candidate

def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp overflow gives 1/inf = 0, the right limit
        return 1.0 / (1.0 + np.exp(-x))


_ACT = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0.0),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
}


def _work_dtype(cfg) -> np.dtype:
    """float32 for the 16-bit dtypes and float32, float64 for float64: what a user's numpy code does."""
    return np.dtype(np.float64) if cfg.dtype == "float64" else np.dtype(np.float32)


@candidate(name="numpy-reference", dtypes=DTYPES)
@np.errstate(all="ignore")  # overflow to inf/NaN is a result the harness judges, not a warning
def numpy_reference(case: Case):
    """A correct plain-numpy TF LSTMCell: every option, every dtype (computes in float32 or wider)."""
    cfg = case.config
    work = _work_dtype(cfg)
    p = {k: v.astype(work) for k, v in case.params.arrays().items()}
    act = _ACT[cfg.activation]
    c = case.initial_state.c.astype(work)
    h = case.initial_state.h.astype(work)
    outputs = []
    for t in range(case.time):
        x = case.inputs[:, t].astype(work)
        z = np.concatenate([x, h], axis=1) @ p["kernel"] + p["bias"]
        i, j, f, o = np.split(z, 4, axis=1)
        if cfg.use_peepholes:
            f = f + p["w_f_diag"] * c
            i = i + p["w_i_diag"] * c
        c = _sigmoid(f + cfg.forget_bias) * c + _sigmoid(i) * act(j)
        if cfg.cell_clip is not None:
            c = np.clip(c, -cfg.cell_clip, cfg.cell_clip)
        if cfg.use_peepholes:
            o = o + p["w_o_diag"] * c  # the output gate peeks at the new cell state
        h = _sigmoid(o) * act(c)
        if cfg.num_proj is not None:
            h = h @ p["proj_kernel"]
            if cfg.proj_clip is not None:
                h = np.clip(h, -cfg.proj_clip, cfg.proj_clip)
        # Round the state to the case's dtype each step, as a native-precision LSTM would.
        c = c.astype(cfg.np_dtype).astype(work)
        h = h.astype(cfg.np_dtype).astype(work)
        outputs.append(h)
    npd = cfg.np_dtype
    return np.stack(outputs, axis=1).astype(npd), (c.astype(npd), h.astype(npd))


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
        i, j, f, o = np.split(z, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(j)  # BUG: TF adds forget_bias to f here
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    npd = cfg.np_dtype
    return np.stack(outputs, axis=1).astype(npd), (c.astype(npd), h.astype(npd))
