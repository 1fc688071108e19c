"""Models as candidates: torch/Keras objects and .pt/.onnx/.tflite/.keras files, with their own weights."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conformance.candidates import load_params, resolve
from conformance.run import CheckOptions, check
from conformance.spec import CandidateLoadError, InvalidArgument, PinnedParams, save_params_npz
from tests.report_helpers import validate_report_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec("torch") is None:
    pytest.skip("torch is not installed", allow_module_level=True)


class _LazyTorch:
    """torch, imported on first use: importing it at collection would load it into every xdist worker before any
    test ran (the unit tests' import guard in tests/conftest.py reports that)."""

    def __getattr__(self, name: str):
        # pytest's collection asks every module attribute for __test__, _fixture_function_marker, pytestmark ...
        if name.startswith(("_", "pytest")):
            raise AttributeError(name)
        import torch as module

        return getattr(module, name)


torch = _LazyTorch()


def _trained_lstm(proj_size=0, seed=0):
    """A torch LSTM whose weights are not torch's defaults (as training leaves them): every parameter redrawn."""
    torch.manual_seed(seed)
    m = torch.nn.LSTM(3, 5, batch_first=True, proj_size=proj_size)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, 0.6)
    return m


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_a_trained_torch_lstm_passes_check_of_the_module():
    m = _trained_lstm(proj_size=2)
    result = check(m, CheckOptions(max_examples=48, seed=1))
    assert result.verdict == "conformant", result.counterexample
    weights = result.weights
    assert weights["source"] == "model" and weights["sha256"] is None
    assert weights["config"]["num_proj"] == 2 and weights["config"]["forget_bias"] == 0.0
    assert {"initial_state", "sequence_length", "projection"} <= set(result.features)


def test_the_weights_really_come_from_the_module():
    m = _trained_lstm()
    pinned = resolve(m).fn.pinned_params
    w = m.weight_ih_l0.detach().numpy()  # [4H, I], gates i, f, g, o
    H = 5
    assert np.array_equal(pinned.params.kernel[:3, H : 2 * H], w[2 * H : 3 * H].T)  # TF's j is torch's g
    assert np.array_equal(pinned.params.kernel[:3, 2 * H : 3 * H], w[H : 2 * H].T)  # TF's f is torch's f


