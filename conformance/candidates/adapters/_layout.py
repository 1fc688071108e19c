"""Converting the canonical TF layout into other libraries' layouts (numpy only).

Canonical (TF ``LSTMCell``): kernel [I + P, 4H] acting on ``concat([x_t, h_{t-1}])``,
column blocks in gate order **i, j, f, o** (j is the candidate cell value that
other libraries call c or g); bias [4H] in the same order; ``forget_bias`` added
at run time.  Libraries differ in gate order (Keras/torch/Flax: i, f, j, o; ONNX:
i, o, f, j), in whether the kernel is split into input and recurrent parts and
transposed, and in having no run-time forget bias (it is folded into the bias).
Every adapter goes through these helpers, so a layout mistake is made once or
not at all.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from conformance.spec import GATE_ORDER, Case

#: Gate orders of other libraries, as strings of TF gate names (j = candidate cell value).
KERAS_ORDER = "ifjo"  # Keras 3, tf-keras: i, f, c, o
TORCH_ORDER = "ifjo"  # torch: i, f, g, o
FLAX_ORDER = "ifjo"  # Flax: i, f, g, o
ONNX_ORDER = "iofj"  # ONNX: i, o, f, c


def gate_blocks(array: np.ndarray, units: int) -> dict[str, np.ndarray]:
    """Split the last axis ([..., 4H], TF order i, j, f, o) into ``{"i": [..., H], "j": ..., "f": ..., "o": ...}``."""
    if array.shape[-1] != 4 * units:
        raise ValueError(f"last axis of shape {array.shape} is not 4 * units = {4 * units}")
    return {g: array[..., k * units : (k + 1) * units] for k, g in enumerate(GATE_ORDER)}


def reorder_gates(array: np.ndarray, units: int, order: str) -> np.ndarray:
    """[..., 4H] in TF order i, j, f, o -> [..., 4H] with the blocks in ``order`` (e.g. ``"ifjo"``)."""
    if sorted(order) != sorted(GATE_ORDER):
        raise ValueError(f"order={order!r} must be a permutation of {''.join(GATE_ORDER)!r}")
    blocks = gate_blocks(array, units)
    return np.concatenate([blocks[g] for g in order], axis=-1)


def split_kernel(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The canonical kernel [I + P, 4H] as (input kernel [I, 4H], recurrent kernel [P, 4H])."""
    I = case.config.input_size
    return case.params.kernel[:I], case.params.kernel[I:]


def folded_bias(case: Case, order: str = "".join(GATE_ORDER)) -> np.ndarray:
    """Bias [4H] with ``forget_bias`` added to the f block, gates in ``order``, in the case's dtype.

    The sum is formed in float64 and rounded once, so in float32/float64 it is the
    value a library without a run-time forget bias must hold.  (TF adds the two at
    run time, ``(f + b_f) + fb``, so in low precision the two roundings can differ by
    an ulp of the pre-activation: within tolerance, not a convention difference.)
    """
    cfg = case.config
    blocks = {g: a.astype(np.float64) for g, a in gate_blocks(case.params.bias, cfg.num_units).items()}
    # TF rounds forget_bias to the cell's dtype before adding it; so does this.
    blocks["f"] = blocks["f"] + float(np.asarray(cfg.forget_bias, cfg.np_dtype).astype(np.float64))
    return np.concatenate([blocks[g] for g in order]).astype(cfg.np_dtype)


def peepholes(case: Case) -> dict[str, np.ndarray]:
    """``{"i", "f", "o"}`` peephole weights [H] (zeros when the config has none)."""
    cfg = case.config
    zeros = np.zeros((cfg.num_units,), cfg.np_dtype)
    p = case.params
    if not cfg.use_peepholes:
        return {"i": zeros, "f": zeros, "o": zeros}
    assert p.w_i_diag is not None and p.w_f_diag is not None and p.w_o_diag is not None
    return {"i": p.w_i_diag, "f": p.w_f_diag, "o": p.w_o_diag}


def exact_float32(array: np.ndarray) -> np.ndarray:
    """``array`` as float32 when it is bfloat16 (exact widening; for libraries that cannot read ml_dtypes)."""
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


