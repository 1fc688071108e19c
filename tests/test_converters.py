"""Converter pipelines as candidates (issue 15 items 1, 2, 5): tflite-fused, tflite-while, tf2onnx.

Real converters and runtimes on the TF oracle; a few examples each (a conversion costs 0.2-4 s).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import strategies
from conformance import CheckOptions, check
from conformance.candidates import list_candidates, resolve
from conformance.spec import Case, InitialState, LSTMConfig, LSTMParams

# find_spec, not importorskip: importing TensorFlow at collection would load it into every xdist worker before
# any test ran (the unit tests' import guard in tests/conftest.py reports that).
if importlib.util.find_spec("tensorflow") is None:
    pytest.skip("the converters need tensorflow", allow_module_level=True)
CONVERTERS = ("tflite-fused", "tflite-while", "tf2onnx")


def _quick(**kw) -> CheckOptions:
    return CheckOptions(**{"max_examples": 8, "seed": 3, "long_sequences": False, "max_time": 6, "max_units": 4,
                           "max_input_size": 4, "inputs_per_params": 4, "minimize": False, "diagnose": False, **kw})


def test_list_shows_the_converter_candidates():
    rows = {row.name: row for row in list_candidates()}
    for name in CONVERTERS:
        assert name in rows, sorted(rows)
    if rows["tf2onnx"].available:
        assert "projection" in rows["tf2onnx"].features and "stacked" not in rows["tf2onnx"].features
    assert rows["tflite-fused"].features == ["forget_bias", "initial_state", "time_major"]


@pytest.mark.parametrize("name", CONVERTERS)
def test_each_converter_runs_cases_to_a_verdict_and_caches_per_parameter_set(name, oracle):
    loaded = resolve(name)  # tf2onnx: pip install "lstm-conformance[converters]"
    assert loaded.info.per_params_cost
    loaded.fn.models.clear()
    result = check(loaded, _quick(), oracle=oracle)
    assert result.verdict in ("conformant", "nonconformant"), result
    assert result.examples >= 1
    models = loaded.fn.models
    # 4 cases per parameter set: at most one conversion per set, the rest are cache hits.
    assert models.misses >= 1 and models.hits >= models.misses, (models.hits, models.misses)


def _case(T: int = 3, forget_bias: float = 1.0) -> Case:
    cfg = LSTMConfig(num_units=1, input_size=1, forget_bias=forget_bias)
    params = LSTMParams(kernel=np.array([[0, 1, 10, 0], [0, 0, 0, 0]], np.float32),
                        bias=np.array([10, 0, 10, 10], np.float32))
    zero = np.zeros((1, 1), np.float32)
    return Case(cfg, params, np.ones((1, T, 1), np.float32), InitialState(zero, zero))


def test_a_model_that_lacks_the_fused_op_is_refused():
    from conformance.candidates.adapters import _converted, _tflite
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    fn = _converted.lstmcell_program(_case())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn.cell)
    # The real LSTMCell program converts to a WHILE loop: as the fused candidate's model it is refused.
    with pytest.raises(_converted.ConversionError, match="lack \\['UNIDIRECTIONAL_SEQUENCE_LSTM'\\]"):
        _tflite._convert(converter, _tflite.FUSED_OP, _tflite.WHILE_OP)
    model, _, _ = _tflite.while_models.artifact(_case(), lambda: _tflite._convert_while(_case()))
    assert model is not None and "WHILE" in _tflite.model_ops(model)
    with pytest.raises(_converted.ConversionError, match="include \\['WHILE'\\]"):
        _converted.require_ops(_tflite.model_ops(model), required=("WHILE",), forbidden=("WHILE",))


def test_the_cache_hits_on_the_same_parameter_set_and_misses_on_another():
    fn = resolve("tflite-while").fn
    fn.models.clear()
    case = _case()
    fn(case)
    fn(case.with_arrays({"inputs": np.full_like(case.inputs, 0.5), "c0": np.ones((1, 1), np.float32)}))
    assert (fn.models.misses, fn.models.hits) == (1, 1)
    fn(case.with_arrays({"bias": np.array([10, 0, 10, 9], np.float32)}))
    assert (fn.models.misses, fn.models.hits) == (2, 1)


def test_a_refused_conversion_is_cached_for_its_parameter_set():
    from conformance.candidates.adapters._converted import ConversionError, ConvertedModels

    models, calls = ConvertedModels(".onnx"), []

    def refuse():
        calls.append(1)
        raise ConversionError("the converter's message")

    case = _case()
    for _ in range(3):
        with pytest.raises(ConversionError, match="the converter's message"):
            models.get(case, refuse)
    assert (len(calls), models.misses, models.hits) == (1, 1, 2)
    assert models.artifact(case, refuse) == (None, ".onnx", "the converter's message")


def test_tflite_fused_clips_the_cell_state_at_10():
    """The finding (docs/mapping.md, "Converters"): the converter fuses a tf-keras LSTM with cell_clip=10."""
    fn = resolve("tflite-fused").fn
    case = _case(T=30, forget_bias=0.0)  # c grows by tanh(1) ~ 0.76 per step, unclipped: ~22.8
    _, (c, h) = fn(case)
    assert float(c[0, 0]) == 10.0
    model, suffix, _ = fn.converted_model(case)
    assert suffix == ".tflite" and model is not None


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(strategies.amortized_cases(inputs_per_params=3, count=5, features=["initial_state", "sequence_length"],
                                  long_sequences=False))
def test_amortized_groups_share_their_parameter_set_and_vary_the_inputs(batch):
    from conformance.candidates.adapters._converted import params_key

    assert len(batch) == 6  # max(count, inputs_per_params) rounded up to whole groups of 3
    for g in range(0, 6, 3):
        group = batch[g : g + 3]
        assert len({params_key(c) for c in group}) == 1
        assert {c.sequence_length is None for c in group} == {group[0].sequence_length is None}
        for c in group:
            c.validate()
    assert params_key(batch[0]) != params_key(batch[3]) or batch[0].config.num_units == 1


def test_amortized_cases_names_a_bad_argument():
    from hypothesis.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="inputs_per_params=0"):
        strategies.amortized_cases(inputs_per_params=0).example()


def test_minimize_amortized_shrinks_the_inputs_before_any_parameter():
    from conformance.run._minimize_amortized import minimize_amortized, same_parameters

    case = _case(T=4)
    case = case.with_arrays({"inputs": np.array([[[0.3], [2.0], [-1.7], [0.9]]], np.float32)})
    seen: list[Case] = []

    def still_fails(trial: Case) -> bool:
        seen.append(trial)
        return bool(np.any(trial.inputs[0, 1:] != 0))  # fails while a step after the first has an input

    out = minimize_amortized(case, still_fails, max_seconds=5.0)
    first_other = next((i for i, t in enumerate(seen) if not same_parameters(t, case)), len(seen))
    # Every input trial came before the first trial that changes the parameter set.
    assert all(same_parameters(t, case) for t in seen[:first_other]) and first_other >= 3
    assert np.count_nonzero(out.inputs) == 1


def test_a_converter_counterexample_is_saved_with_its_model_and_log(tmp_path, oracle):
    from conformance.report import save_counterexample

    loaded = resolve("tflite-fused")
    options = _quick(replay=[_case(T=30, forget_bias=0.0)], minimize=False)
    result = check(loaded, options, oracle=oracle)
    assert result.verdict == "nonconformant", result
    cx = save_counterexample(result.counterexample, str(tmp_path))
    assert (tmp_path / "counterexample.tflite").stat().st_size > 1000
    assert (tmp_path / "counterexample.converter.log").exists()
    saved = json.loads((tmp_path / "counterexample.json").read_text())
    assert [os.path.basename(p) for p in saved["artifacts"]] == ["counterexample.converter.log",
                                                                 "counterexample.tflite"]
    assert cx.repro is not None


def _ragged_case() -> Case:
    """B = 2 rows, 2 units, T = 2, L = [2, 1]: the batch size equals the output size."""
    k = np.zeros((3, 8), np.float32)
    k[0, 2:4] = 1.0  # j = x
    zero = np.zeros((2, 2), np.float32)
    return Case(LSTMConfig(num_units=2, input_size=1), LSTMParams(kernel=k, bias=np.zeros(8, np.float32)),
                np.ones((2, 2, 1), np.float32), InitialState(zero, zero), np.array([2, 1], np.int32))


def test_tflite_while_masks_columns_instead_of_rows_when_the_batch_equals_the_output_size(oracle):
    """The finding (docs/mapping.md, "Converters"): past row 1's end, TFLite zeroes output column 1 of
    every row instead of row 1, when B == output size (B = P = 2 here)."""
    case = _ragged_case()
    out, _ = resolve("tflite-while").fn(case)
    expected = oracle.run(case).outputs
    assert expected[0, 1, 1] > 0.28 and expected[1, 1, 1] == 0  # TF: row 0 runs step 1, row 1 does not
    assert out[0, 1, 1] == 0 and out[1, 1, 0] > 0.28  # TFLite: column 1 zeroed, row 1 computed


def test_tf2onnx_returns_max_length_steps_not_the_padded_time(oracle):
    """The finding (docs/mapping.md, "Converters"): with every row shorter than T, tf2onnx's model
    returns max(L) output steps; dynamic_rnn returns T (zeros past each row's end).  (softsign: the loop
    stays an ONNX Loop; a plain tanh cell becomes an ONNX LSTM node, which returns T steps.)"""
    from conformance.candidates import call_candidate
    from conformance.spec import CandidateFault

    case = dataclasses.replace(_ragged_case(), sequence_length=np.array([1, 1], np.int32))
    case = dataclasses.replace(case, config=case.config.replace(activation="softsign"))
    with pytest.raises(CandidateFault, match=r"outputs has shape \(2, 1, 2\), expected \(2, 2, 2\)"):
        call_candidate(resolve("tf2onnx").fn, case)


def test_a_bad_inputs_per_params_is_named():
    from conformance.spec import InvalidArgument
    from tests.helpers import run_cli

    with pytest.raises(InvalidArgument, match="inputs_per_params=0"):
        CheckOptions(inputs_per_params=0)
    proc = run_cli("check", "numpy-reference", "--inputs-per-params", "0")
    assert proc.returncode == 2 and "--inputs-per-params" in proc.stderr, proc.stderr[-500:]
