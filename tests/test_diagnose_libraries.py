"""Real libraries driven with classic porting mistakes are diagnosed as the matching variant.

These wrong candidates are not in the catalogue's tests: they run torch and onnxruntime
themselves, so they also check that the variants' knobs match what those libraries compute.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance import candidate
from conformance.diagnose import diagnose
from conformance.run import minimize
from tests import wrong_impls as W


def _diagnosed(fn, changes=None, **case_kw):
    ex = W.executor_for(fn)
    still_fails = W.spec_fails(ex)
    case = W.dense_case(changes, seed=4, **case_kw)
    assert still_fails(case), f"{fn.__name__} agrees with the spec on the starting case"
    case = minimize(case, still_fails, max_evaluations=150, max_seconds=10)
    result = diagnose(case, ex.run(case), ex)
    return [(m.variant, m.explained_cases, m.tried_cases) for m in result.matches], result


def _torch_lstm(case, *, reorder: bool, bias_in_both: bool):
    import torch
    from conformance.candidates.adapters._layout import TORCH_ORDER, folded_bias, reorder_gates, split_kernel

    cfg = case.config
    H = cfg.num_units
    kx, kh = split_kernel(case)
    order = (lambda a: reorder_gates(a, H, TORCH_ORDER)) if reorder else (lambda a: a)
    bias = folded_bias(case, TORCH_ORDER) if reorder else case.params.bias
    lstm = torch.nn.LSTM(cfg.input_size, H, batch_first=True)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(t(order(kx).T))
        lstm.weight_hh_l0.copy_(t(order(kh).T))
        lstm.bias_ih_l0.copy_(t(bias))
        lstm.bias_hh_l0.copy_(t(bias) if bias_in_both else torch.zeros(4 * H))
        out, (h, c) = lstm(t(case.inputs), (t(case.initial_state.h)[None], t(case.initial_state.c)[None]))
    return out.numpy(), (c[0].numpy(), h[0].numpy())


@candidate(name="torch-unconverted", features=["initial_state"], dtypes=["float32"])
def torch_unconverted(case):
    """TF weights loaded into torch.nn.LSTM as they are: torch's gate order i, f, g, o and no forget_bias."""
    return _torch_lstm(case, reorder=False, bias_in_both=False)


@candidate(name="torch-bias-in-both", features=["initial_state", "forget_bias"], dtypes=["float32"])
def torch_bias_in_both(case):
    """Correctly reordered, but the folded bias is given as both bias_ih and bias_hh (torch adds them)."""
    return _torch_lstm(case, reorder=True, bias_in_both=True)


@candidate(name="onnx-clip", features=["initial_state", "cell_clip"], dtypes=["float32"])
def onnxruntime_with_clip(case):
    """The ONNX LSTM operator with TF's cell_clip passed as ONNX's `clip` attribute."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from conformance.candidates.adapters._onnx import OPSET, onnx_feeds

    H = case.config.num_units
    feeds = onnx_feeds(case)
    node = helper.make_node("LSTM", ["X", "W", "R", "B", "", "initial_h", "initial_c"], ["Y", "Y_h", "Y_c"],
                            hidden_size=H, clip=float(case.config.cell_clip))
    graph = helper.make_graph(
        [node], "clip",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape)) for k, v in feeds.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y", "Y_h", "Y_c")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, y_h, y_c = session.run(None, feeds)
    return y[:, 0].transpose(1, 0, 2), (y_c[0], y_h[0])


def test_torch_with_unconverted_tf_weights():
    pytest.importorskip("torch", reason="torch is not installed")
    ranking, result = _diagnosed(torch_unconverted)
    assert ranking and ranking[0][0] == "forget_bias_missing+gate_order_ifjo", f"ranking {ranking}"
    assert ranking[0][1] == ranking[0][2] == result.informative, f"ranking {ranking}"


def test_torch_with_the_bias_in_both_bias_vectors():
    pytest.importorskip("torch", reason="torch is not installed")
    ranking, result = _diagnosed(torch_bias_in_both)
    assert ranking and ranking[0][0] == "forget_bias_doubled+bias_twice", f"ranking {ranking}"
    assert ranking[0][1] == ranking[0][2] == result.informative, f"ranking {ranking}"


def test_onnxruntime_clip_is_not_tf_cell_clip():
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    pytest.importorskip("onnx", reason="onnx is not installed")
    ranking, result = _diagnosed(onnxruntime_with_clip, {"cell_clip": 0.4})
    assert ranking and ranking[0][0] == "cell_clip_preactivation", f"ranking {ranking}"
    assert ranking[0][1] == ranking[0][2] == result.informative, f"ranking {ranking}"
