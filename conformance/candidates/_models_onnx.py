"""An ``.onnx`` file as a candidate: its ``LSTM`` node, with the file's own weights and attributes, on onnxruntime.

The node is run on its own (a graph of that node, its weight initializers and the inputs X [T, B, I],
sequence_lens, initial_h/initial_c [1, B, H] fed by the run): what is checked is the exported
operator and its weights, whatever graph surrounds it (tf2onnx and torch.onnx wrap it in
Transposes/Squeezes that depend on the exporter).  Weights: ``W`` [1, 4H, I], ``R`` [1, 4H, H],
``B`` [1, 8H], ``P`` [1, 3H] (gates i, o, f, c) mapped by ``tf_from_onnx``.  Several LSTM nodes: ``--node``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.candidates._models import ModelCandidate, choose, pinned_from_model, to_layout
from conformance.candidates._protocol import CandidateInfo
from conformance.candidates.adapters._layout import BoundedCache, tf_from_onnx
from conformance.spec import ACTIVATIONS, CandidateLoadError, Case


def _constants(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    found = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            found[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return found


def onnx_model(path: str, node: str | None) -> ModelCandidate:
    import onnx
    from onnx import helper

    try:
        model = onnx.load(path)
    except Exception as exc:
        raise CandidateLoadError(f"{path}: expected an ONNX model, found an unreadable file "
                                 f"({type(exc).__name__}: {exc})") from None
    lstms = {n.name or f"LSTM:{k}": n for k, n in enumerate(model.graph.node) if n.op_type == "LSTM"}
    if not lstms:
        ops = sorted({n.op_type for n in model.graph.node})
        raise CandidateLoadError(f"{path}: expected an LSTM node, found none (ops: {', '.join(ops)}); the exporter "
                                 f"did not fuse the cell")
    name, lstm = choose(lstms, node, "LSTM node", path)
    attrs = {a.name: helper.get_attribute_value(a) for a in lstm.attribute}
    direction = attrs.get("direction", b"forward")
    if direction not in (b"forward", "forward"):
        raise CandidateLoadError(f"{path}: node {name} runs direction={direction!r}; expected forward")
    if attrs.get("layout", 0) != 0 or attrs.get("input_forget", 0) != 0:
        raise CandidateLoadError(f"{path}: node {name} has layout={attrs.get('layout', 0)}, input_forget="
                                 f"{attrs.get('input_forget', 0)}; expected 0 and 0 (onnxruntime's CPU kernel runs only "
                                 f"layout 0; TF's LSTMCell has no coupled input and forget gates)")
    consts = _constants(model)
    ins = list(lstm.input) + [""] * (8 - len(lstm.input))
    missing = [role for role, k in (("W", 1), ("R", 2)) if ins[k] not in consts]
    if missing:
        raise CandidateLoadError(f"{path}: node {name}'s {', '.join(missing)} are computed, not stored; expected "
                                 f"initializers or Constants")
    W, R = consts[ins[1]][0], consts[ins[2]][0]
    B = consts[ins[3]][0] if ins[3] in consts else None
    P = consts[ins[7]][0] if ins[7] in consts else None
    arrays, fields = tf_from_onnx(W, R, B, P)
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    if acts:
        if acts[0] != "Sigmoid" or acts[1] != acts[2] or acts[1].lower() not in ACTIVATIONS:
            raise CandidateLoadError(f"{path}: node {name} has activations {acts}; TF's LSTMCell needs "
                                     f"[Sigmoid, act, act] with act one of {', '.join(ACTIVATIONS)}")
        fields["activation"] = acts[1].lower()
    dtype = str(W.dtype)
    pinned = pinned_from_model(arrays, {**fields, "dtype": dtype}, f"{path} (node {name})", path)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=14)
    sessions = BoundedCache(2)

    def session(lengths: bool) -> Any:
        import onnxruntime as ort

        H = W.shape[0] // 4
        elem = helper.np_dtype_to_tensor_dtype(W.dtype)
        feeds = {"X": ["T", "Bt", W.shape[1]], "initial_h": [1, "Bt", H], "initial_c": [1, "Bt", H]}
        node_inputs = ["X", "W", "R", "B" if B is not None else "", "sequence_lens" if lengths else "",
                       "initial_h", "initial_c", "P" if P is not None else ""]
        inits = [onnx.numpy_helper.from_array(consts[ins[k]], role)
                 for k, role in ((1, "W"), (2, "R"), (3, "B"), (7, "P")) if ins[k] in consts]
        graph_in = [helper.make_tensor_value_info(k, elem, v) for k, v in feeds.items()]
        if lengths:
            graph_in.append(helper.make_tensor_value_info("sequence_lens", onnx.TensorProto.INT32, ["Bt"]))
        copy = helper.make_node("LSTM", node_inputs, ["Y", "Y_h", "Y_c"], **attrs)
        outs = [helper.make_tensor_value_info(k, elem, None) for k in ("Y", "Y_h", "Y_c")]
        graph = helper.make_graph([copy], "lstm_from_" + name.replace("/", "_"), graph_in, outs, inits)
        sub = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        return ort.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])

    def run(case: Case) -> Any:
        sess = sessions.get(case.sequence_length is not None, lambda: session(case.sequence_length is not None))
        npd = W.dtype
        feed = {"X": to_layout(case.inputs, case.config.time_major, True).astype(npd),
                "initial_h": case.initial_state.h[None].astype(npd), "initial_c": case.initial_state.c[None].astype(npd)}
        if case.sequence_length is not None:
            feed["sequence_lens"] = case.sequence_length.astype(np.int32)
        y, y_h, y_c = sess.run(["Y", "Y_h", "Y_c"], feed)
        return to_layout(y[:, 0], True, case.config.time_major), (y_c[0], y_h[0])

    features = {"forget_bias", "initial_state", "sequence_length", "time_major", "peepholes", "activation"}
    info = CandidateInfo(name=path, features=frozenset(features), dtypes=frozenset({pinned.config.dtype}),
                         description=f"ONNX LSTM node {name} of {path} on onnxruntime, its own weights")
    return ModelCandidate(run, pinned, info)
