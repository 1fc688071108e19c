"""The oracle on row lengths and time-major inputs (TF's real ``dynamic_rnn``), against the float64 spec
and against ``dynamic_rnn`` run eagerly over an exact-config cell; its graph builds stay bounded; and the
post-minimiser's handling of lengths (it keeps the rows a failure needs and lengthens short rows).

Semantics checked (``tf.compat.v1.nn.dynamic_rnn(cell, x, sequence_length=L, time_major=...)``):
``outputs[b, t] = 0`` for ``t >= L[b]``, the final state of row b is the one after step ``L[b] - 1``
(the initial state when ``L[b] == 0``); time-major inputs are [T, B, I]; a Result is always batch-major.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import strategies
from conformance.judge import compare
from conformance.oracle import EagerOracle, TFOracle
from conformance.run import minimize
from conformance.spec import ACTIVATIONS, CELL_FEATURES, SEQUENCE_FEATURES, Case, Result, reference

#: One cell, every option and both sequence features (networks: tests/test_oracle_network.py).
FEATURES = CELL_FEATURES + SEQUENCE_FEATURES
from tests import wrong_impls as W


def assert_identical(got: Result, want: Result, label: str) -> None:
    """Bit-identical results (NaN where NaN), else fail naming the array, index and both values."""
    for name in ("outputs", "c", "h"):
        g, w = got.arrays()[name], want.arrays()[name]
        assert g.shape == w.shape and g.dtype == w.dtype, (
            f"{label}: {name} has shape {g.shape} {g.dtype}, eager dynamic_rnn's {w.shape} {w.dtype}")
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        differ = ~((g64 == w64) | (np.isnan(g64) & np.isnan(w64)))
        if differ.any():
            idx = tuple(int(i) for i in np.argwhere(differ)[0])
            raise AssertionError(f"{label}: {name}{list(idx)}: oracle {g64[idx]!r}, eager dynamic_rnn {w64[idx]!r}; "
                                 f"{int(differ.sum())} of {differ.size} elements differ")


def describe(case: Case) -> str:
    return (f"{case.config} B={case.batch} T={case.time} lengths="
            f"{None if case.sequence_length is None else case.sequence_length.tolist()}")


@pytest.fixture(scope="module")
def eager():
    return EagerOracle()


# --------------------------------------------------------------------------------------- spec vs oracle
def _spec_agrees_with_oracle(oracle, case: Case) -> None:
    spec = reference(case)
    got = oracle.run(case)
    assert got.outputs.shape == (case.batch, case.time, case.config.output_size), (
        f"oracle outputs {got.outputs.shape} are not batch-major for {describe(case)}")
    cmp = compare(case, spec.astype(case.config.np_dtype), got, spec=spec)
    assert cmp.passed, f"spec vs oracle failed for {describe(case)}: {cmp.message}"
    may_drift = case.config.dtype in ("float16", "bfloat16") and (case.time >= 100 or case.config.activation == "relu")
    assert cmp.oracle_deviation is None or may_drift, f"TF strayed from the spec for {describe(case)}: {cmp.oracle_deviation}"
    if case.sequence_length is not None:  # dynamic_rnn's zeros past a row's end are exact
        padded = np.arange(case.time)[None, :] >= case.lengths()[:, None]
        assert not np.any(got.outputs[padded]), f"non-zero oracle outputs past a row's end for {describe(case)}"


@settings(max_examples=30)
@given(strategies.cases(features=FEATURES, require=["sequence_length"], max_batch=4, max_time=10))
def test_spec_agrees_with_oracle_with_row_lengths(oracle, case):
    """Every option, every dtype, both layouts, ragged/equal/empty/one-step rows with noise in the padding."""
    _spec_agrees_with_oracle(oracle, case)


@settings(max_examples=20)
@given(strategies.cases(features=FEATURES, require=["time_major"], max_batch=4, max_time=10))
def test_spec_agrees_with_oracle_time_major(oracle, case):
    """Time-major configs, with and without row lengths."""
    assert case.config.time_major and case.inputs.shape[:2] == (case.time, case.batch)
    _spec_agrees_with_oracle(oracle, case)


def test_spec_and_oracle_agree_on_lengths_zero_and_full_in_both_layouts(oracle):
    for time_major in (False, True):
        case = W.dense_case({"sequence_length": (4, 0, 2, 4), "time_major": time_major, "forget_bias": 0.5,
                             "use_peepholes": True, "num_proj": 2, "cell_clip": 0.9}, dtype="float64", seed=5)
        _spec_agrees_with_oracle(oracle, case)
        got = oracle.run(case)
        # The empty row keeps its initial state; full rows equal the same rows run without lengths.
        np.testing.assert_array_equal(got.c[1], case.initial_state.c[1])
        np.testing.assert_array_equal(got.h[1], case.initial_state.h[1])
        full = oracle.run(case.slice_batch([0, 3]).with_sequence_length(None))
        np.testing.assert_allclose(got.outputs[[0, 3]], full.outputs, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.c[[0, 3]], full.c, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ oracle vs eager dynamic_rnn
_OPTIONS = {
    "plain": {},
    "every_option": {"use_peepholes": True, "num_proj": 2, "cell_clip": 0.8, "proj_clip": 0.6, "forget_bias": 0.5},
}


@pytest.mark.parametrize("options", sorted(_OPTIONS))
@pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_oracle_is_bit_identical_to_eager_dynamic_rnn(oracle, eager, dtype, time_major, options):
    # Lengths T, 0, a short row and T - 1 (noise in every padded step).
    case = W.dense_case({"sequence_length": (5, 0, 2, 4), "time_major": time_major, **_OPTIONS[options]},
                        dtype=dtype, time=5, seed=3)
    assert_identical(oracle.run(case), eager.run(case), describe(case))


def test_oracle_is_bit_identical_to_eager_dynamic_rnn_when_every_row_is_full_or_empty(oracle, eager):
    for time_major in (False, True):
        for lengths in ((3, 3), (0, 0), (3, 0)):
            case = W.dense_case({"sequence_length": lengths, "time_major": time_major}, time=3, seed=4)
            assert_identical(oracle.run(case), eager.run(case), describe(case))


@settings(max_examples=15)
@given(strategies.cases(features=FEATURES, require=["sequence_length"], dtypes=["float32", "float16"],
                        max_batch=3, max_time=8, long_times=None))
def test_oracle_is_bit_identical_to_eager_dynamic_rnn_over_drawn_cases(oracle, eager, case):
    assert_identical(oracle.run(case), eager.run(case), describe(case))


# ------------------------------------------------------------------------------------------ graph builds
def test_sequence_graph_builds_are_bounded_by_dtype_and_layout():
    """Many cases of different sizes, lengths, activations and layouts: at most one sequence graph per
    (dtype, time_major), however many cases run."""
    fresh = TFOracle()
    sizes, lengths, needed, activations = set(), set(), set(), set()
    try:
        @settings(max_examples=60, database=None)
        @given(strategies.cases(features=["sequence_length", "time_major", "activation"], require=["sequence_length"],
                                dtypes=["float32", "float64"], max_batch=4, max_time=8, long_times=None))
        def run(case):
            fresh.run(case)
            sizes.add((case.batch, case.time, case.config.input_size, case.config.num_units))
            lengths.add(tuple(case.sequence_length.tolist()))
            needed.add(("dynamic_rnn", case.config.dtype, case.config.time_major))
            activations.add(case.config.activation)

        run()
        keys = fresh.graph_keys()
        assert len(sizes) > 20 and len(lengths) > 20, f"the test should vary sizes and lengths: {len(sizes)}, {len(lengths)}"
        assert len(activations) > 1, f"the test should vary the activation: {activations}"
        shared = [k for k in keys if len(k) == 3]
        exact = [k for k in keys if len(k) != 3]
        assert set(shared) == needed, f"graphs {sorted(shared)} for cases needing {sorted(needed)}"
        assert all(k[0] == "dynamic_rnn" and k[2] in (False, True) for k in shared), keys
        assert all(k[:3] in needed for k in exact) and len(exact) <= 3 * len(needed), f"unexpected graphs {exact}"
        assert fresh.graph_builds == len(keys) <= len(needed) + len(exact), (
            f"{fresh.graph_builds} builds for keys {sorted(keys)}")
        assert len(needed) <= 2 * 2
        builds = fresh.graph_builds
        # A second pass over other draws of the same keys builds nothing.
        needed_before = set(needed)
        run()
        if needed <= needed_before:
            assert fresh.graph_builds == builds, f"graph builds grew from {builds} to {fresh.graph_builds}"
    finally:
        fresh.close()


def test_fixed_key_builds_one_sequence_graph_for_every_size_and_length():
    fresh = TFOracle()
    try:
        for seed, (batch, time) in enumerate([(1, 1), (2, 3), (3, 5), (4, 7), (2, 8), (5, 2)]):
            rng = np.random.default_rng(seed)
            for _ in range(3):
                lengths = rng.integers(0, time + 1, batch)
                for changes in ({"num_units": 1 + seed, "input_size": 2}, {"num_units": 3, "input_size": 1 + seed,
                                                                        "num_proj": 2, "use_peepholes": True}):
                    fresh.run(W.dense_case({**changes, "sequence_length": lengths, "batch": batch, "time": time},
                                           seed=seed))
        assert fresh.graph_keys() == [("dynamic_rnn", "float32", False)], fresh.graph_keys()
        assert fresh.graph_builds == 1
    finally:
        fresh.close()


# ----------------------------------------------------------------------------------- minimiser and lengths
def _ragged_case(lengths, time=6, seed=0) -> Case:
    return W.dense_case({"sequence_length": lengths, "time": time}, seed=seed)


def test_a_failure_needing_a_padded_row_and_a_full_row_keeps_two_rows():
    def needs_both(case: Case) -> bool:
        L = case.lengths()
        return case.sequence_length is not None and bool(np.any(L < case.time)) and bool(np.any(L == case.time))

    start = _ragged_case((6, 1, 0, 3, 6))
    small = minimize(start, needs_both, max_evaluations=400, max_seconds=20)
    assert needs_both(small)
    assert small.batch == 2, f"minimized to {small.batch} rows, lengths {small.sequence_length}: both kinds are needed"
    # The padded row is made as long as it can be: one padded step.
    assert small.padded_steps() == 1, f"lengths {small.sequence_length.tolist()} at T={small.time}"


def test_a_real_failure_needing_a_short_and_a_full_row_keeps_two_rows():
    """A port that sorts rows by length (as pack_padded_sequence wants) and never puts them back: shows
    only where a shorter row comes before a longer one."""

    class SortedNotRestored(W.Cell):
        features = W.LENGTH_FEATURES

        def run(self):
            order = np.argsort(-self.case.lengths(), kind="stable")
            case = self.case.slice_batch(order)
            return W.Cell(case).run()  # results left in sorted order

    ex = W.executor_for(W.as_candidate(SortedNotRestored, "sorted-not-restored"))
    still_fails = W.spec_fails(ex)
    start = _ragged_case((1, 6, 0, 3), seed=2)
    assert still_fails(start)
    small = minimize(start, still_fails, max_evaluations=400, max_seconds=20)
    L = small.lengths()
    assert small.batch == 2, f"minimized to lengths {L.tolist()} (T={small.time}): two rows are needed"
    assert L[0] < L[1], f"lengths {L.tolist()}: the failure needs a shorter row first"


def test_minimisation_moves_lengths_toward_full_length():
    """A failure past a row's end needs one padded step, not many: every short row is lengthened."""

    def pads_after_a_step(case: Case) -> bool:  # a padded step after at least one real one, T >= 4 kept
        L = case.lengths()
        return case.time >= 4 and case.sequence_length is not None and bool(np.any((L >= 1) & (L < case.time)))

    start = _ragged_case((1, 1, 2, 0), time=8)
    small = minimize(start, pads_after_a_step, max_evaluations=400, max_seconds=20)
    assert pads_after_a_step(small)
    assert small.padded_steps() == 1, (
        f"lengths {small.sequence_length.tolist()} at T={small.time}: {small.padded_steps()} padded steps, "
        f"started from {start.padded_steps()}")


def test_minimising_a_padded_output_mistake_keeps_a_short_row_and_lengthens_it():
    cell, changes = W.WRONG["padded_outputs_repeat_last"]
    ex = W.executor_for(W.as_candidate(cell, "padded_outputs_repeat_last"))
    still_fails = W.spec_fails(ex)
    start = W.dense_case({"sequence_length": (6, 1, 2, 0), "time": 6}, seed=1)
    small = minimize(start, still_fails, max_evaluations=300, max_seconds=20)
    assert small.sequence_length is not None and small.batch == 1, small.describe()
    # repeat_last shows only on a non-empty row with padding: the shortest such is L = T - 1 >= 1.
    assert small.time == 2 and small.sequence_length.tolist() == [1], small.describe()
