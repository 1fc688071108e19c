"""The executable spec: TF ``LSTMCell`` semantics (DESIGN.md section 1) in float64 numpy.

This is what "correct" means when the oracle and a candidate disagree with each
other; it is checked against the TF oracle by property tests over the whole
option space (tests/test_spec_vs_oracle.py).
"""

from __future__ import annotations

import numpy as np

from conformance._spec import Case, Result


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a large positive argument overflows to inf and 1/inf == 0: the right limit.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def softsign(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.abs(x))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


#: Cell activations by the names of :data:`conformance.ACTIVATIONS`.
ACTIVATION_FUNCTIONS = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": relu, "softsign": softsign}


def _in_dtype(value: float | None, cfg) -> float | None:
    return None if value is None else float(np.asarray(value, dtype=cfg.np_dtype).astype(np.float64))


def reference_trace(case: Case, noise: tuple[np.random.Generator, float] | None = None) -> tuple[Result, np.ndarray]:
    """Run ``case`` in float64; return the Result and the cell state of every step [B, T, H].

    ``noise=(rng, u)`` multiplies every pre-activation and every new state by
    ``1 + u * r`` with ``r`` uniform in [-1, 1]: a model of rounding to a dtype
    whose unit roundoff is ``u`` (used to measure how sensitive a case is).
    """

    def jitter(a: np.ndarray) -> np.ndarray:
        if noise is None:
            return a
        rng, u = noise
        return a * (1.0 + u * rng.uniform(-1.0, 1.0, size=a.shape))
    cfg = case.config
    p = {k: v.astype(np.float64) for k, v in case.params.arrays().items()}
    x = case.inputs.astype(np.float64)
    c = case.initial_state.c.astype(np.float64)
    m = case.initial_state.h.astype(np.float64)
    act = ACTIVATION_FUNCTIONS[cfg.activation]
    # TF converts the Python floats forget_bias/cell_clip/proj_clip to the cell's dtype.
    fb = _in_dtype(cfg.forget_bias, cfg)
    cell_clip = _in_dtype(cfg.cell_clip, cfg)
    proj_clip = _in_dtype(cfg.proj_clip, cfg)
    B, T, _ = x.shape
    H, P = cfg.num_units, cfg.output_size
    outputs = np.empty((B, T, P))
    cells = np.empty((B, T, H))
    for t in range(T):
        z = jitter(np.concatenate([x[:, t], m], axis=1) @ p["kernel"] + p["bias"])
        i, j, f, o = np.split(z, 4, axis=1)
        if cfg.use_peepholes:
            c_new = (sigmoid(f + fb + p["w_f_diag"] * c) * c
                     + sigmoid(i + p["w_i_diag"] * c) * act(j))
        else:
            c_new = sigmoid(f + fb) * c + sigmoid(i) * act(j)
        c_new = jitter(c_new)
        if cell_clip is not None:
            c_new = np.clip(c_new, -cell_clip, cell_clip)
        # The output peephole sees the new (clipped) cell state.
        if cfg.use_peepholes:
            m = sigmoid(o + p["w_o_diag"] * c_new) * act(c_new)
        else:
            m = sigmoid(o) * act(c_new)
        m = jitter(m)
        if cfg.num_proj is not None:
            m = jitter(m @ p["proj_kernel"])
            if proj_clip is not None:
                m = np.clip(m, -proj_clip, proj_clip)
        c = c_new
        outputs[:, t] = m
        cells[:, t] = c
    return Result(outputs=outputs, c=c, h=m), cells


def reference(case: Case) -> Result:
    """TF LSTMCell semantics in float64: outputs [B, T, P], final c [B, H], h [B, P]."""
    return reference_trace(case)[0]


def reference_noisy(case: Case, noise: tuple[np.random.Generator, float] | None) -> Result:
    """:func:`reference`, optionally with rounding noise (see :func:`reference_trace`)."""
    return reference_trace(case, noise)[0]
