"""A ``.tflite`` file as a candidate: the whole model on ``tf.lite.Interpreter``, with its own weights.

A TFLite graph has its batch and time baked in (the converter needs static shapes for an LSTM), so
the run draws exactly those (``ModelCandidate.fixed_batch``/``fixed_time``).  Weights: the fused
``UNIDIRECTIONAL_SEQUENCE_LSTM`` op's per-gate tensors (inputs 1-17: input_to_{input,forget,cell,output}
[H, I], recurrent_to_* [H, P], cell_to_* peepholes [H], *_gate_bias [H], projection_weights [P, H];
``cell`` is TF's j) mapped by ``tf_from_gate_matrices``; its state lives in two variable tensors
(inputs 18 output_state [B, P], 19 cell_state [B, H]), which persist across invocations, so every
call resets them and then writes the case's initial state there; the final ``c`` is read back from
cell_state and ``h`` is the last output step.  A model without the fused op (the converter's WHILE
loop) returns outputs and states as its outputs (``return_state=True``) and needs ``--params``
(its weights are spread over plain FULLY_CONNECTED ops).  No row lengths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.candidates._models import ModelCandidate, choose, pinned_from_model, to_layout
from conformance.candidates._protocol import CandidateInfo
from conformance.candidates.adapters._layout import tf_from_gate_matrices
from conformance.spec import CandidateLoadError, Case

_FUSED = "UNIDIRECTIONAL_SEQUENCE_LSTM"


def tflite_model(path: str, node: str | None) -> ModelCandidate:
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    try:
        interp = tf.lite.Interpreter(model_path=path)
        interp.allocate_tensors()
    except Exception as exc:
        raise CandidateLoadError(f"{path}: expected a TFLite model, found an unreadable file "
                                 f"({type(exc).__name__}: {exc})") from None
    ops = interp._get_ops_details()
    inputs = interp.get_input_details()
    outputs = sorted(interp.get_output_details(), key=lambda d: d["name"])
    if len(inputs) != 1 or len(inputs[0]["shape"]) != 3:
        raise CandidateLoadError(f"{path}: expected one input [B, T, I], found "
                                 f"{[(d['name'], d['shape'].tolist()) for d in inputs]}")
    B, T, _ = (int(v) for v in inputs[0]["shape"])
    fused = {f"{op['op_name']}:{op['index']}": op for op in ops if op["op_name"] == _FUSED}
    pinned, state = None, None
    if fused:
        name, op = choose(fused, node, f"{_FUSED} op", path)
        idx = [int(i) for i in op["inputs"]]
        get: Any = lambda k: None if idx[k] < 0 else np.array(interp.get_tensor(idx[k]))  # noqa: E731
        gates = "ijfo"
        order = {"i": 0, "f": 1, "j": 2, "o": 3}  # TFLite's input/forget/cell/output slots
        if idx[1] < 0:
            raise CandidateLoadError(f"{path}: {name} couples the input and forget gates (CIFG), which TF's "
                                     f"LSTMCell cannot express")
        peeps = None if idx[10] < 0 else {"i": get(9), "f": get(10), "o": get(11)}
        arrays, fields = tf_from_gate_matrices({g: get(1 + order[g]) for g in gates},
                                               {g: get(5 + order[g]) for g in gates},
                                               {g: get(12 + order[g]) for g in gates}, peeps, get(16))
        if get(17) is not None and np.any(get(17)):
            raise CandidateLoadError(f"{path}: {name} has a projection bias, which TF's LSTMCell has not")
        dtype = str(arrays["kernel"].dtype)
        pinned = pinned_from_model(arrays, {**fields, "dtype": dtype}, f"{path} ({name})", path)
        state = (idx[18], idx[19])
    elif len(outputs) != 3:
        raise CandidateLoadError(f"{path}: expected a {_FUSED} op, or outputs (sequence, h, c) of a "
                                 f"return_state=True LSTM; found ops {sorted({o['op_name'] for o in ops})} and "
                                 f"{len(outputs)} output(s)")
    dtype = np.dtype(inputs[0]["dtype"]).name
    features = {"forget_bias", "time_major", "peepholes", "projection"} | ({"initial_state"} if state else set())
    info = CandidateInfo(name=path, features=frozenset(features), dtypes=frozenset({dtype}), max_time=T,
                         accepts=lambda case: case.batch == B and case.time == T,
                         description=f"TFLite model {path} on tf.lite.Interpreter, its own weights")

    def run(case: Case) -> Any:
        if case.batch != B or case.time != T:
            raise ValueError(f"the model takes batch {B} and time {T}, the case has {case.batch} and {case.time}")
        x = to_layout(case.inputs, case.config.time_major, False)
        interp.reset_all_variables()
        if state is not None:
            interp.set_tensor(state[0], np.ascontiguousarray(case.initial_state.h.astype(dtype)))
            interp.set_tensor(state[1], np.ascontiguousarray(case.initial_state.c.astype(dtype)))
        interp.set_tensor(inputs[0]["index"], np.ascontiguousarray(x.astype(dtype)))
        interp.invoke()
        seq = np.array(interp.get_tensor(outputs[0]["index"]))
        if state is not None:
            c, h = np.array(interp.get_tensor(state[1])), seq[:, -1]
        else:
            h, c = (np.array(interp.get_tensor(o["index"])) for o in outputs[1:])
        return to_layout(seq, False, case.config.time_major), (c, h)

    return ModelCandidate(run, pinned, info, fixed_time=T, fixed_batch=B)
