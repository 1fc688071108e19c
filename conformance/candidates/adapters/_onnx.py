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

Networks (docs/mapping.md, "Stacked and bidirectional networks"): one LSTM node per layer,
``direction="bidirectional"`` with W/R/B/P/initial_h/initial_c stacked [forward, reverse] on axis 0;
layer k + 1 reads layer k's Y [T, D, B, H] through Transpose [0, 2, 1, 3] and Reshape [0, 0, -1].
A node has one hidden_size, so a bidirectional layer whose cells differ in size is not drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.candidates import candidate
from conformance.candidates.adapters._layout import (
    ONNX_ORDER,
    BoundedCache,
    cell_view,
    check_computed_dtype,
    finish,
    folded_bias,
    network_result,
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


#: One LSTM node of a network: (hidden_size, peepholes, directions) - one size for both directions.
NodeSpec = tuple[int, bool, int]


def network_specs(case: Case) -> tuple[NodeSpec, ...]:
    """One node per layer: its hidden_size, whether it takes ``P``, and 1 or 2 directions."""
    by_layer: dict[int, list[Any]] = {}
    for k, _, cell in case.cells():
        by_layer.setdefault(k, []).append(cell.config)
    return tuple((cfgs[0].num_units, any(c.use_peepholes for c in cfgs), len(cfgs)) for _, cfgs in sorted(by_layer.items()))


def build_network_model(dtype: str, activation: str, nodes: tuple[NodeSpec, ...], lengths: bool) -> Any:
    """A chain of LSTM nodes, one per layer (``direction`` forward or bidirectional).  Layer k > 1 reads
    layer k - 1's ``Y`` [T, D, B, H] as [T, B, D * H] (Transpose [0, 2, 1, 3], Reshape [0, 0, -1]: the
    forward half first, as ``stack_bidirectional_dynamic_rnn`` concatenates).  Inputs ``X`` and per layer
    ``W{k}``, ``R{k}``, ``B{k}``, ``initial_h{k}``, ``initial_c{k}`` (and ``P{k}``), ``k`` from 1; outputs
    ``Y`` of the top layer and ``Y_h{k}``, ``Y_c{k}`` of every layer."""
    import onnx
    from onnx import TensorProto, helper

    elem = {"float16": TensorProto.FLOAT16, "float32": TensorProto.FLOAT}[dtype]
    act = ONNX_ACTIVATIONS[activation]
    inputs = [helper.make_tensor_value_info("X", elem, ["T", "B", "I"])]
    if lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
    graph_nodes, outputs = [], []
    x = "X"
    width: str | int = "I"  # the first node reads X [T, B, I]; each later one its known input width
    shape = helper.make_tensor("flat_shape", TensorProto.INT64, [3], [0, 0, -1])
    for k, (H, peep, D) in enumerate(nodes, start=1):
        shapes: dict[str, list[str | int | None]] = {
            f"W{k}": [D, 4 * H, width], f"R{k}": [D, 4 * H, H], f"B{k}": [D, 8 * H],
            f"initial_h{k}": [D, "B", H], f"initial_c{k}": [D, "B", H]}
        if peep:
            shapes[f"P{k}"] = [D, 3 * H]
        inputs += [helper.make_tensor_value_info(name, elem, dims) for name, dims in shapes.items()]
        y = "Y" if k == len(nodes) else f"Y{k}"
        graph_nodes.append(helper.make_node(
            "LSTM", [x, f"W{k}", f"R{k}", f"B{k}", "sequence_lens" if lengths else "", f"initial_h{k}",
                     f"initial_c{k}"] + ([f"P{k}"] if peep else []),
            [y, f"Y_h{k}", f"Y_c{k}"], hidden_size=H, direction="bidirectional" if D == 2 else "forward",
            activations=["Sigmoid", act, act] * D))
        outputs += [helper.make_tensor_value_info(f"Y_h{k}", elem, [D, "B", H]),
                    helper.make_tensor_value_info(f"Y_c{k}", elem, [D, "B", H])]
        if k < len(nodes):
            graph_nodes += [helper.make_node("Transpose", [y], [f"{y}_tbdh"], perm=[0, 2, 1, 3]),
                            helper.make_node("Reshape", [f"{y}_tbdh", "flat_shape"], [f"X{k + 1}"])]
            x, width = f"X{k + 1}", D * H
    outputs.insert(0, helper.make_tensor_value_info("Y", elem, ["T", nodes[-1][2], "B", nodes[-1][0]]))
    graph = helper.make_graph(graph_nodes, "lstm_conformance_network", inputs, outputs,
                              initializer=[shape] if len(nodes) > 1 else [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def network_feeds(case: Case) -> dict[str, np.ndarray]:
    """The inputs of :func:`build_network_model` for ``case``: per layer the directions stacked on axis 0
    (forward, then backward), each as :func:`onnx_feeds` converts one cell (zero ``P`` for a cell without
    peepholes when the other direction has them: the same numbers)."""
    cfg = case.config
    feeds: dict[str, np.ndarray] = {
        "X": np.ascontiguousarray(case.inputs if cfg.time_major else case.inputs.transpose(1, 0, 2))}
    if case.sequence_length is not None:
        feeds["sequence_lens"] = np.ascontiguousarray(case.sequence_length, dtype=np.int32)
    specs = network_specs(case)
    for k, (_, peep, _) in enumerate(specs, start=1):
        per_cell = [onnx_feeds(cell_view(case, cell)) for layer, _, cell in case.cells() if layer == k - 1]
        for name in ("W", "R", "B", "initial_h", "initial_c"):
            feeds[f"{name}{k}"] = np.ascontiguousarray(np.concatenate([f[name] for f in per_cell]))
        if peep:
            zeros = np.zeros((1, 3 * specs[k - 1][0]), cfg.np_dtype)
            feeds[f"P{k}"] = np.concatenate([f.get("P", zeros) for f in per_cell])
    return feeds


def _one_size_per_layer(case: Case) -> bool:
    """One ``hidden_size`` per node: a bidirectional layer whose two cells differ in size is not drawn."""
    cells = case.cells()
    return not case.bidirectional or all(cells[2 * k][2].config.num_units == cells[2 * k + 1][2].config.num_units
                                         for k in range(case.num_layers))


def _network_session(key: tuple[Any, ...]) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    model = build_network_model(*key)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _run_network(case: Case):
    cfg = case.config
    specs = network_specs(case)
    key = (cfg.dtype, cfg.activation, specs, case.sequence_length is not None)
    session = _sessions.get(("network",) + key, lambda: _network_session(key))
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, network_feeds(case))))
    y = got["Y"]  # [T, D, B, H]
    check_computed_dtype(case, y.dtype.name)
    halves = [y[:, d] if cfg.time_major else y[:, d].transpose(1, 0, 2) for d in range(y.shape[1])]
    states = [(got[f"Y_c{k + 1}"][d], got[f"Y_h{k + 1}"][d])
              for k, (_, _, D) in enumerate(specs) for d in range(D)]
    return network_result(case, tuple(halves) if case.bidirectional else halves[0], states)


