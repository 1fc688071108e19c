"""Hand-written LSTM cells that go wrong only above a size threshold, as real kernels do (issue 19).

:func:`cell` is TF's LSTMCell written out plainly (one cell, every cell option, computed in float32, or
float64 for float64, the state rounded to the case's dtype every step, as ``numpy-reference`` does);
each wrong candidate below is that cell with one threshold mistake of the kind real kernels make.
The thresholds are this file's own (between 8 and 512, not the tail's boundary sizes):

* ``tile_remainder``: units are computed in tiles of TILE = 40; the tiles past the first read the first
  tile's bias (a remainder-tile indexing mistake): wrong once units > 40;
* ``split_batch``: rows from SPLIT = 12 on go to a second worker that leaves out the bias: wrong once
  batch > 12;
* ``input_buffer``: the input is copied into a fixed buffer of width WIDTH = 100, so columns past it are
  never read: wrong once input_size > 100;
* ``state_ring``: the state lives in a ring buffer of RING = 200 slots whose wrap-around hands step 200
  the initial state instead of step 199's: wrong from step 200 on (T > 200).

Shapes: inputs [B, T, I]; kernel [I + P, 4H] in gate order i, j, f, o; bias [4H]; outputs [B, T, P];
returned state (c [B, H], h [B, P]).
"""

from __future__ import annotations

import numpy as np

from conformance import DTYPES, candidate

#: The cell options these candidates support (one cell, full-length batch-major rows).
FEATURES = ("forget_bias", "activation", "peepholes", "cell_clip", "projection", "proj_clip", "initial_state")
TILE, SPLIT, WIDTH, RING = 40, 12, 100, 200


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


_ACTS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda a: np.maximum(a, 0.0),
         "softsign": lambda a: a / (1.0 + np.abs(a))}


def cell(case, *, bias_of=None, rows_without_bias: int | None = None, input_width: int | None = None,
         ring: int | None = None):
    """TF's LSTMCell over ``case`` with at most one of the threshold mistakes above switched on."""
    cfg = case.config
    work = np.float64 if cfg.dtype == "float64" else np.float32
    npd = cfg.np_dtype
    p = {k: v.astype(work) for k, v in case.params.arrays().items()}
    H, I, P = cfg.num_units, cfg.input_size, cfg.output_size
    kernel, bias = p["kernel"], p["bias"]
    if bias_of is not None:
        bias = bias[bias_of(H)]
    x = case.inputs.astype(work)
    if input_width is not None and I > input_width:
        x = x.copy()
        x[:, :, input_width:] = 0.0  # the columns that did not fit the buffer are never read
    act = _ACTS[cfg.activation]
    c0, h0 = case.initial_state.c.astype(work), case.initial_state.h.astype(work)
    c, h = c0, h0
    B, T = x.shape[:2]
    outputs = np.empty((B, T, P), work)
    with np.errstate(all="ignore"):
        for t in range(T):
            if ring is not None and t == ring:
                c, h = c0, h0  # the wrap-around reads the slot the initial state was written to
            z = np.concatenate([x[:, t], h], axis=1) @ kernel
            if rows_without_bias is not None and B > rows_without_bias:
                z[:rows_without_bias] += bias
            else:
                z += bias
            i, j, f, o = (z[:, g * H:(g + 1) * H] for g in range(4))
            f = f + cfg.forget_bias
            if cfg.use_peepholes:
                i = i + p["w_i_diag"] * c
                f = f + p["w_f_diag"] * c
            c = _sigmoid(f) * c + _sigmoid(i) * act(j)
            if cfg.cell_clip is not None:
                c = np.clip(c, -cfg.cell_clip, cfg.cell_clip)
            if cfg.use_peepholes:
                o = o + p["w_o_diag"] * c
            h = _sigmoid(o) * act(c)
            if cfg.num_proj is not None:
                h = h @ p["proj_kernel"]
                if cfg.proj_clip is not None:
                    h = np.clip(h, -cfg.proj_clip, cfg.proj_clip)
            if npd != work:
                c, h = c.astype(npd).astype(work), h.astype(npd).astype(work)
            outputs[:, t] = h
    return outputs.astype(npd), (c.astype(npd), h.astype(npd))


def _first_tile_bias(H: int, tile: int = TILE) -> np.ndarray:
    """Indices into bias [4H]: unit u of every gate reads unit u % tile's bias."""
    return np.array([g * H + u % tile for g in range(4) for u in range(H)])


@candidate(name="threshold-correct", features=FEATURES, dtypes=DTYPES)
def correct(case):
    """The plain cell with no mistake (these tests' control)."""
    return cell(case)


@candidate(name="threshold-tile-remainder", features=FEATURES, dtypes=DTYPES)
def tile_remainder(case):
    """Units past the first tile of 40 read the first tile's bias."""
    return cell(case, bias_of=_first_tile_bias)


@candidate(name="threshold-split-batch", features=FEATURES, dtypes=DTYPES)
def split_batch(case):
    """Rows from 12 on (a second worker's) get no bias."""
    return cell(case, rows_without_bias=SPLIT)


@candidate(name="threshold-input-buffer", features=FEATURES, dtypes=DTYPES)
def input_buffer(case):
    """Input columns past a fixed buffer of width 100 are never read."""
    return cell(case, input_width=WIDTH)


@candidate(name="threshold-state-ring", features=FEATURES, dtypes=DTYPES)
def state_ring(case):
    """The state's ring buffer of 200 slots hands step 200 the initial state."""
    return cell(case, ring=RING)


@candidate(name="threshold-tile-remainder-declared", features=FEATURES, dtypes=DTYPES, max_units=TILE)
def tile_remainder_declared(case):
    """The tile mistake, with max_units=40 declared: runs never give it a case it gets wrong."""
    return cell(case, bias_of=_first_tile_bias)


@candidate(name="threshold-split-batch-declared", features=FEATURES, dtypes=DTYPES, max_batch=SPLIT)
def split_batch_declared(case):
    """The split-batch mistake, with max_batch=12 declared."""
    return cell(case, rows_without_bias=SPLIT)


def with_threshold(name: str, threshold: int):
    """The mistake ``name`` (a key of :data:`MISTAKES`) at another threshold: wrong once its axis' size
    exceeds ``threshold`` (for ``state_ring``: from step ``threshold`` on, so once T > threshold)."""
    kwargs = {"tile_remainder": {"bias_of": lambda H: _first_tile_bias(H, threshold)},
              "split_batch": {"rows_without_bias": threshold},
              "input_buffer": {"input_width": threshold},
              "state_ring": {"ring": threshold}}[name]

    @candidate(name=f"threshold-{name.replace('_', '-')}-{threshold}", features=FEATURES, dtypes=DTYPES)
    def wrong(case):
        return cell(case, **kwargs)

    wrong.__doc__ = f"{name} with its threshold at {threshold}."
    return wrong


#: Each mistake: (candidate, the size attribute it needs, the smallest size that shows it).
MISTAKES = {
    "tile_remainder": (tile_remainder, "units", TILE + 1),
    "split_batch": (split_batch, "batch", SPLIT + 1),
    "input_buffer": (input_buffer, "input_size", WIDTH + 1),
    "state_ring": (state_ring, "time", RING + 1),
}
