"""Stacked and bidirectional networks (issue 14) through the real-library adapters.

Each adapter and each of the two features is either checked against the real TF oracle
(``MultiRNNCell``, ``bidirectional_dynamic_rnn``, ``stack_bidirectional_dynamic_rnn``) with the
feature forced on in every case, asserting the verdict measured with ``lstm-conformance check NAME
--feature FEATURE --max-examples 100 --seed 1``, or declared unsupported with a reason
(docs/mapping.md, "Stacked and bidirectional networks").  The checks here are short (a few
small examples); the measured runs are the long ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conformance import Case, CheckOptions, InitialState, LSTMConfig, LSTMParams, check
from conformance.candidates import resolve
from conformance.spec import LSTMLayer
from tests.test_adapters import ADAPTERS, requires

FEATURES = ("stacked", "bidirectional")

#: (adapter, feature) -> the verdict measured, and for a nonconformant one the diagnosis it
#: must carry (the name of the best variant, or a part of it for a combination).
MEASURED: dict[tuple[str, str], tuple[str, str | None]] = {
    # num_layers/bidirectional; only networks whose cells share one size are drawn (accepts).
    ("torch-lstm", "stacked"): ("conformant", None),
    ("torch-lstm", "bidirectional"): ("conformant", None),
    # A layer per network layer; Bidirectional(LSTM, backward_layer=LSTM(go_backwards=True), merge_mode=None).
    ("keras3-tensorflow", "stacked"): ("conformant", None),
    ("keras3-tensorflow", "bidirectional"): ("conformant", None),
    ("keras3-jax", "stacked"): ("conformant", None),
    ("keras3-jax", "bidirectional"): ("conformant", None),
    ("keras3-torch", "stacked"): ("conformant", None),
    ("keras3-torch", "bidirectional"): ("conformant", None),
    ("tf-keras-lstm", "stacked"): ("conformant", None),
    ("tf-keras-lstm", "bidirectional"): ("conformant", None),
    # Chained nnx.RNN; nnx.Bidirectional (default merge_fn: concatenation, forward first).
    ("flax-lstmcell", "stacked"): ("conformant", None),
    ("flax-lstmcell", "bidirectional"): ("conformant", None),
    ("flax-optimized-lstmcell", "stacked"): ("conformant", None),
    ("flax-optimized-lstmcell", "bidirectional"): ("conformant", None),
    # One LSTM node per layer (direction="bidirectional"), chained by Transpose + Reshape.
    ("onnxruntime-lstm", "stacked"): ("conformant", None),
    ("onnxruntime-lstm", "bidirectional"): ("conformant", None),
}

#: (adapter, feature) the adapter declares unsupported (with a reason the matrix prints).
UNSUPPORTED = [
    ("torch-lstmcell", "stacked"),
    ("torch-lstmcell", "bidirectional"),
    ("tf-lstmblockcell", "stacked"),
    ("tf-lstmblockcell", "bidirectional"),
    ("tf-blocklstm", "stacked"),
    ("tf-blocklstm", "bidirectional"),
]


def _options(features: list[str], require: list[str], examples: int, max_units: int = 3) -> CheckOptions:
    return CheckOptions(max_examples=examples, seed=1, max_time=3, max_batch=2, max_units=max_units, max_input_size=3,
                        long_sequences=False, dtypes=["float32"], features=features, require_features=require,
                        minimize_seconds=5, diagnose_seconds=10)


#: A Keras 3 candidate (its backend is fixed at import) runs its check in a child process of its own,
#: in-process there: not through the harness's isolation worker, whose reply carries only a result's
#: (outputs, c, h) (conformance/candidates/_worker.py), so a network's other arrays would be lost.
_CHILD = """
import json, sys
from conformance import check
from tests.test_adapters_network import _options, _summary
name, features, require, examples = json.loads(sys.argv[1])
print("RESULT " + json.dumps(_summary(check(name, _options(features, require, examples)))))
"""


def _summary(result) -> dict:
    cx = result.counterexample
    return {"verdict": result.verdict, "examples": result.examples,
            "what": f"{cx.kind}: {cx.comparison.message if cx.comparison else ''}; case {cx.case.describe()}"
            if cx is not None else str(result.error or ""),
            "kind": cx.kind if cx is not None else None,
            "diagnosis": [m.variant for m in cx.diagnosis] if cx is not None else []}


def _check(name: str, features: list[str], require: list[str], examples: int, oracle, max_units: int = 3) -> dict:
    env = resolve(name).info.env
    if not env:
        return _summary(check(name, _options(features, require, examples, max_units), oracle=oracle))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([name, features, require, examples])],
                          capture_output=True, text=True, env=dict(os.environ, **env), timeout=600, cwd=root)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"{name} in its own process:\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def test_every_adapter_and_feature_is_measured_or_declared_unsupported():
    for name in ADAPTERS:
        for feature in FEATURES:
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
    # initial_state too: every cell's own initial state must reach the library in the right place.
    got = _check(name, [feature, "initial_state"], [feature], 3 if not nonconformant else 8, oracle)
    what = f"{name} --feature {feature}: {got['verdict']} after {got['examples']} examples ({got['what']})"
    assert got["verdict"] == verdict, what
    assert got["examples"] >= 1, what
    if nonconformant:
        assert got["kind"] == "mismatch", what
        names = got["diagnosis"]
        assert names and diagnosis in names[0].split("+"), f"{what}: diagnosis {names}"


#: Networks with row lengths (both features forced): (adapter, features) -> verdict, diagnosis.
#: Keras' Bidirectional forces zero_output_for_mask=True, and its backward layer carries the initial
#: state through the reversed padding: bidirectional_dynamic_rnn's semantics; a plain stacked LSTM
#: keeps the single-layer masking finding.  Flax keeps its seq_lengths finding.
WITH_LENGTHS: dict[tuple[str, tuple[str, ...]], tuple[str, str | None]] = {
    ("torch-lstm", ("stacked", "bidirectional", "sequence_length")): ("conformant", None),
    ("onnxruntime-lstm", ("bidirectional", "sequence_length")): ("conformant", None),  # from a zero state
    ("tf-keras-lstm", ("bidirectional", "sequence_length", "time_major")): ("conformant", None),
    ("tf-keras-lstm", ("stacked", "sequence_length")): ("nonconformant", "padded_outputs_repeat_last"),
    # Minimized to one row of length 0 and one step, where that is also "lengths ignored".
    ("flax-optimized-lstmcell", ("bidirectional", "sequence_length")):
        ("nonconformant", "padded_outputs_computed|sequence_length_ignored"),
}


@pytest.mark.parametrize("name, features", [pytest.param(n, f, marks=requires(n), id=f"{n}-{'+'.join(f)}")
                                            for n, f in WITH_LENGTHS])
def test_network_with_lengths_verdict(name, features, oracle):
    verdict, diagnosis = WITH_LENGTHS[(name, features)]
    # torch's accepts= (one size for every cell, no row of length 0) turns down nearly every drawn network of up
    # to 3 units (before a 0-example check was an error this test passed having run none): one unit per cell.
    torch = name == "torch-lstm"
    got = _check(name, list(features), list(features), 16 if torch else 3 if verdict == "conformant" else 8, oracle,
                 max_units=1 if torch else 3)
    what = f"{name} {features}: {got['verdict']} after {got['examples']} examples ({got['what']})"
    assert got["verdict"] == verdict, what
    # A conformant verdict must rest on cases run: accepts= may turn many drawn cases down (torch: one size for
    # every cell, no row of length 0); with none run a check is an error, which the line above then reports.
    assert got["examples"] > 0, what
    if diagnosis is not None:
        assert got["kind"] == "mismatch" and got["diagnosis"], what
        assert set(diagnosis.split("|")) & set(got["diagnosis"][0].split("+")), f"{what}: diagnosis {got['diagnosis']}"


def _cell(rng: np.random.Generator, inputs: int, units: int, batch: int) -> LSTMLayer:
    cfg = LSTMConfig(num_units=units, input_size=inputs)
    r = lambda *shape: (rng.standard_normal(shape) * 0.5).astype(np.float32)
    return LSTMLayer(cfg, LSTMParams(r(inputs + units, 4 * units), r(4 * units)),
                     InitialState(r(batch, units), r(batch, units)))


@pytest.mark.parametrize("name", [pytest.param("torch-lstm", marks=requires("torch-lstm"))])
def test_torch_lstm_draws_only_networks_of_one_size(name):
    """nn.LSTM has one hidden_size/proj_size for every layer and direction: other networks are not drawn."""
    info = resolve(name).info
    rng = np.random.default_rng(0)
    first = _cell(rng, 2, 3, 1)

    def network(upper_units: int, bw_units: int) -> Case:
        bw1 = _cell(rng, 2, bw_units, 1)
        upper = _cell(rng, 3 + bw_units, upper_units, 1)
        bw2 = _cell(rng, 3 + bw_units, 3, 1)
        return Case(first.config, first.params, rng.standard_normal((1, 2, 2)).astype(np.float32),
                    first.initial_state, upper=(upper,), backward=(bw1, bw2)).validate()

    assert info.supports(network(3, 3))
    assert not info.supports(network(2, 3))
    assert not info.supports(network(3, 2))