def finish(case: Case, outputs: Any, c: Any, h: Any) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Numpy arrays in the case's dtype: ``(outputs [B, T, P], (c [B, H], h [B, P]))``.

    The values are not re-rounded: a library that computed in the case's dtype
    returns exactly its own numbers (the cast only changes the array type).
    """
    npd = case.config.np_dtype
    return (np.asarray(outputs).astype(npd), (np.asarray(c).astype(npd), np.asarray(h).astype(npd)))


def check_computed_dtype(case: Case, library_dtype: str) -> None:
    """Raise unless the library really computed in the case's dtype (not silently in another one).

    ``library_dtype`` is the library's own name for its result dtype (``torch.float16``,
    ``float16``, ...); only the part after the last dot is compared.
    """
    got = str(library_dtype).rsplit(".", 1)[-1]
    if got != case.config.dtype:
        raise RuntimeError(f"the library computed in {got}, not in the case's dtype {case.config.dtype}")


class BoundedCache:
    """A small dict of built modules/sessions/layers, oldest evicted first (keys: config and shapes)."""

    def __init__(self, size: int = 16):
        self.size = size
        self._items: dict[Any, Any] = {}

    def get(self, key: Any, build: Any) -> Any:
        """The cached value for ``key``, built by ``build()`` on a miss."""
        if key in self._items:
            return self._items[key]
        value = build()
        if len(self._items) >= self.size:
            self._items.pop(next(iter(self._items)))
        self._items[key] = value
        return value


def cell_view(case: Case, cell: Any) -> Case:
    """``case`` seen as the one cell ``cell`` (an ``LSTMLayer`` of ``case.cells()``): its config, params and
    initial state, no other cells.  For the weight conversions above only (``split_kernel``,
    ``folded_bias``, ``peepholes``): the inputs are layer 1's, not the cell's."""
    return dataclasses.replace(case, config=cell.config.replace(time_major=case.config.time_major),
                               params=cell.params, initial_state=cell.initial_state, upper=(), backward=())


def network_result(case: Case, outputs: Any, states: Any) -> Any:
    """What a network candidate returns (``NETWORK_RETURN``) in the case's dtype.

    ``outputs``: the top layer's forward outputs, or ``(out_fw, out_bw)`` when bidirectional;
    ``states``: every cell's final ``(c, h)`` in ``case.cells()`` order (layer by layer, forward first).
    """
    npd = case.config.np_dtype
    arr = lambda a: np.asarray(a).astype(npd)
    pairs = [(arr(c), arr(h)) for c, h in states]
    if not case.bidirectional:
        return arr(outputs), tuple(pairs)
    out_fw, out_bw = outputs
    return (arr(out_fw), arr(out_bw)), tuple((pairs[2 * k], pairs[2 * k + 1]) for k in range(case.num_layers))


# --- the inverse direction: a library's weights back to TF's layout (models as candidates, docs/mapping.md) ---
#
# Every function returns ``(arrays, fields)``: the TF-layout arrays by :data:`PARAM_NAMES` name
# (kernel [I + P, 4H] in gate order i, j, f, o; bias [4H]; w_*_diag [H]; proj_kernel [H, P]) and the
# config fields they imply.  A library folds TF's run-time ``forget_bias`` into its bias, so the
# inverse reads the bias as it is and sets ``forget_bias = 0.0`` (TF then adds an exact 0).


def unorder_gates(array: np.ndarray, units: int, order: str) -> np.ndarray:
    """[..., 4H] with blocks in ``order`` (e.g. ``"ifjo"``) -> [..., 4H] in TF order i, j, f, o (inverse of
    :func:`reorder_gates`)."""
    if sorted(order) != sorted(GATE_ORDER):
        raise ValueError(f"order={order!r} must be a permutation of {''.join(GATE_ORDER)!r}")
    if array.shape[-1] != 4 * units:
        raise ValueError(f"last axis of shape {array.shape} is not 4 * units = {4 * units}")
    blocks = {g: array[..., k * units : (k + 1) * units] for k, g in enumerate(order)}
    return np.concatenate([blocks[g] for g in GATE_ORDER], axis=-1)


def _bias_sum(*biases: np.ndarray | None, size: int, dtype: np.dtype) -> np.ndarray:
    """The sum of a library's bias vectors [size] (formed in float64, rounded once to ``dtype``), zeros when
    it has none."""
    total = np.zeros(size, np.float64)
    for b in biases:
        if b is not None:
            total = total + np.asarray(b, np.float64)
    return total.astype(dtype)


def _fused(kx: np.ndarray, kh: np.ndarray, bias: np.ndarray, proj: np.ndarray | None,
           peeps: dict[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays = {"kernel": np.ascontiguousarray(np.concatenate([kx, kh], axis=0)), "bias": bias}
    if peeps is not None:
        arrays.update(w_i_diag=peeps["i"], w_f_diag=peeps["f"], w_o_diag=peeps["o"])
    if proj is not None:
        arrays["proj_kernel"] = np.ascontiguousarray(proj)
    return arrays, {"forget_bias": 0.0}


def tf_from_torch(weight_ih: np.ndarray, weight_hh: np.ndarray, bias_ih: np.ndarray | None = None,
                  bias_hh: np.ndarray | None = None, weight_hr: np.ndarray | None = None
                  ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """torch ``weight_ih`` [4H, I], ``weight_hh`` [4H, P], ``bias_ih``/``bias_hh`` [4H] (gates i, f, g, o),
    ``weight_hr`` [P, H] -> TF layout: kernel = [weight_ih.T; weight_hh.T] reordered, bias = bias_ih + bias_hh."""
    H = weight_ih.shape[0] // 4
    kx, kh = unorder_gates(weight_ih.T, H, TORCH_ORDER), unorder_gates(weight_hh.T, H, TORCH_ORDER)
    bias = unorder_gates(_bias_sum(bias_ih, bias_hh, size=4 * H, dtype=weight_ih.dtype), H, TORCH_ORDER)
    return _fused(kx, kh, bias, None if weight_hr is None else weight_hr.T, None)


def tf_from_keras(kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray | None = None
                  ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Keras ``kernel`` [I, 4H], ``recurrent_kernel`` [H, 4H], ``bias`` [4H] (gates i, f, c, o) -> TF layout."""
    H = kernel.shape[1] // 4
    b = unorder_gates(_bias_sum(bias, size=4 * H, dtype=kernel.dtype), H, KERAS_ORDER)
    return _fused(unorder_gates(kernel, H, KERAS_ORDER), unorder_gates(recurrent_kernel, H, KERAS_ORDER), b,
                  None, None)