def test_a_saved_torch_module_passes_check_model_pt(tmp_path):
    m = _trained_lstm(seed=3)
    torch.save(m, tmp_path / "model.pt")
    proc = _cli("check", str(tmp_path / "model.pt"), "--max-examples", "32", "--seed", "2", "-q",
                "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "weights: taken from the model " + str(tmp_path / "model.pt") in proc.stdout
    weights = validate_report_file(tmp_path / "r" / "report.json")["weights"]
    assert weights["source"] == "model" and len(weights["sha256"]) == 64
    torch.jit.save(torch.jit.script(m), str(tmp_path / "scripted.pt"))  # TorchScript: no row lengths
    scripted = check(str(tmp_path / "scripted.pt"), CheckOptions(max_examples=16, seed=2))
    assert scripted.verdict == "conformant" and scripted.weights["source"] == "model"


def test_a_weight_conversion_error_shows_with_params(tmp_path):
    """The oracle runs the original TF weights (--params), the model its own: a port that forgot to reorder the
    gates is NONCONFORMANT, the correct port CONFORMANT."""
    rng = np.random.default_rng(5)
    I, H = 3, 4
    kernel = rng.normal(size=(I + H, 4 * H)).astype(np.float32)
    bias = rng.normal(size=4 * H).astype(np.float32)
    path = str(tmp_path / "tf.npz")
    np.savez(path, kernel=kernel, bias=bias, config=np.array(json.dumps({"forget_bias": 1.0})))
    pinned = load_params(path)

    def port(reorder: bool):
        m = torch.nn.LSTM(I, H, batch_first=True)
        order = [0, 2, 1, 3] if reorder else [0, 1, 2, 3]  # TF i, j, f, o -> torch i, f, g, o
        blocks = lambda a: np.concatenate([a[..., k * H : (k + 1) * H] for k in order], axis=-1)  # noqa: E731
        b = bias.copy()
        b[2 * H : 3 * H] += 1.0  # forget_bias folded in
        with torch.no_grad():
            m.weight_ih_l0.copy_(torch.from_numpy(blocks(kernel[:I]).T.copy()))
            m.weight_hh_l0.copy_(torch.from_numpy(blocks(kernel[I:]).T.copy()))
            m.bias_ih_l0.copy_(torch.from_numpy(blocks(b)))
            m.bias_hh_l0.zero_()
        return m

    good = check(port(True), CheckOptions(max_examples=32, seed=1, params=pinned))
    assert good.verdict == "conformant", good.counterexample
    assert good.weights["source"] == "pinned"
    bad = check(port(False), CheckOptions(max_examples=32, seed=1, params=pinned))
    assert bad.verdict == "nonconformant"
    assert pinned.matches(bad.counterexample.case)


def test_params_of_other_sizes_than_the_model_are_refused(tmp_path):
    other = PinnedParams(resolve(_trained_lstm()).fn.pinned_params.config.replace(num_units=2, input_size=3),
                         resolve(torch.nn.LSTM(3, 2)).fn.pinned_params.params)
    with pytest.raises(InvalidArgument, match="are not the model's"):
        check(_trained_lstm(), CheckOptions(max_examples=4, params=other))


def test_an_onnx_file_exported_by_tf2onnx_from_a_tf_lstmcell_checks_out(tmp_path):
    tf2onnx = pytest.importorskip("tf2onnx")
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    cell = tf.compat.v1.nn.rnn_cell.LSTMCell(4)  # tf2onnx leaves a cell with peepholes unfused (a Loop)
    spec = [tf.TensorSpec([2, 5, 3], tf.float32)]

    @tf.function(input_signature=spec)
    def f(x):
        out, state = tf.compat.v1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
        return out, state.c, state.h

    f.get_concrete_function()
    rng = np.random.default_rng(0)
    for v in cell.variables:
        v.assign(rng.normal(size=v.shape).astype(np.float32) * 0.7)
    tf.train.Checkpoint(cell=cell).write(str(tmp_path / "ckpt" / "cell"))
    tf2onnx.convert.from_function(f, input_signature=spec, opset=14, output_path=str(tmp_path / "tf.onnx"))
    # Row lengths left out: onnxruntime's LSTM returns zeros, not the initial state, for a row of length 0
    # (docs/mapping.md), a finding of its own that the full run reports.
    args = ["--max-examples", "32", "--seed", "1", "-q", "--feature", "initial_state", "--feature", "time_major"]
    proc = _cli("check", str(tmp_path / "tf.onnx"), *args, "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "weights: taken from the model" in proc.stdout
    # The original TF weights (the checkpoint) for the oracle, tf2onnx's baked ones (forget_bias folded in) in
    # the model: the conversion is right.
    proc = _cli("check", str(tmp_path / "tf.onnx"), "--params", str(tmp_path / "ckpt" / "cell"), *args,
                "--report-dir", str(tmp_path / "r2"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "r2" / "report.json").read_text())
    assert report["weights"]["source"] == "pinned" and report["weights"]["config"]["forget_bias"] == 1.0


def test_a_tflite_file_converted_from_a_tf_keras_lstm_checks_out(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    inp = tf_keras.Input(shape=(5, 3), batch_size=2)  # the converter needs static shapes to fuse the LSTM
    layer = tf_keras.layers.LSTM(4, return_sequences=True)
    model = tf_keras.Model(inp, layer(inp))
    rng = np.random.default_rng(1)
    layer.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])
    (tmp_path / "k.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    proc = _cli("check", str(tmp_path / "k.tflite"), "--max-examples", "24", "--seed", "1", "-q",
                "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["weights"]["source"] == "model" and report["examples"] > 0
    assert "initial_state" in report["coverage"]["features"]


def test_a_keras_model_object_and_file_with_one_lstm(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    layer = tf_keras.layers.LSTM(4, return_sequences=True, activation="softsign")
    model = tf_keras.Sequential([tf_keras.Input(shape=(None, 3)), layer, tf_keras.layers.Dense(2)])
    rng = np.random.default_rng(2)
    layer.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])
    result = check(model, CheckOptions(max_examples=24, seed=1))
    assert result.verdict == "conformant", result.counterexample
    assert result.weights["config"]["activation"] == "softsign"
    model.save(tmp_path / "m.keras")
    assert check(str(tmp_path / "m.keras"), CheckOptions(max_examples=16, seed=1)).verdict == "conformant"


def _two():
    """A module holding two LSTMs (defined here, not at module level: that would import torch at collection)."""

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = torch.nn.LSTM(3, 4, batch_first=True), torch.nn.LSTM(4, 2, batch_first=True)

        def forward(self, x):
            return self.second(self.first(x)[0])[0]

    return Two()


def test_several_lstms_need_node_and_the_error_lists_them(tmp_path):
    torch.jit.save(torch.jit.script(_two()), str(tmp_path / "two.pt"))  # TorchScript: the other .pt kind
    with pytest.raises(CandidateLoadError, match="2 torch LSTM/LSTMCell modules; pick one with --node NAME.*first, second"):
        resolve(str(tmp_path / "two.pt"))
    assert resolve(str(tmp_path / "two.pt") + "#second").fn.pinned_params.config.num_units == 2
    with pytest.raises(CandidateLoadError, match="no torch LSTM/LSTMCell module named 'third'; choices: first, second"):
        resolve(str(tmp_path / "two.pt") + "#third")


def test_a_bad_model_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "junk.onnx").write_text("not a model")
    proc = _cli("check", str(tmp_path / "junk.onnx"), "-q", "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "expected an ONNX model, found an unreadable file" in lines[-1]


def test_params_file_round_trip_of_a_models_weights(tmp_path):
    pinned = resolve(_trained_lstm(proj_size=2)).fn.pinned_params
    save_params_npz(pinned, str(tmp_path / "w.npz"))
    again = load_params(str(tmp_path / "w.npz"))
    assert again.config == pinned.config and all(
        np.array_equal(a, b) for a, b in zip(again.params.arrays().values(), pinned.params.arrays().values()))


def test_a_keras_savedmodel_directory_and_a_keras3_layer(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    keras = pytest.importorskip("keras")
    layer = tf_keras.layers.LSTM(3, return_sequences=True)
    model = tf_keras.Sequential([tf_keras.Input(shape=(None, 2)), layer])
    rng = np.random.default_rng(6)
    layer.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])
    model.save(str(tmp_path / "saved"), save_format="tf")
    assert os.path.isfile(tmp_path / "saved" / "saved_model.pb")
    result = check(str(tmp_path / "saved"), CheckOptions(max_examples=16, seed=1))
    assert result.verdict == "conformant", result.counterexample
    assert result.weights["source"] == "model" and result.weights["config"]["num_units"] == 3
    k3 = keras.layers.LSTM(5)  # return_sequences off: the candidate still sees every step (its clone)
    k3.build((None, None, 2))
    k3.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in k3.get_weights()])
    result = check(k3, CheckOptions(max_examples=16, seed=1))
    assert result.verdict == "conformant", result.counterexample


