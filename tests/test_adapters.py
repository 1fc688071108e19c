"""The adapters for real LSTM libraries: each maps the canonical TF layout correctly.

Two levels per adapter, each skipped (with the reason) when its library is missing:

* a fixed case with *every* feature the adapter declares switched on, in every dtype it
  declares, against the float64 spec: pins the layout mapping exactly;
* a small Hypothesis ``check`` against real TF over its declared features.

Plus the mapping pitfalls the adapters exist to get right (BlockLSTM's default
cell_clip, torch's proj_size limit, Keras' backend chosen at import, ONNX ``clip``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from conformance import Case, CheckOptions, InitialState, LSTMConfig, LSTMParams, check, reference
from conformance.candidates import BUILTINS, call_candidate, resolve
from conformance.spec import CandidateFault
from conformance.testing import assert_conformant
from tests.helpers import assert_results_close

#: Converter pipelines (a conversion, not a re-implementation: their findings are the converters' own) are
#: checked in tests/test_converters.py, not by the generic adapter tests here.
CONVERTERS = ("tflite-fused", "tflite-while", "tf2onnx")
ADAPTERS = [name for name, b in BUILTINS.items()
            if b.target.startswith("conformance.candidates.adapters.") and name not in CONVERTERS]
#: Agreement with the float64 spec on the fixed, well-conditioned case: a few dozen roundings of each dtype.
SPEC_TOLERANCE = {"float64": 1e-12, "float32": 2e-5, "float16": 2e-2, "bfloat16": 8e-2}
#: Real divergences found in the libraries (reports/builtin/matrix.md): (adapter, dtype) -> what is wrong.
#: They stay declared, and the tests below assert they are still detected.
KNOWN_FINDINGS = {
    ("keras3-jax", "float64"): "Keras 3's JAX backend computes ops.tanh of float64 tensors in float32 "
                               "(keras.src.backend.common.dtypes.BIT64_TO_BIT32_DTYPE), so float64 LSTM outputs "
                               "carry float32 rounding errors (~1e-8)",
}


#: Adapters whose library's row-length contract differs from dynamic_rnn's (tests/test_adapters_sequence.py
#: asserts those findings): their general check below leaves sequence_length out.
LENGTH_FINDINGS = frozenset({"keras3-tensorflow", "keras3-jax", "keras3-torch", "tf-keras-lstm", "flax-lstmcell",
                             "flax-optimized-lstmcell", "onnxruntime-lstm"})


#: Stacked and bidirectional cases (tests/test_adapters_network.py checks them for every adapter).
NETWORK_FEATURES = frozenset({"stacked", "bidirectional"})


def requires(name: str):
    missing = [r for r in BUILTINS[name].requires if importlib.util.find_spec(r) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{name} needs {', '.join(missing)} (not installed)")


def adapter_params(names=ADAPTERS):
    return [pytest.param(n, marks=requires(n), id=n) for n in names]


def full_case(info, dtype: str, *, seed: int = 0, batch: int = 2, time: int = 5, scale: float = 0.6) -> Case:
    """A dense case using every feature ``info`` declares (forget_bias 0.3, softsign, clips that bite)."""
    f = info.features
    projecting = "projection" in f
    cfg = LSTMConfig(
        num_units=4, input_size=3, dtype=dtype,
        forget_bias=0.3 if "forget_bias" in f else 1.0,
        use_peepholes="peepholes" in f,
        cell_clip=0.4 if "cell_clip" in f else None,
        num_proj=3 if projecting else None,  # < num_units: torch's proj_size limit
        proj_clip=0.3 if projecting and "proj_clip" in f else None,
        activation="softsign" if "activation" in f else "tanh",
    )
    rng = np.random.default_rng(seed)
    npd, I, H, P = cfg.np_dtype, cfg.input_size, cfg.num_units, cfg.output_size
    r = lambda *shape: (rng.standard_normal(shape) * scale).astype(npd)
    diag = (lambda: r(H)) if cfg.use_peepholes else (lambda: None)
    params = LSTMParams(kernel=r(I + P, 4 * H), bias=r(4 * H), w_i_diag=diag(), w_f_diag=diag(), w_o_diag=diag(),
                        proj_kernel=r(H, P) if projecting else None)
    if "initial_state" in f:
        state = InitialState(r(batch, H), r(batch, P))
    else:
        state = InitialState(np.zeros((batch, H), npd), np.zeros((batch, P), npd))
    return Case(cfg, params, r(batch, time, I), state).validate()


def _keras_subprocess(name: str) -> bool:
    # Keras 3 fixes its backend at import: run it in a process of its own.
    return bool(resolve(name).info.env)


@pytest.mark.parametrize("name", adapter_params())
def test_adapter_matches_spec_with_every_declared_feature(name):
    loaded = resolve(name)
    if _keras_subprocess(name):
        code = (
            "import sys; from tests.test_adapters import check_against_spec; "
            f"check_against_spec({name!r}); print('ok')"
        )
        env = dict(os.environ, **loaded.info.env)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert proc.returncode == 0 and "ok" in proc.stdout, f"{name} in its own process:\n{proc.stderr[-3000:]}"
    else:
        check_against_spec(name)


def check_against_spec(name: str) -> None:
    """Every declared dtype: the adapter's outputs, c and h against the float64 spec.

    Two cases each: every declared feature on, and the tanh baseline (with the
    initial state if declared).  A known finding must still show, and only there.
    """
    loaded = resolve(name)
    os.environ.update(loaded.info.env)
    baseline_info = dataclasses.replace(loaded.info, features=loaded.info.features & {"initial_state"})
    for dtype in sorted(loaded.info.dtypes):
        for label, info in (("every feature", loaded.info), ("tanh baseline", baseline_info)):
            case = full_case(info, dtype)
            got = call_candidate(loaded.fn, case)
            for array, a in got.arrays().items():
                assert a.dtype == case.config.np_dtype, f"{name} {dtype}: {array} has dtype {a.dtype}"
            tol = SPEC_TOLERANCE[dtype]
            what = f"{name} {dtype} {label} features={sorted(info.features)}"
            finding = KNOWN_FINDINGS.get((name, dtype))
            if finding and label == "tanh baseline":
                err = max(float(np.max(np.abs(g.astype(np.float64) - e)))
                          for g, e in zip(got.arrays().values(), reference(case).arrays().values()))
                assert tol < err < 1e-5, f"{what}: known finding ({finding}) no longer shows: max error {err:.3g}"
                continue
            assert_results_close(got, reference(case), atol=tol, rtol=tol, label=what)


@pytest.mark.parametrize("name", adapter_params())
def test_adapter_conformant_under_check(name, oracle):
    """A short Hypothesis run against real TF over every declared feature and dtype."""
    isolate = _keras_subprocess(name)
    dtypes = [d for d in resolve(name).info.dtypes if (name, d) not in KNOWN_FINDINGS]  # tested below
    features = resolve(name).info.features - ({"sequence_length"} if name in LENGTH_FINDINGS else set())
    if isolate:  # the isolation worker returns (outputs, c, h) only: networks in tests/test_adapters_network.py
        features -= NETWORK_FEATURES
    options = CheckOptions(max_examples=12, seed=3, max_time=6, long_sequences=False, max_units=6,
                           max_input_size=5, minimize_seconds=20, diagnose=False, isolate=isolate,
                           timeout_seconds=300 if isolate else None, dtypes=dtypes, features=features)
    result = check(name, options, oracle=oracle)
    cx = result.counterexample
    if cx is not None and cx.kind == "mismatch":
        from conformance.campaign import MatrixSettings, control_verdict

        control = control_verdict(cx.case, MatrixSettings())
        if control is not None:
            pytest.xfail(f"{name}: ill-conditioned case the correct numpy-reference fails too ({control})")
    assert result.verdict == "conformant", (
        f"{name}: {result.verdict} after {result.examples} examples: "
        f"{cx.kind + ': ' + cx.comparison.message if cx else result.error}; case {cx.case.describe() if cx else ''}"
    )


@pytest.mark.parametrize("name, dtype", [pytest.param(n, d, marks=requires(n), id=f"{n}-{d}")
                                         for n, d in KNOWN_FINDINGS])
def test_known_finding_is_detected_by_check(name, dtype, oracle):
    """The harness finds the divergence by itself and shrinks it to a readable case."""
    features = resolve(name).info.features - ({"sequence_length"} if name in LENGTH_FINDINGS else set())
    if _keras_subprocess(name):  # the isolation worker returns (outputs, c, h) only (see above)
        features -= NETWORK_FEATURES
    options = CheckOptions(max_examples=40, seed=3, max_time=6, long_sequences=False, max_units=6, max_input_size=5,
                           minimize_seconds=30, diagnose=False, dtypes=[dtype], isolate=_keras_subprocess(name),
                           timeout_seconds=300, features=features)
    result = check(name, options, oracle=oracle)
    cx = result.counterexample
    assert result.verdict == "nonconformant" and cx is not None, f"{name} {dtype}: {KNOWN_FINDINGS[(name, dtype)]} " \
        f"was not detected in {result.examples} examples"
    assert cx.kind == "mismatch" and cx.comparison.max_abs_error < 1e-5, f"{cx.kind}: {cx.comparison.message}"
    assert cx.case.time == 1 and cx.case.nonzero_values() <= 3, f"not minimized: {cx.case.describe()}"


@pytest.mark.parametrize("name", adapter_params(["onnxruntime-lstm"]))
def test_onnxruntime_sigmoid_underflow_is_detected(name, oracle):
    """Finding (`check onnxruntime-lstm --dtype float32 --seed 0`, example 118, minimized): onnxruntime's
    float32 Sigmoid returns 0 for inputs <= -18 (TF: 1.5e-8), so an input gate at -18 admits nothing of
    a large cell input: c = 0 where TF has sigmoid(-18) * relu(300) = 4.6e-6.  Three numbers, one step."""
    cfg = LSTMConfig(num_units=1, input_size=1, activation="relu")
    kernel = np.zeros((2, 4), np.float32)
    kernel[0, :2] = [0.06, -1.0]  # gate i = 0.06 * x = -18, gate j = -x = 300
    zeros = np.zeros((1, 1), np.float32)
    case = Case(cfg, LSTMParams(kernel, np.zeros(4, np.float32)), np.full((1, 1, 1), -300, np.float32),
                InitialState(zeros, zeros)).validate()
    expected = oracle.run(case)
    assert 4e-6 < float(expected.c[0, 0]) < 5e-6, f"TF's c = {expected.c[0, 0]}: not the case this test is about"
    assert_conformant("numpy-reference", case, oracle=oracle)  # the control passes it (else it is no finding)
    with pytest.raises(AssertionError, match=r"mismatch: outputs\[0, 0, 0\] \(time step 0\): got 0"):
        assert_conformant(name, case, oracle=oracle)
    got = call_candidate(resolve(name).fn, case)
    assert float(got.c[0, 0]) == 0.0, (
        f"onnxruntime c = {got.c[0, 0]}: if its Sigmoid no longer underflows at -18, drop this finding")


@pytest.mark.parametrize("name", adapter_params(["onnxruntime-lstm"]))
def test_onnxruntime_relu_cell_drift_is_detected(name, oracle):
    """Finding (the published matrix before issue 17's model change; its 10-example cell no longer meets it):
    with a relu cell activation the cell state grows to ~10 and
    onnxruntime's float32 LSTM drifts 3.8e-5 from the float64 spec (~64 ulps) where TF and numpy-reference
    stay within 1e-6.  The minimized case, 7 numbers, as the matrix found it."""
    cfg = LSTMConfig(num_units=1, input_size=1, activation="relu")
    kernel = np.zeros((2, 4), np.float32)
    kernel[1, [0, 2, 3]] = [-2.0, -2.0, -7.810287952423096]
    bias = np.array([4.0, 3.0, 2.3437788486480713, -2.0], np.float32)
    zeros = np.zeros((1, 1), np.float32)
    case = Case(cfg, LSTMParams(kernel, bias), np.zeros((1, 20, 1), np.float32), InitialState(zeros, zeros)).validate()
    assert_conformant("numpy-reference", case, oracle=oracle)  # the control passes it (else it is no finding)
    with pytest.raises(AssertionError, match="mismatch"):
        assert_conformant(name, case, oracle=oracle)
    got = call_candidate(resolve(name).fn, case)
    drift = abs(float(got.c[0, 0]) - float(reference(case).c[0, 0]))
    assert 1e-5 < drift < 1e-3, (f"onnxruntime c_T drift from the spec is {drift:.3g}: "
                                 "if onnxruntime changed its activations, drop this finding")


def test_every_adapter_is_registered_with_its_packages():
    expected = {"torch-lstm": ("torch",), "torch-lstmcell": ("torch",), "keras3-tensorflow": ("keras", "tensorflow"),
                "keras3-jax": ("keras", "jax"), "keras3-torch": ("keras", "torch"),
                "tf-keras-lstm": ("tensorflow", "tf_keras"), "flax-lstmcell": ("jax", "flax"),
                "flax-optimized-lstmcell": ("jax", "flax"), "onnxruntime-lstm": ("onnx", "onnxruntime"),
                "tf-lstmblockcell": ("tensorflow",), "tf-blocklstm": ("tensorflow",)}
    got = {n: BUILTINS[n].requires for n in ADAPTERS}
    assert got == expected, f"BUILTINS adapters/requires: got {got}, expected {expected}"


def test_declarations_are_what_the_libraries_can_express():
    declared = {n: (sorted(resolve(n).info.features), sorted(resolve(n).info.dtypes)) for n in ADAPTERS}
    all_dtypes = sorted(["float16", "bfloat16", "float32", "float64"])
    assert declared["torch-lstm"] == (["bidirectional", "forget_bias", "initial_state", "projection",
                                       "sequence_length", "stacked", "time_major"], all_dtypes), declared
    assert declared["onnxruntime-lstm"] == (["activation", "bidirectional", "forget_bias", "initial_state", "peepholes",
                                             "sequence_length", "stacked", "time_major"],
                                            ["float16", "float32"]), "ONNX clip is not TF cell_clip: undeclared"
    assert declared["tf-blocklstm"] == (["cell_clip", "forget_bias", "initial_state", "peepholes", "time_major"],
                                        ["float16", "float32"]), declared["tf-blocklstm"]
    for keras in ("keras3-tensorflow", "keras3-jax", "keras3-torch"):
        assert resolve(keras).info.env == {"KERAS_BACKEND": keras.split("-")[1]}, f"{keras} must declare its backend"


@pytest.mark.parametrize("name", adapter_params(["tf-lstmblockcell", "tf-blocklstm"]))
def test_fused_kernels_do_not_clip_at_their_default_3(name):
    """The ops clip the cell state at 3.0 unless told -1; a case whose |c| grows past 3 shows it."""
    cfg = LSTMConfig(num_units=1, input_size=1, forget_bias=5.0)
    H = 1
    # i and j saturate at +1, f ~ 1: c grows by ~1 per step.
    case = Case(cfg, LSTMParams(kernel=np.zeros((2, 4 * H), np.float32), bias=np.array([9, 9, 0, 9], np.float32)),
                np.zeros((1, 6, 1), np.float32), InitialState(np.zeros((1, 1), np.float32),
                                                              np.zeros((1, 1), np.float32)))
    expected = reference(case)
    assert expected.c[0, 0] > 4.5, f"the case must grow c past 3; spec c_T = {expected.c[0, 0]}"
    got = call_candidate(resolve(name).fn, case)
    assert_results_close(got, expected, atol=1e-5, rtol=1e-5, label=f"{name} (no cell_clip given)")


@pytest.mark.parametrize("name", adapter_params(["torch-lstm"]))
def test_torch_lstm_only_draws_projections_it_can_express(name):
    info = resolve(name).info
    case = full_case(info, "float32")
    wide = Case(case.config.replace(num_proj=4, num_units=4), case.params.replace(
        kernel=np.zeros((3 + 4, 16), np.float32), proj_kernel=np.zeros((4, 4), np.float32)),
        case.inputs, InitialState(case.initial_state.c, np.zeros((2, 4), np.float32))).validate()
    assert info.supports(case), "num_proj=3 < num_units=4 must be accepted"
    assert not info.supports(wide), "num_proj >= num_units cannot be expressed by torch (proj_size < hidden_size)"


@pytest.mark.parametrize("name", adapter_params(["onnxruntime-lstm"]))
def test_onnx_clip_is_not_tf_cell_clip(name):
    """Why cell_clip stays undeclared: ONNX ``clip`` bounds gate pre-activations, TF's the cell state."""
    import onnxruntime as ort

    from conformance.candidates.adapters._onnx import build_model, onnx_feeds

    info = resolve(name).info
    base = full_case(info, "float32", scale=2.0)
    clipped = Case(base.config.replace(cell_clip=0.5, use_peepholes=False, activation="tanh"),
                   base.params.replace(w_i_diag=None, w_f_diag=None, w_o_diag=None), base.inputs,
                   base.initial_state).validate()
    from onnx import helper

    model = build_model("float32", clipped.config.num_units, "tanh", False)
    model.graph.node[0].attribute.append(helper.make_attribute("clip", 0.5))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y = session.run(None, onnx_feeds(clipped))[0][:, 0].transpose(1, 0, 2)
    diff = float(np.max(np.abs(y - reference(clipped).outputs)))
    assert diff > 0.05, f"ONNX clip=0.5 agreed with TF cell_clip=0.5 to {diff:.3g}: re-examine declaring cell_clip"


@pytest.mark.parametrize("name", adapter_params(["keras3-torch"]))
def test_keras_with_another_backend_already_imported_is_a_clear_fault(name):
    code = (
        "import os; os.environ['KERAS_BACKEND'] = 'torch'; import keras\n"
        "from conformance.candidates import resolve, call_candidate\n"
        "from tests.test_adapters import full_case\n"
        "loaded = resolve('keras3-jax')\n"
        "try:\n"
        "    call_candidate(loaded.fn, full_case(loaded.info, 'float32'))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=root)
    assert "CandidateFault" in proc.stdout and "backend 'torch'" in proc.stdout and "KERAS_BACKEND=jax" in proc.stdout, (
        f"expected a one-line fault naming both backends; stdout={proc.stdout!r} stderr={proc.stderr[-2000:]!r}"
    )


def test_adapter_modules_import_no_framework():
    code = (
        "import sys, importlib\n"
        "for m in ('_torch', '_keras', '_flax', '_onnx', '_tf_fused', '_layout', '_jax'):\n"
        "    importlib.import_module('conformance.candidates.adapters.' + m)\n"
        "heavy = [m for m in ('tensorflow', 'torch', 'jax', 'keras', 'onnxruntime', 'flax', 'onnx') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", f"importing the adapter modules imported {proc.stdout.strip()} {proc.stderr}"


def test_a_library_computing_in_another_dtype_is_a_fault_not_wrong_numbers():
    from conformance.candidates.adapters._layout import check_computed_dtype

    case = full_case(resolve("numpy-reference").info, "float64")
    check_computed_dtype(case, "float64")  # agrees: no error

    def silently_float32(c):
        check_computed_dtype(c, "torch.float32")

    with pytest.raises(CandidateFault, match="computed in float32, not in the case's dtype float64") as info:
        call_candidate(silently_float32, case)
    assert info.value.kind == "exception", f"kind {info.value.kind!r}, expected 'exception'"
