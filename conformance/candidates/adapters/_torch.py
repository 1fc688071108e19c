"""PyTorch: ``torch.nn.LSTM`` (``proj_size`` for ``num_proj``) and ``torch.nn.LSTMCell`` stepped over time.

Mapping (docs/mapping.md): torch gates are i, f, g, o; ``weight_ih_l0`` [4H, I] and
``weight_hh_l0`` [4H, P] are the transposed input and recurrent kernel blocks;
``bias_ih_l0`` [4H] holds the canonical bias with ``forget_bias`` folded into f and
``bias_hh_l0`` is zero (torch adds the two); ``weight_hr_l0`` [P, H] is
``proj_kernel`` transposed.  torch has no peepholes, cell clip or projection clip,
and its projection needs ``proj_size < hidden_size``.

Sequence lengths and layout (docs/mapping.md): ``torch-lstm`` packs the inputs with
``pack_padded_sequence(x, lengths, batch_first=not time_major, enforce_sorted=False)`` and
unpacks with ``pad_packed_sequence(..., total_length=T)`` (padding value 0); the returned
``(h_n, c_n)`` of a packed sequence is each row's state after its last step.  Packing rejects
a length of 0 (``RuntimeError: Length of all samples has to be greater than 0``), so a case
with an empty row is not drawn for it (``accepts``): torch cannot express it, and changing
the 0 to 1 would be the adapter's invention.  Time-major cases run with ``batch_first=False``.
``torch-lstmcell`` is one step: the loop indexes the time axis of either layout, as torch's
own LSTMCell example does ([T, B, I]); row lengths have no LSTMCell contract (unsupported).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from conformance.candidates import candidate
from conformance.candidates.adapters._layout import (
    TORCH_ORDER,
    BoundedCache,
    check_computed_dtype,
    exact_float32,
    finish,
    folded_bias,
    reorder_gates,
    split_kernel,
)
from conformance.spec import DTYPES, Case

_modules = BoundedCache()


def _torch() -> Any:
    import torch

    return torch


def _tensor(array: np.ndarray, dtype: Any) -> Any:
    """A torch tensor of ``dtype`` holding exactly ``array``'s values (bfloat16 goes through float32)."""
    torch = _torch()
    return torch.from_numpy(np.ascontiguousarray(exact_float32(array))).to(dtype)


def _numpy(tensor: Any) -> np.ndarray:
    torch = _torch()
    t = tensor.detach()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _torch_dtype(name: str) -> Any:
    return getattr(_torch(), name)


def _gate_weights(case: Case, dtype: Any) -> tuple[Any, Any, Any]:
    """(weight_ih [4H, I], weight_hh [4H, P], bias [4H]) in torch's i, f, g, o order."""
    H = case.config.num_units
    kx, kh = split_kernel(case)
    return (_tensor(reorder_gates(kx, H, TORCH_ORDER).T, dtype), _tensor(reorder_gates(kh, H, TORCH_ORDER).T, dtype),
            _tensor(folded_bias(case, TORCH_ORDER), dtype))


def _projection_fits(case: Case) -> bool:
    """torch.nn.LSTM raises for proj_size >= hidden_size; TF allows any num_proj."""
    return case.config.num_proj is None or case.config.num_proj < case.config.num_units


def _torch_lstm_accepts(case: Case) -> bool:
    """What nn.LSTM can express: proj_size < hidden_size, and (packed) no row of length 0.

    ``pack_padded_sequence`` raises for a length of 0; dynamic_rnn returns zeros and the initial
    state for such a row.  torch has no way to say it, so such cases are not drawn (a length
    clamped to 1 would run a step TF does not: the ``empty_rows_run_one_step`` variant).
    """
    return _projection_fits(case) and (case.sequence_length is None or bool(np.all(case.sequence_length > 0)))


TORCH_LSTM_FEATURES = ["forget_bias", "initial_state", "projection", "sequence_length", "time_major"]


@candidate(features=TORCH_LSTM_FEATURES, dtypes=DTYPES, accepts=_torch_lstm_accepts,
           unsupported={"peepholes": "torch.nn.LSTM has no peephole connections",
                        "cell_clip": "torch.nn.LSTM has no cell-state clipping",
                        "proj_clip": "torch.nn.LSTM has no projection clipping",
                        "activation": "torch.nn.LSTM's cell activation is fixed to tanh"})
