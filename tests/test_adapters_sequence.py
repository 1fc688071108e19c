"""Row lengths (``sequence_length``) and time-major inputs through the real-library adapters.

Each adapter and each of the two features is either checked against the real TF oracle
(``dynamic_rnn``) with the feature forced on in every case, asserting the verdict measured
with ``lstm-conformance check NAME --feature FEATURE --max-examples 100 --seed 1``, or declared
unsupported with a reason.  A library whose documented contract differs from
``dynamic_rnn``'s stays nonconformant here, with the diagnosis the harness gives
(docs/mapping.md, "Sequence lengths and time-major layouts").
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance import Case, CheckOptions, InitialState, LSTMConfig, LSTMParams, check
from conformance.candidates import call_candidate, resolve
from conformance.testing import assert_conformant
from tests.test_adapters import ADAPTERS, requires

#: (adapter, feature) -> the verdict measured, and for a nonconformant one the diagnosis it
#: must carry (the name of the best variant, or a part of it for a combination).
MEASURED: dict[tuple[str, str], tuple[str, str | None]] = {
    ("torch-lstm", "sequence_length"): ("conformant", None),  # packed; cases with an empty row not drawn
    ("torch-lstm", "time_major"): ("conformant", None),
    ("torch-lstmcell", "time_major"): ("conformant", None),
    # Keras masking: the state is carried, the output repeats the last valid one (TF: zeros).
    ("keras3-tensorflow", "sequence_length"): ("nonconformant", "padded_outputs_repeat_last"),
    ("keras3-jax", "sequence_length"): ("nonconformant", "padded_outputs_repeat_last"),
    ("keras3-torch", "sequence_length"): ("nonconformant", "padded_outputs_repeat_last"),
    ("tf-keras-lstm", "sequence_length"): ("nonconformant", "padded_outputs_repeat_last"),
    ("tf-keras-lstm", "time_major"): ("conformant", None),
    # nnx.RNN's seq_lengths only gathers the carry: outputs past the end are computed over the padding.
    ("flax-lstmcell", "sequence_length"): ("nonconformant", "empty_rows_last_step_state"),
    ("flax-lstmcell", "time_major"): ("conformant", None),
    ("flax-optimized-lstmcell", "sequence_length"): ("nonconformant", "empty_rows_last_step_state"),
    ("flax-optimized-lstmcell", "time_major"): ("conformant", None),
    # From a zero initial state; with one, an empty row's final state differs (test below).
    ("onnxruntime-lstm", "sequence_length"): ("conformant", None),
    ("onnxruntime-lstm", "time_major"): ("conformant", None),
    ("tf-lstmblockcell", "time_major"): ("conformant", None),
    ("tf-blocklstm", "time_major"): ("conformant", None),
}

#: (adapter, feature) the adapter declares unsupported (with a reason the matrix prints).
UNSUPPORTED = [
    ("torch-lstmcell", "sequence_length"),
    ("keras3-tensorflow", "time_major"),
    ("keras3-jax", "time_major"),
    ("keras3-torch", "time_major"),
    ("tf-lstmblockcell", "sequence_length"),
    ("tf-blocklstm", "sequence_length"),
]


def _options(name: str, features: list[str], require: list[str], examples: int) -> CheckOptions:
    isolate = bool(resolve(name).info.env)  # Keras 3 fixes its backend at import: a process of its own
    return CheckOptions(max_examples=examples, seed=1, max_time=5, max_batch=3, max_units=3, max_input_size=3,
                        long_sequences=False, dtypes=["float32"], features=features, require_features=require,
                        minimize_seconds=5, diagnose_seconds=10, isolate=isolate,
                        timeout_seconds=300 if isolate else None)


def test_every_adapter_and_feature_is_measured_or_declared_unsupported():
    for name in ADAPTERS:
        for feature in ("sequence_length", "time_major"):
            info = resolve(name).info
            measured, unsupported = (name, feature) in MEASURED, (name, feature) in UNSUPPORTED
            assert measured != unsupported, f"{name} {feature}: list it in exactly one of MEASURED / UNSUPPORTED"
            assert (feature in info.features) == measured, f"{name}: declares {sorted(info.features)}"


@pytest.mark.parametrize("name, feature", [pytest.param(n, f, id=f"{n}-{f}") for n, f in UNSUPPORTED])
def test_unsupported_feature_has_a_reason(name, feature):
    info = resolve(name).info
    assert feature not in info.features
    reason = info.unsupported.get(feature, "")
    assert len(reason) > 20 and "\n" not in reason, f"{name}: no one-line reason for {feature}: {reason!r}"


@pytest.mark.parametrize("name, feature", [pytest.param(n, f, marks=requires(n), id=f"{n}-{f}")
                                           for n, f in MEASURED])
def test_forced_feature_verdict(name, feature, oracle):
    verdict, diagnosis = MEASURED[(name, feature)]
    nonconformant = verdict == "nonconformant"
    result = check(name, _options(name, [feature], [feature], 4 if not nonconformant else 8), oracle=oracle)
    cx = result.counterexample
    what = f"{name} --feature {feature}: {result.verdict} after {result.examples} examples" + (
        f" ({cx.kind}: {cx.comparison.message}; case {cx.case.describe()})" if cx is not None else "")
    assert result.verdict == verdict, what
    if nonconformant:
        assert cx is not None and cx.kind == "mismatch" and cx.case.sequence_length is not None, what
        names = [m.variant for m in cx.diagnosis]
        assert names and diagnosis in names[0].split("+"), f"{what}: diagnosis {names}"


@pytest.mark.parametrize("name", [pytest.param("onnxruntime-lstm", marks=requires("onnxruntime-lstm"))])
def test_onnxruntime_empty_row_loses_the_initial_state(name, oracle):
    """Finding: for a row of length 0, onnxruntime's Y_h/Y_c are zeros; dynamic_rnn returns the initial
    state.  The minimized case of ``check onnxruntime-lstm --feature sequence_length --feature
    initial_state --seed 1``: one row, one step, L = [0], h0 = -1 (onnxruntime h = 0)."""
    cfg = LSTMConfig(num_units=1, input_size=1)
    zeros = np.zeros((1, 1), np.float32)
    case = Case(cfg, LSTMParams(np.zeros((2, 4), np.float32), np.zeros(4, np.float32)), np.zeros((1, 1, 1), np.float32),
                InitialState(zeros, np.full((1, 1), -1, np.float32)), np.array([0], np.int32)).validate()
    expected = oracle.run(case)
    assert float(expected.h[0, 0]) == -1.0, f"TF's h = {expected.h[0, 0]}: not the case this test is about"
    with pytest.raises(AssertionError, match=r"final state"):
        assert_conformant(name, case, oracle=oracle)
    got = call_candidate(resolve(name).fn, case)
    assert float(got.h[0, 0]) == 0.0, (
        f"onnxruntime h = {got.h[0, 0]}: if it now keeps the initial state of an empty row, drop this finding")
    assert not np.any(got.outputs), "the outputs of an empty row are zeros in both"
    result = check(name, _options(name, ["sequence_length", "initial_state"], ["sequence_length", "initial_state"], 30),
                   oracle=oracle)
    assert result.verdict == "nonconformant", f"{result.verdict} after {result.examples} examples"
    names = [m.variant for m in result.counterexample.diagnosis]
    assert names and names[0] == "empty_rows_zero_state", f"diagnosis {names}"


@pytest.mark.parametrize("name", [pytest.param("torch-lstm", marks=requires("torch-lstm"))])
def test_torch_lstm_does_not_draw_empty_rows(name):
    """pack_padded_sequence rejects a length of 0; the adapter does not clamp it to 1 (it declines the case)."""
    info = resolve(name).info
    cfg = LSTMConfig(num_units=2, input_size=1)
    case = Case(cfg, LSTMParams(np.zeros((3, 8), np.float32), np.zeros(8, np.float32)), np.zeros((2, 3, 1), np.float32),
                InitialState(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))).validate()
    assert info.supports(case.with_sequence_length([3, 1]))
    assert not info.supports(case.with_sequence_length([3, 0]))