def test_replayed_cases_of_other_weights_are_not_run_against_a_model():
    """A corpus case holds its own weights, which a model ignores: replaying it would blame the model."""
    from conformance.spec import Case, InitialState

    m = _trained_lstm(seed=7)
    own = resolve(m).fn.pinned_params
    rng = np.random.default_rng(0)
    other = own.params.replace(kernel=rng.normal(size=own.params.kernel.shape).astype(np.float32))
    foreign = Case(own.config, other, rng.normal(size=(1, 3, 3)).astype(np.float32),
                   InitialState(np.zeros((1, 5), np.float32), np.zeros((1, 5), np.float32)))
    result = check(m, CheckOptions(max_examples=8, seed=1, replay=[foreign]))
    assert result.verdict == "conformant", result.counterexample


def test_a_trained_torch_lstmcell_passes_and_a_broken_one_does_not():
    torch.manual_seed(4)
    cell = torch.nn.LSTMCell(2, 3)
    with torch.no_grad():
        for p in cell.parameters():
            p.normal_(0.0, 0.6)
    result = check(cell, CheckOptions(max_examples=32, seed=1))
    assert result.verdict == "conformant", result.counterexample
    assert "sequence_length" not in result.features  # an LSTMCell has no row lengths

    class Broken(torch.nn.LSTMCell):  # a cell that skips the forget gate: c = i * g
        def forward(self, x, hx):
            gates = x @ self.weight_ih.T + self.bias_ih + hx[0] @ self.weight_hh.T + self.bias_hh
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c

    broken = Broken(2, 3)
    broken.load_state_dict(cell.state_dict())
    assert check(broken, CheckOptions(max_examples=32, seed=1)).verdict == "nonconformant"


def test_an_unfused_tflite_model_runs_with_params_only(tmp_path):
    """return_state=True sends the converter down its WHILE path: no fused op holds the weights."""
    tf_keras = pytest.importorskip("tf_keras")
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    inp = tf_keras.Input(shape=(4, 3), batch_size=2)
    layer = tf_keras.layers.LSTM(4, return_sequences=True, return_state=True)
    model = tf_keras.Model(inp, layer(inp))
    rng = np.random.default_rng(8)
    layer.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])
    (tmp_path / "w.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    with pytest.raises(InvalidArgument, match="its weights cannot be read from the model; give the TF weights"):
        check(str(tmp_path / "w.tflite"), CheckOptions(max_examples=4))
    save_params_npz(resolve(model).fn.pinned_params, str(tmp_path / "kw.npz"))
    result = check(str(tmp_path / "w.tflite"), CheckOptions(max_examples=24, seed=1,
                                                            params=load_params(str(tmp_path / "kw.npz"))))
    assert result.verdict == "conformant", result.counterexample
    assert result.weights["source"] == "pinned"


def test_model_file_targets_are_told_by_suffix_or_saved_model_dir(tmp_path):
    from conformance.candidates._models import model_file_kind

    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    assert model_file_kind(str(tmp_path / "sm")) == "saved_model"
    assert model_file_kind("m.tflite#op") == "tflite" and model_file_kind("m.PT") == "torch"
    assert model_file_kind("exec:./run m.onnx") is None and model_file_kind("numpy-reference") is None
    assert model_file_kind(str(tmp_path)) is None
