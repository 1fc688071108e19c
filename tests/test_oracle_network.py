"""The oracle on stacked and bidirectional networks (TF's real ``MultiRNNCell``, ``bidirectional_dynamic_rnn``
layered as ``stack_bidirectional_dynamic_rnn`` layers them) against the float64 spec, through the judge; its
graph builds stay bounded over many sizes; a network case survives the ``.npz`` round trip; and a candidate
returning the wrong nesting for a network gets a one-line ``wrong_shape`` fault naming the expected layout.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import strategies
from conformance import candidate
from conformance.judge import compare
from conformance.oracle import TFOracle
from conformance.spec import FEATURES, CandidateFault, Case, reference
from tests import wrong_impls as W

SIZES = dict(max_batch=3, max_time=8, max_units=6, max_input_size=5, long_sequences=False)


def describe(case: Case) -> str:
    cells = ", ".join(f"L{k + 1}{d[0]}:{c.config.input_size}>{c.config.num_units}/{c.config.output_size}"
                      for k, d, c in case.cells())
    lengths = None if case.sequence_length is None else case.sequence_length.tolist()
    return (f"{case.config.dtype} {case.config.activation} tm={case.config.time_major} layers={case.num_layers} "
            f"bi={case.bidirectional} B={case.batch} T={case.time} lengths={lengths} [{cells}]")


def _spec_agrees_with_oracle(oracle, case: Case) -> None:
    spec = reference(case)
    got = oracle.run(case)
    shapes = {name: a.shape for name, a in got.arrays().items()}
    assert shapes == case.result_shapes(), f"oracle result shapes {shapes} for {describe(case)}"
    cmp = compare(case, spec.astype(case.config.np_dtype), got, spec=spec)
    assert cmp.passed, f"spec vs oracle failed for {describe(case)}: {cmp.message}"
    may_drift = case.config.dtype in ("float16", "bfloat16") and (case.time >= 100 or case.config.activation == "relu")
    assert cmp.oracle_deviation is None or may_drift, f"TF strayed from the spec for {describe(case)}: {cmp.oracle_deviation}"
    if case.sequence_length is not None:  # zeros past a row's end, in both directions' outputs, are exact
        padded = np.arange(case.time)[None, :] >= case.lengths()[:, None]
        for name in ("outputs", "outputs_bw"):
            if name in got.arrays():
                assert not np.any(got.arrays()[name][padded]), f"non-zero {name} past a row's end for {describe(case)}"


# --------------------------------------------------------------------------------------- spec vs oracle
@settings(max_examples=4)
@given(strategies.seeded_cases(count=4, features=FEATURES, require=["stacked"], **SIZES))
def test_spec_agrees_with_oracle_on_stacks(oracle, batch):
    """Stacks of 2-3 layers with differing sizes and options per layer; every dtype and activation, row
    lengths and time-major inputs drawn too (bidirectional as well, sometimes)."""
    for case in batch:
        assert case.num_layers >= 2, describe(case)
        _spec_agrees_with_oracle(oracle, case)


@settings(max_examples=4)
@given(strategies.seeded_cases(count=4, features=FEATURES, require=["bidirectional"], **SIZES))
def test_spec_agrees_with_oracle_bidirectional(oracle, batch):
    """Bidirectional networks of 1-3 layers, ragged/empty rows with noise in the padding, both layouts."""
    for case in batch:
        assert case.bidirectional and len(case.backward) == case.num_layers, describe(case)
        _spec_agrees_with_oracle(oracle, case)


@settings(max_examples=3)
@given(strategies.seeded_cases(count=4, features=FEATURES, require=["bidirectional", "stacked", "sequence_length"],
                               **SIZES))
def test_spec_agrees_with_oracle_on_stacked_bidirectional_with_lengths(oracle, batch):
    for case in batch:
        assert case.bidirectional and case.num_layers >= 2 and case.sequence_length is not None, describe(case)
        _spec_agrees_with_oracle(oracle, case)


@pytest.mark.parametrize("changes", [
    {"layers": 2, "bidirectional": True, "sequence_length": (4, 2, 0, 1)},
    {"layers": 3, "bidirectional": True, "time_major": True, "sequence_length": (3, 4)},
    {"layers": 2, "num_proj": 3, "use_peepholes": True, "cell_clip": 0.4, "other_cells": {"num_units": 4}},
], ids=["ragged-empty", "three-layers-time-major", "options"])
def test_spec_and_oracle_agree_on_hand_built_networks(oracle, changes):
    for dtype in ("float32", "float64"):
        _spec_agrees_with_oracle(oracle, W.dense_case(changes, dtype=dtype, seed=5))


# ------------------------------------------------------------------------------------ bounded graph builds
def test_network_graph_builds_are_bounded_by_the_key():
    """Many sizes (units, inputs, projections, lengths per cell): at most one graph per
    (dtype, time_major, layers, bidirectional)."""
    from conformance.oracle._network import network_key

    fresh = TFOracle()
    keys: list[tuple] = []

    @settings(max_examples=25, database=None)
    @given(strategies.seeded_cases(count=4, dtypes=["float32"], features=["stacked", "bidirectional", "sequence_length",
                                                                          "projection", "peepholes", "time_major"],
                                   max_batch=3, max_time=5, max_units=8, max_input_size=6, long_sequences=False))
    def run(batch):
        for case in batch:
            fresh.run(case)
            keys.append(network_key(case) if not case.single_cell else None)

    try:
        run()
        network = [k for k in fresh.graph_keys() if k[0] == "network"]
        wanted = {k for k in keys if k is not None}
        assert len(keys) >= 60 and len(wanted) >= 4, (len(keys), wanted)
        assert len(network) == len(set(network)) and set(network) <= wanted, (network, wanted)
        per_key = {k: [g for g in network if g[:5] == k] for k in wanted}
        assert all(len(v) <= 1 for v in per_key.values()), per_key
        assert fresh.graph_builds == len(fresh.graph_keys()) <= len(wanted) + 4, fresh.graph_keys()
    finally:
        fresh.close()


# ------------------------------------------------------------------------------------------- .npz round trip
@settings(max_examples=6)
@given(strategies.seeded_cases(count=4, features=FEATURES, require=["stacked", "bidirectional"], **SIZES))
def test_network_case_npz_round_trip_keeps_every_cell(tmp_path_factory, batch):
    """save_npz/load_npz keeps every cell's config, parameters and initial state, the lengths and layout."""
    for n, case in enumerate(batch):
        path = tmp_path_factory.mktemp("npz") / f"case{n}.npz"
        case.save_npz(path)
        back = Case.load_npz(path)
        assert back.num_layers == case.num_layers and back.bidirectional == case.bidirectional, describe(back)
        assert [(k, d, c.config) for k, d, c in back.cells()] == [(k, d, c.config) for k, d, c in case.cells()]
        assert sorted(back.arrays()) == sorted(case.arrays())
        for name, array in case.arrays().items():
            got = back.arrays()[name]
            assert got.dtype == array.dtype and got.shape == array.shape, name
            np.testing.assert_array_equal(got.astype(np.float64), array.astype(np.float64), err_msg=name)
        if case.sequence_length is None:
            assert back.sequence_length is None
        else:
            np.testing.assert_array_equal(back.sequence_length, case.sequence_length)
        assert back.result_shapes() == case.result_shapes()
        for name, array in reference(case).arrays().items():
            np.testing.assert_array_equal(reference(back).arrays()[name], array, err_msg=name)


