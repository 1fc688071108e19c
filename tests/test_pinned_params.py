"""Pinned parameters (``check --params FILE``): the .npz format, the strategy, the run and its reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

import strategies
from conformance.candidates import load_params
from conformance.candidates.adapters._layout import (
    KERAS_ORDER,
    ONNX_ORDER,
    TORCH_ORDER,
    folded_bias,
    peepholes,
    reorder_gates,
    split_kernel,
    tf_from_keras,
    tf_from_onnx,
    tf_from_torch,
    unorder_gates,
)
from conformance.run import CheckOptions, check
from conformance.spec import Case, InitialState, InvalidArgument, LSTMConfig, LSTMParams, load_params_npz
from tests.report_helpers import validate_report_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _params_file(tmp_path, name="p.npz", *, I=3, H=4, proj=None, peeps=False, config=None, seed=0, **extra):
    rng = np.random.default_rng(seed)
    P = proj or H
    arrays = {"kernel": rng.normal(size=(I + P, 4 * H)).astype(np.float32),
              "bias": rng.normal(size=4 * H).astype(np.float32)}
    if peeps:
        arrays.update({k: rng.normal(size=H).astype(np.float32) for k in ("w_i_diag", "w_f_diag", "w_o_diag")})
    if proj:
        arrays["proj_kernel"] = rng.normal(size=(H, P)).astype(np.float32)
    if config is not None:
        arrays["config"] = np.array(json.dumps(config))
    arrays.update(extra)
    path = str(tmp_path / name)
    np.savez(path, **arrays)
    return path, arrays


def test_npz_format_reads_sizes_from_arrays_and_fields_from_config(tmp_path):
    path, arrays = _params_file(tmp_path, I=2, H=3, proj=2, peeps=True,
                                config={"forget_bias": 0.25, "cell_clip": 3.0, "activation": "softsign"})
    pinned = load_params_npz(path)
    cfg = pinned.config
    assert (cfg.input_size, cfg.num_units, cfg.num_proj, cfg.use_peepholes) == (2, 3, 2, True)
    assert (cfg.forget_bias, cfg.cell_clip, cfg.activation, cfg.dtype) == (0.25, 3.0, "softsign", "float32")
    assert np.array_equal(pinned.params.kernel, arrays["kernel"])
    assert pinned.source == "pinned" and len(pinned.sha256) == 64


def test_a_case_file_is_a_params_file(tmp_path):
    cfg = LSTMConfig(num_units=2, input_size=3, forget_bias=0.0)
    rng = np.random.default_rng(1)
    case = Case(cfg, LSTMParams(rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)),
                np.ones((1, 2, 3), np.float32), InitialState(np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32)))
    case.save_npz(str(tmp_path / "c.npz"))
    pinned = load_params(str(tmp_path / "c.npz"))
    assert pinned.config == cfg and np.array_equal(pinned.params.kernel, case.params.kernel)


@pytest.mark.parametrize("kwargs, words", [
    ({"bias": None}, "expected arrays kernel [I+P, 4H] and bias [4H]"),
    ({"w_i_diag": np.zeros(4, np.float32)}, "all three peephole arrays"),
    ({"config": np.array('{"num_units": 5}')}, "config says num_units=5, the arrays say 4"),
    ({"config": np.array('{"activation": "gelu"}')}, "activation='gelu'"),
    ({"extra": np.zeros(2)}, "found also extra"),
])
def test_a_bad_params_file_is_one_line_naming_expected_and_found(tmp_path, kwargs, words):
    path, arrays = _params_file(tmp_path)
    arrays.update(kwargs)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(InvalidArgument) as info:
        load_params_npz(path)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_not_an_npz_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_text("hello")
    with pytest.raises(InvalidArgument, match="expected an .npz of TF-layout arrays"):
        load_params_npz(str(bad))


def test_inverse_mappings_round_trip():
    rng = np.random.default_rng(3)
    I, H = 3, 4
    cfg = LSTMConfig(num_units=H, input_size=I, forget_bias=0.5, use_peepholes=True)
    params = LSTMParams(rng.normal(size=(I + H, 4 * H)).astype(np.float32), rng.normal(size=4 * H).astype(np.float32),
                        *(rng.normal(size=H).astype(np.float32) for _ in range(3)))
    case = Case(cfg, params, np.zeros((1, 1, I), np.float32),
                InitialState(np.zeros((1, H), np.float32), np.zeros((1, H), np.float32)))
    kx, kh = split_kernel(case)
    want_bias = folded_bias(case)  # libraries hold the forget bias folded in; the inverse sets forget_bias 0
    for order in (TORCH_ORDER, KERAS_ORDER, ONNX_ORDER, "jifo"):
        assert np.array_equal(unorder_gates(reorder_gates(params.kernel, H, order), H, order), params.kernel)
    t, fields = tf_from_torch(reorder_gates(kx, H, TORCH_ORDER).T, reorder_gates(kh, H, TORCH_ORDER).T,
                              folded_bias(case, TORCH_ORDER), np.zeros(4 * H, np.float32))
    assert fields == {"forget_bias": 0.0}
    assert np.array_equal(t["kernel"], params.kernel) and np.array_equal(t["bias"], want_bias)
    k, _ = tf_from_keras(reorder_gates(kx, H, KERAS_ORDER), reorder_gates(kh, H, KERAS_ORDER),
                         folded_bias(case, KERAS_ORDER))
    assert np.array_equal(k["kernel"], params.kernel) and np.array_equal(k["bias"], want_bias)
    p = peepholes(case)
    o, _ = tf_from_onnx(reorder_gates(kx, H, ONNX_ORDER).T, reorder_gates(kh, H, ONNX_ORDER).T,
                        np.concatenate([folded_bias(case, ONNX_ORDER), np.zeros(4 * H, np.float32)]),
                        np.concatenate([p["i"], p["o"], p["f"]]))
    assert np.array_equal(o["kernel"], params.kernel) and np.array_equal(o["bias"], want_bias)
    assert all(np.array_equal(o[f"w_{g}_diag"], p[g]) for g in "ifo")


def test_pinned_cases_keep_config_and_weights_and_draw_the_rest(tmp_path):
    path, _ = _params_file(tmp_path, config={"forget_bias": 0.0})
    pinned = load_params_npz(path)
    seen = {"lengths": False, "state": False, "time_major": False}

    @settings(max_examples=20, database=None)
    @given(strategies.pinned_cases(pinned, features={"initial_state", "sequence_length", "time_major", "peepholes"}))
    def run(batch):
        for case in batch:
            case.validate()
            assert pinned.matches(case)
            seen["lengths"] |= case.sequence_length is not None
            seen["state"] |= not case.initial_state.is_zero()
            seen["time_major"] |= case.config.time_major

    run()
    assert all(seen.values()), seen


def _run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_check_numpy_reference_with_params_runs_pinned_and_reports_them(tmp_path):
    path, arrays = _params_file(tmp_path, I=2, H=3, peeps=True, config={"forget_bias": 0.5, "cell_clip": 1.5})
    proc = _run("check", "numpy-reference", "--params", path, "--max-examples", "32", "--seed", "1", "-q",
                "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "weights: pinned from " + path in proc.stdout
    report = validate_report_file(tmp_path / "r" / "report.json")  # the schema knows "weights"
    weights = report["weights"]
    assert weights["source"] == "pinned" and weights["origin"] == path
    assert weights["sha256"] == load_params_npz(path).sha256
    assert weights["config"]["cell_clip"] == 1.5 and weights["shapes"]["kernel"] == [5, 12]
    assert report["coverage"]["dtypes"] == ["float32"]
    assert {"peepholes", "cell_clip", "forget_bias"} <= set(report["coverage"]["features"])
    assert "pinned from" in (tmp_path / "r" / "report.html").read_text()


def test_a_generated_run_says_generated(tmp_path):
    result = check("numpy-reference", CheckOptions(max_examples=4, seed=0, diagnose=False))
    from conformance.report import build_report

    assert result.weights is None and build_report(result)["weights"] == {"source": "generated"}


def test_the_minimizer_keeps_pinned_weights(tmp_path):
    path, arrays = _params_file(tmp_path, I=3, H=4)  # forget_bias 1.0: the one this candidate drops
    pinned = load_params_npz(path)
    result = check("seed-missing-forget-bias", CheckOptions(max_examples=64, seed=2, params=pinned, diagnose=False))
    assert result.verdict == "nonconformant"
    cx = result.counterexample
    assert pinned.matches(cx.case), "the minimizer changed the pinned config or weights"
    assert cx.case.batch == 1  # it still shrank what it may (rows, steps, inputs)


def test_bad_params_on_the_command_line_exit_2_in_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, weights=np.zeros(3))
    proc = _run("check", "numpy-reference", "--params", str(bad), "-q", "--report-dir", str(tmp_path / "r"),
                cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "expected arrays kernel [I+P, 4H] and bias [4H], found ['weights']" in lines[0]


def test_a_pinned_feature_the_candidate_lacks_is_refused(tmp_path):
    path, _ = _params_file(tmp_path, peeps=True)
    with pytest.raises(InvalidArgument, match=r"uses \['peepholes'\]"):
        check("seed-missing-forget-bias", CheckOptions(max_examples=4, params=load_params_npz(path)))


def test_fuzz_with_params_runs_the_pinned_dtype_and_reports_the_weights(tmp_path):
    path, _ = _params_file(tmp_path, config={"forget_bias": 0.5})
    proc = _run("fuzz", "numpy-reference", "--params", path, "--budget", "40s", "--db", "none", "-q",
                "--no-isolate", "--report-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["weights"]["source"] == "pinned" and report["weights"]["origin"] == path
    assert report["coverage"]["dtypes"] == ["float32"] and report["examples"] > 0


def test_a_tf_checkpoint_of_an_lstmcell_is_a_params_file(tmp_path):
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    cell = tf.compat.v1.nn.rnn_cell.LSTMCell(4, use_peepholes=True, num_proj=2)
    cell.build(tf.TensorShape([1, 3]))  # the variables (calling the legacy cell eagerly breaks after a tf.function)
    rng = np.random.default_rng(4)
    for v in cell.variables:
        v.assign(rng.normal(size=v.shape).astype(np.float32))
    prefix = tf.train.Checkpoint(cell=cell).write(str(tmp_path / "ckpt" / "cell"))
    pinned = load_params(prefix)
    cfg = pinned.config
    assert (cfg.input_size, cfg.num_units, cfg.num_proj, cfg.use_peepholes, cfg.forget_bias) == (3, 4, 2, True, 1.0)
    # Keras names a process's later cells lstm_cell_1, ...: the key is what follows the cell's own scope.
    values = {("projection/" if "projection/" in v.name else "") + v.name.split(":")[0].rsplit("/", 1)[-1]: v.numpy()
              for v in cell.variables}
    assert np.array_equal(pinned.params.kernel, values["kernel"])
    assert np.array_equal(pinned.params.proj_kernel, values["projection/kernel"])
    assert np.array_equal(pinned.params.w_f_diag, values["w_f_diag"])
    assert pinned.source == "pinned" and len(pinned.sha256) == 64
    with pytest.raises(InvalidArgument, match="no such file"):
        load_params(str(tmp_path / "ckpt" / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="expected a TF checkpoint or SavedModel"):
        load_params(str(tmp_path / "empty"))


def test_choices_generation_with_params_shrinks_to_the_pinned_weights(tmp_path):
    path, _ = _params_file(tmp_path, I=2, H=3)
    pinned = load_params_npz(path)
    result = check("seed-missing-forget-bias", CheckOptions(max_examples=30, seed=3, params=pinned, diagnose=False,
                                                           generation="choices"))
    assert result.verdict == "nonconformant" and pinned.matches(result.counterexample.case)
