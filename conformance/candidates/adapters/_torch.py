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

Networks (docs/mapping.md, "Stacked and bidirectional networks"): ``num_layers=K`` and
``bidirectional=True``; each cell's weights go to ``weight_ih_l{k}`` ... (``_reverse`` for the
backward direction), ``h_0``/``c_0`` and ``h_n``/``c_n`` are ``[K * D, B, .]`` indexed ``k * D + d``
(layer-major, direction inner: ``case.cells()`` order), and the outputs' last axis is the forward
half then the backward half.  nn.LSTM has one hidden_size and proj_size for every cell, so only
networks whose cells all share layer 1's sizes are drawn (``accepts``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from conformance.candidates import candidate
from conformance.candidates.adapters._layout import (
    TORCH_ORDER,
    BoundedCache,
    cell_view,
    check_computed_dtype,
    exact_float32,
    finish,
    folded_bias,
    network_result,
    reorder_gates,
    split_kernel,
)
from conformance.spec import BACKWARD, DTYPES, Case

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


def _one_size(case: Case) -> bool:
    """nn.LSTM has one ``hidden_size`` and one ``proj_size`` for every layer and direction; TF's cells may
    differ per layer.  A network is drawn for torch only when every cell has layer 1's sizes."""
    first = case.config
    return all(cell.config.num_units == first.num_units and cell.config.num_proj == first.num_proj
               for _, _, cell in case.cells())


def _torch_lstm_accepts(case: Case) -> bool:
    """What nn.LSTM can express: proj_size < hidden_size, one size for every cell, and (packed) no row of
    length 0.

    ``pack_padded_sequence`` raises for a length of 0; dynamic_rnn returns zeros and the initial
    state for such a row.  torch has no way to say it, so such cases are not drawn (a length
    clamped to 1 would run a step TF does not: the ``empty_rows_run_one_step`` variant).
    """
    return (_projection_fits(case) and _one_size(case)
            and (case.sequence_length is None or bool(np.all(case.sequence_length > 0))))


TORCH_LSTM_FEATURES = ["forget_bias", "initial_state", "projection", "sequence_length", "time_major", "stacked",
                       "bidirectional"]


@candidate(features=TORCH_LSTM_FEATURES, dtypes=DTYPES, accepts=_torch_lstm_accepts,
           unsupported={"peepholes": "torch.nn.LSTM has no peephole connections",
                        "cell_clip": "torch.nn.LSTM has no cell-state clipping",
                        "proj_clip": "torch.nn.LSTM has no projection clipping",
                        "activation": "torch.nn.LSTM's cell activation is fixed to tanh"})
def torch_lstm(case: Case):
    """torch.nn.LSTM (proj_size for num_proj < num_units; packed for row lengths; num_layers and bidirectional
    for networks whose cells share one size) on CPU, in the case's dtype."""
    torch = _torch()
    cfg = case.config
    dtype = _torch_dtype(cfg.dtype)
    proj = cfg.num_proj or 0
    batch_first = not cfg.time_major
    layers, directions = case.num_layers, 2 if case.bidirectional else 1
    lstm = _modules.get(("LSTM", cfg.input_size, cfg.num_units, proj, cfg.dtype, batch_first, layers, directions),
                        lambda: torch.nn.LSTM(cfg.input_size, cfg.num_units, batch_first=batch_first,
                                              proj_size=proj, dtype=dtype, num_layers=layers,
                                              bidirectional=directions == 2))
    cells = case.cells()  # layer by layer, forward before backward: torch's own order of h_n/c_n
    with torch.no_grad():
        for k, direction, cell in cells:
            suffix = f"l{k}" + ("_reverse" if direction == BACKWARD else "")
            view = cell_view(case, cell)
            w_ih, w_hh, bias = _gate_weights(view, dtype)
            getattr(lstm, f"weight_ih_{suffix}").copy_(w_ih)
            getattr(lstm, f"weight_hh_{suffix}").copy_(w_hh)
            getattr(lstm, f"bias_ih_{suffix}").copy_(bias)
            getattr(lstm, f"bias_hh_{suffix}").zero_()
            if proj and cell.params.proj_kernel is not None:
                getattr(lstm, f"weight_hr_{suffix}").copy_(_tensor(cell.params.proj_kernel.T, dtype))
        # [layers * directions, B, P] / [.., B, H]: index k * directions + d, as torch documents.
        h0 = torch.stack([_tensor(cell.initial_state.h, dtype) for _, _, cell in cells])
        c0 = torch.stack([_tensor(cell.initial_state.c, dtype) for _, _, cell in cells])
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
    if case.single_cell:
        return finish(case, _numpy(outputs), _numpy(c[0]), _numpy(h[0]))
    out = _numpy(outputs)  # [B, T, directions * P]: the top layer's forward half, then its backward half
    P = cfg.output_size
    states = [(_numpy(c[i]), _numpy(h[i])) for i in range(len(cells))]
    return network_result(case, (out[..., :P], out[..., P:]) if directions == 2 else out, states)


@candidate(features=["forget_bias", "initial_state", "time_major"], dtypes=DTYPES,
           unsupported={"stacked": "nn.LSTMCell is one cell; stacking cells would be the adapter's code "
                                   "(nn.LSTM's num_layers is torch's stack: torch-lstm)",
                        "bidirectional": "nn.LSTMCell is one cell running forward; the reversal would be the "
                                         "adapter's code (nn.LSTM's bidirectional: torch-lstm)",
                        "sequence_length": "nn.LSTMCell is a single step with no notion of row lengths; "
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