def torch_lstm(case: Case):
    """torch.nn.LSTM (proj_size for num_proj < num_units; packed for row lengths) on CPU, in the case's dtype."""
    torch = _torch()
    cfg = case.config
    dtype = _torch_dtype(cfg.dtype)
    proj = cfg.num_proj or 0
    batch_first = not cfg.time_major
    lstm = _modules.get(("LSTM", cfg.input_size, cfg.num_units, proj, cfg.dtype, batch_first),
                        lambda: torch.nn.LSTM(cfg.input_size, cfg.num_units, batch_first=batch_first,
                                              proj_size=proj, dtype=dtype))
    w_ih, w_hh, bias = _gate_weights(case, dtype)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(w_ih)
        lstm.weight_hh_l0.copy_(w_hh)
        lstm.bias_ih_l0.copy_(bias)
        lstm.bias_hh_l0.zero_()
        if proj and case.params.proj_kernel is not None:
            lstm.weight_hr_l0.copy_(_tensor(case.params.proj_kernel.T, dtype))
        h0 = _tensor(case.initial_state.h, dtype)[None]  # [layers=1, B, P]
        c0 = _tensor(case.initial_state.c, dtype)[None]  # [layers=1, B, H]
        with warnings.catch_warnings():  # "LSTM with projections is not supported with oneDNN": it falls back
            warnings.simplefilter("ignore", UserWarning)
            x = _tensor(case.inputs, dtype)
            if case.sequence_length is None:
                outputs, (h, c) = lstm(x, (h0, c0))
            else:
                rnn = torch.nn.utils.rnn
                lengths = torch.from_numpy(case.sequence_length.astype(np.int64))  # a CPU int64 tensor
                packed = rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
                packed_out, (h, c) = lstm(packed, (h0, c0))  # h, c come back in the caller's row order
                outputs, _ = rnn.pad_packed_sequence(packed_out, batch_first=batch_first, padding_value=0.0,
                                                     total_length=case.time)
    check_computed_dtype(case, outputs.dtype)
    return finish(case, _numpy(outputs), _numpy(c[0]), _numpy(h[0]))


@candidate(features=["forget_bias", "initial_state", "time_major"], dtypes=DTYPES,
           unsupported={"sequence_length": "nn.LSTMCell is a single step with no notion of row lengths; "
                                           "masking the loop would be the adapter's code, not torch's",
                        "peepholes": "torch.nn.LSTMCell has no peephole connections",
                        "cell_clip": "torch.nn.LSTMCell has no cell-state clipping",
                        "projection": "torch.nn.LSTMCell has no projection (proj_size is nn.LSTM only)",
                        "proj_clip": "torch.nn.LSTMCell has no projection",
                        "activation": "torch.nn.LSTMCell's cell activation is fixed to tanh"})
def torch_lstmcell(case: Case):
    """torch.nn.LSTMCell stepped over time (either layout) on CPU, in the case's dtype."""
    torch = _torch()
    cfg = case.config
    dtype = _torch_dtype(cfg.dtype)
    cell = _modules.get(("LSTMCell", cfg.input_size, cfg.num_units, cfg.dtype),
                        lambda: torch.nn.LSTMCell(cfg.input_size, cfg.num_units, dtype=dtype))
    w_ih, w_hh, bias = _gate_weights(case, dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(w_ih)
        cell.weight_hh.copy_(w_hh)
        cell.bias_ih.copy_(bias)
        cell.bias_hh.zero_()
        h, c = _tensor(case.initial_state.h, dtype), _tensor(case.initial_state.c, dtype)
        x = _tensor(case.inputs, dtype)
        time_axis = 0 if cfg.time_major else 1
        outputs = []
        for t in range(case.time):
            h, c = cell(x.select(time_axis, t), (h, c))
            outputs.append(h)
        stacked = torch.stack(outputs, dim=time_axis)
    check_computed_dtype(case, stacked.dtype)
    return finish(case, _numpy(stacked), _numpy(c), _numpy(h))