def tf_from_onnx(W: np.ndarray, R: np.ndarray, B: np.ndarray | None = None, P: np.ndarray | None = None
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One direction of an ONNX ``LSTM``: ``W`` [4H, I], ``R`` [4H, H], ``B`` [8H] (``[Wb, Rb]``), ``P`` [3H]
    (peepholes i, o, f); gates i, o, f, c -> TF layout (bias = Wb + Rb)."""
    H = W.shape[0] // 4
    kx, kh = unorder_gates(W.T, H, ONNX_ORDER), unorder_gates(R.T, H, ONNX_ORDER)
    b = None if B is None else np.asarray(B)
    bias = unorder_gates(_bias_sum(None if b is None else b[: 4 * H], None if b is None else b[4 * H :],
                                   size=4 * H, dtype=W.dtype),
                         H, ONNX_ORDER)
    peeps = None
    if P is not None and np.any(np.asarray(P, np.float64)):
        peeps = {"i": P[:H], "o": P[H : 2 * H], "f": P[2 * H :]}
    return _fused(kx, kh, bias, None, peeps)


def tf_from_gate_matrices(inputs: dict[str, np.ndarray], recurrent: dict[str, np.ndarray],
                          biases: dict[str, np.ndarray | None], peeps: dict[str, np.ndarray] | None = None,
                          projection: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-gate matrices (TFLite's ``UNIDIRECTIONAL_SEQUENCE_LSTM``): ``inputs[g]`` [H, I], ``recurrent[g]``
    [H, P], ``biases[g]`` [H] for g in i, j (TFLite's "cell"), f, o; ``peeps`` i, f, o [H]; ``projection``
    [P, H] -> TF layout."""
    like = inputs["i"]
    H = like.shape[0]
    kx = np.concatenate([inputs[g].T for g in GATE_ORDER], axis=1)
    kh = np.concatenate([recurrent[g].T for g in GATE_ORDER], axis=1)
    bias = np.concatenate([_bias_sum(biases.get(g), size=H, dtype=like.dtype) for g in GATE_ORDER])
    return _fused(kx, kh, bias, None if projection is None else projection.T, peeps)