# -------------------------------------------------------------------------- the wrong nesting: wrong_shape
def _nesting(kind: str):
    """A candidate computing the right numbers (tests/wrong_impls.Network) returned in another nesting."""

    def fn(case):
        outputs, states = W.Network(case).run()
        fw = outputs[0] if case.bidirectional else outputs
        pairs = [pair for layer in states for pair in layer] if case.bidirectional else list(states)
        if kind == "single_cell":  # what a one-layer candidate returns: (outputs, (c, h))
            return fw, pairs[0]
        if kind == "flat_states":  # every (c, h) in one flat tuple, not per layer
            return outputs, tuple(pairs)
        if kind == "direction_major":  # (states_fw, states_bw) instead of one (fw, bw) pair per layer
            return outputs, (tuple(states[k][0] for k in range(case.num_layers)),
                             tuple(states[k][1] for k in range(case.num_layers)))
        if kind == "outputs_concatenated":  # concat([fw, bw]) instead of (out_fw, out_bw)
            return np.concatenate(outputs, axis=-1), states
        raise AssertionError(kind)

    return candidate(fn, name=f"nesting-{kind.replace('_', '-')}", features=W.NETWORK_FEATURES)


@pytest.mark.parametrize("kind, changes", [
    ("single_cell", {"layers": 2, "batch": 3}),
    ("single_cell", {"bidirectional": True, "batch": 3}),
    ("flat_states", {"layers": 2, "bidirectional": True, "batch": 3}),
    ("direction_major", {"layers": 3, "bidirectional": True}),
    ("outputs_concatenated", {"layers": 2, "bidirectional": True, "batch": 3}),
    ("single_cell", {"layers": 2, "batch": 2}),  # regression: an array's rows were taken for a (c, h) pair
], ids=["single-for-stack", "single-for-bidirectional", "flat", "direction-major", "concatenated-outputs",
        "single-for-stack-B2"])
def test_wrong_nesting_is_a_one_line_wrong_shape_fault_naming_the_layout(kind, changes):
    case = W.dense_case(changes, seed=0)
    ex = W.executor_for(_nesting(kind))
    with pytest.raises(CandidateFault) as info:
        ex.run(case)
    fault = info.value
    assert fault.kind == "wrong_shape", (fault.kind, str(fault))
    message = str(fault)
    assert "\n" not in message, message
    assert "forward stack: (outputs, ((c_1, h_1), ..., (c_K, h_K)))" in message, message
    assert "((outputs_fw, outputs_bw), (((c, h)_fw, (c, h)_bw) for each layer))" in message, message
    assert f"{case.num_layers} layer(s)" in message, message


def test_an_isolated_candidate_returns_every_cell_of_a_network():
    """Regression: the worker sent back outputs, c and h only, so every isolated network result lacked the
    other cells' states and the backward outputs (a wrong_shape for a correct candidate)."""
    from conformance.candidates import InProcessExecutor, make_executor, resolve

    case = W.dense_case({"layers": 2, "bidirectional": True}, seed=3)
    loaded = resolve("numpy-reference")
    with make_executor(loaded, isolate=True) as isolated:
        got = isolated.run(case)
    want = InProcessExecutor(loaded).run(case)
    assert set(got.arrays()) == set(want.arrays()) == set(case.result_shapes())
    for name, array in want.arrays().items():
        np.testing.assert_array_equal(got.arrays()[name], array, err_msg=name)