@candidate(features=["forget_bias", "initial_state", "peepholes", "activation", "sequence_length", "time_major",
                     "stacked", "bidirectional"],
           dtypes=["float16", "float32"], accepts=_one_size_per_layer,
           unsupported={"cell_clip": "ONNX's clip bounds the gate pre-activations, not the cell state",
                        "projection": "the ONNX LSTM operator has no projection",
                        "proj_clip": "the ONNX LSTM operator has no projection"})
def onnxruntime_lstm(case: Case):
    """ONNX LSTM operator (opset 14, built with onnx.helper; sequence_lens for row lengths; direction=
    "bidirectional" and one node per layer for networks) on onnxruntime's CPU provider."""
    if not case.single_cell:
        return _run_network(case)
    cfg = case.config
    lengths = case.sequence_length is not None
    session = _sessions.get((cfg.dtype, cfg.num_units, cfg.activation, cfg.use_peepholes, lengths),
                            lambda: _session(cfg.dtype, cfg.num_units, cfg.activation, cfg.use_peepholes, lengths))
    y, y_h, y_c = session.run(None, onnx_feeds(case))
    check_computed_dtype(case, y.dtype.name)
    outputs = y[:, 0] if cfg.time_major else y[:, 0].transpose(1, 0, 2)  # Y [T, 1, B, H] -> [T, B, H] / [B, T, H]
    return finish(case, outputs, y_c[0], y_h[0])
