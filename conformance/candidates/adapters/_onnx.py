"""ONNX: a one-node model with the ``LSTM`` operator, built with ``onnx.helper``, run on onnxruntime (CPU).

Mapping (docs/mapping.md): ONNX gates are i, o, f, c (c = TF's j).  ``W`` [1, 4H, I] and
``R`` [1, 4H, H] are the canonical input and recurrent kernel blocks reordered and
transposed; ``B`` [1, 8H] is ``[Wb, Rb]`` with the bias (``forget_bias`` folded into f)
in ``Wb`` and ``Rb`` zero; ``P`` [1, 3H] is the peepholes in the order i, o, f.
Inputs are time-major ``X`` [T, B, I]; ``initial_h``/``initial_c`` [1, B, H].  The
``activations`` attribute is ``[Sigmoid, act, act]``.

Not mapped: ONNX ``clip`` bounds the gate *pre-activations*, TF ``cell_clip`` the cell
state (docs/mapping.md), so cell_clip is undeclared; ONNX has no projection.
onnxruntime's CPU LSTM kernel runs float32 and float16 (it rejects double and bfloat16).

Sequence lengths and layout (docs/mapping.md): row lengths go to input 5, ``sequence_lens``
(int32 [B]); without them the input is omitted.  ONNX's ``layout`` attribute is left at 0
(X [T, B, I], Y [T, D, B, H]): onnxruntime's CPU kernel rejects ``layout=1`` ("Batchwise
recurrent operations (layout == 1) are not supported"), so a batch-major case is transposed
to time-major and a time-major case is fed as it is.  Measured (onnxruntime 1.32): Y is zero
past a row's end and Y_h/Y_c hold the state after its last step, as dynamic_rnn; but for a
row of length 0 Y_h/Y_c are *zeros*, not the initial state (dynamic_rnn returns the initial
state).  The adapter does not patch that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.candidates import candidate
from conformance.candidates.adapters._layout import (
    ONNX_ORDER,
    BoundedCache,
    check_computed_dtype,
    finish,
    folded_bias,
    peepholes,
    reorder_gates,
    split_kernel,
)
from conformance.spec import Case

#: ONNX activation names of :data:`conformance.ACTIVATIONS`.
ONNX_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "softsign": "Softsign"}
OPSET = 14
_sessions = BoundedCache()


def build_model(dtype: str, units: int, activation: str, use_peepholes: bool, lengths: bool = False) -> Any:
    """The ``onnx.ModelProto``: inputs X, W, R, B, initial_h, initial_c (and P, and sequence_lens with
    ``lengths``); outputs Y, Y_h, Y_c.  Time-major (``layout`` 0)."""
    import onnx
    from onnx import TensorProto, helper

    elem = {"float16": TensorProto.FLOAT16, "float32": TensorProto.FLOAT}[dtype]
    H = units
    shapes: dict[str, list[str | int | None]] = {
        "X": ["T", "B", "I"],
        "W": [1, 4 * H, "I"],
        "R": [1, 4 * H, H],
        "B": [1, 8 * H],
        "initial_h": [1, "B", H],
        "initial_c": [1, "B", H],
    }
    if use_peepholes:
        shapes["P"] = [1, 3 * H]
    act = ONNX_ACTIVATIONS[activation]
    # Input 5 (sequence_lens) is omitted when every sequence has the full length.
    node_inputs = (["X", "W", "R", "B", "sequence_lens" if lengths else "", "initial_h", "initial_c"]
                   + (["P"] if use_peepholes else []))
    node = helper.make_node("LSTM", node_inputs, ["Y", "Y_h", "Y_c"], hidden_size=H, direction="forward",
                            activations=["Sigmoid", act, act])
    graph = helper.make_graph(
        [node], "lstm_conformance",
        [helper.make_tensor_value_info(name, elem, shape) for name, shape in shapes.items()]
        + ([helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"])] if lengths else []),
        [helper.make_tensor_value_info("Y", elem, ["T", 1, "B", H]),
         helper.make_tensor_value_info("Y_h", elem, [1, "B", H]),
         helper.make_tensor_value_info("Y_c", elem, [1, "B", H])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def _session(dtype: str, units: int, activation: str, use_peepholes: bool, lengths: bool) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    model = build_model(dtype, units, activation, use_peepholes, lengths)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def onnx_feeds(case: Case) -> dict[str, np.ndarray]:
    """The model's input arrays for ``case`` (see the module docstring for shapes)."""
    cfg = case.config
    H, npd = cfg.num_units, cfg.np_dtype
    kx, kh = split_kernel(case)
    feeds = {
        "X": np.ascontiguousarray(case.inputs if cfg.time_major else case.inputs.transpose(1, 0, 2)),
        "W": np.ascontiguousarray(reorder_gates(kx, H, ONNX_ORDER).T[None]),
        "R": np.ascontiguousarray(reorder_gates(kh, H, ONNX_ORDER).T[None]),
        "B": np.concatenate([folded_bias(case, ONNX_ORDER), np.zeros(4 * H, npd)])[None],
        "initial_h": case.initial_state.h[None],
        "initial_c": case.initial_state.c[None],
    }
    if cfg.use_peepholes:
        p = peepholes(case)
        feeds["P"] = np.concatenate([p["i"], p["o"], p["f"]])[None]
    if case.sequence_length is not None:
        feeds["sequence_lens"] = np.ascontiguousarray(case.sequence_length, dtype=np.int32)
    return feeds


@candidate(features=["forget_bias", "initial_state", "peepholes", "activation", "sequence_length", "time_major"],
           dtypes=["float16", "float32"],
           unsupported={"cell_clip": "ONNX's clip bounds the gate pre-activations, not the cell state",
                        "projection": "the ONNX LSTM operator has no projection",
                        "proj_clip": "the ONNX LSTM operator has no projection"})
def onnxruntime_lstm(case: Case):
    """ONNX LSTM operator (opset 14, built with onnx.helper; sequence_lens for row lengths) on onnxruntime's CPU
    provider."""
    cfg = case.config
    lengths = case.sequence_length is not None
    session = _sessions.get((cfg.dtype, cfg.num_units, cfg.activation, cfg.use_peepholes, lengths),
                            lambda: _session(cfg.dtype, cfg.num_units, cfg.activation, cfg.use_peepholes, lengths))
    y, y_h, y_c = session.run(None, onnx_feeds(case))
    check_computed_dtype(case, y.dtype.name)
    outputs = y[:, 0] if cfg.time_major else y[:, 0].transpose(1, 0, 2)  # Y [T, 1, B, H] -> [T, B, H] / [B, T, H]
    return finish(case, outputs, y_c[0], y_h[0])
