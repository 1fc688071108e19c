"""The fast oracle stays TF's LSTMCell bit for bit, and its graph builds stay bounded.

Counts and equalities only: no timings (benchmarks/throughput.py measures speed).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies
from conformance.oracle import UNROLL, EagerOracle, TFOracle
from conformance.spec import ACTIVATIONS, DTYPES, Case, InitialState, LSTMConfig, LSTMParams, Result, zero_state


def assert_identical(got: Result, want: Result, label: str) -> None:
    """Bit-identical results (NaN where NaN), else fail naming the array, index, time step and both values."""
    for name in ("outputs", "c", "h"):
        g, w = got.arrays()[name], want.arrays()[name]
        assert g.shape == w.shape and g.dtype == w.dtype, (
            f"{label}: {name} has shape {g.shape} {g.dtype}, the eager cell's {w.shape} {w.dtype}")
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        differ = ~((g64 == w64) | (np.isnan(g64) & np.isnan(w64)))
        if differ.any():
            idx = tuple(int(i) for i in np.argwhere(differ)[0])
            step = f" (time step {idx[1]})" if name == "outputs" else " (final state)"
            raise AssertionError(f"{label}: {name}{list(idx)}{step}: oracle {g64[idx]!r}, eager TF cell {w64[idx]!r}; "
                                 f"{int(differ.sum())} of {differ.size} elements differ")


@pytest.fixture(scope="module")
def eager():
    return EagerOracle()


@settings(max_examples=30)
@given(strategies.cases(long_times=st.integers(UNROLL - 1, 3 * UNROLL + 1), max_time=UNROLL + 2, max_batch=3))
def test_oracle_is_bit_identical_to_an_eagerly_stepped_exact_config_cell(oracle, eager, case):
    # Every dtype, activation and option; lengths around the unroll boundary (time is padded to it).
    assert_identical(oracle.run(case), eager.run(case), f"{case.config} B={case.batch} T={case.time}")


@pytest.mark.parametrize("time", [1, UNROLL - 1, UNROLL, UNROLL + 1, 2 * UNROLL, 2 * UNROLL + 1])
def test_padding_the_time_axis_to_the_unroll_drops_exactly_the_padded_steps(oracle, eager, time):
    rng = np.random.default_rng(time)
    cfg = LSTMConfig(num_units=3, input_size=2, num_proj=2, use_peepholes=True, cell_clip=0.8, dtype="float64")
    params = LSTMParams(kernel=rng.normal(size=(4, 12)), bias=rng.normal(size=12), w_i_diag=rng.normal(size=3),
                        w_f_diag=rng.normal(size=3), w_o_diag=rng.normal(size=3), proj_kernel=rng.normal(size=(3, 2)))
    case = Case(cfg, params, rng.normal(size=(2, time, 2)), InitialState(rng.normal(size=(2, 3)), rng.normal(size=(2, 2))))
    assert_identical(oracle.run(case.validate()), eager.run(case), f"T={time}")


def test_an_infinite_state_is_run_on_the_case_own_structure(eager):
    """A float16 relu cell overflows c to inf; the neutral zero peepholes and identity projection would
    turn that into NaN (0 * inf), so the oracle re-runs such a case on a graph without them, built once."""
    cfg = LSTMConfig(num_units=2, input_size=1, dtype="float16", activation="relu")
    kernel = np.zeros((3, 8), np.float16)
    kernel[0, 2:4] = 1000  # gate j from the input: 1000 * 100 overflows float16
    case = Case(cfg, LSTMParams(kernel=kernel, bias=np.full(8, 5, np.float16)), np.full((1, 3, 1), 100, np.float16),
                zero_state(cfg, 1)).validate()
    fresh = TFOracle()
    got = fresh.run(case)
    assert np.isinf(got.outputs[0, 0]).all(), f"expected the case to overflow at step 0, got outputs {got.outputs[0, 0]}"
    assert_identical(got, eager.run(case), "float16 relu overflow")
    assert fresh.exact_structure_runs == 1, f"{fresh.exact_structure_runs} exact-structure re-runs, expected 1"
    assert fresh.graph_keys() == [("float16",), ("float16", False, False)], fresh.graph_keys()
    again = fresh.run(case.slice_time(0, 2))  # a second such case reuses that graph
    assert_identical(again, eager.run(case.slice_time(0, 2)), "float16 relu overflow, again")
    assert fresh.graph_builds == 2 and fresh.exact_structure_runs == 2, (fresh.graph_builds, fresh.exact_structure_runs)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("peepholes, projection", [(False, True), (True, False)])
def test_every_exact_structure_equals_the_eager_cell(dtype, peepholes, projection, eager):
    cfg = LSTMConfig(num_units=2, input_size=1, dtype=dtype, activation="relu", use_peepholes=peepholes,
                     num_proj=2 if projection else None)
    npd = cfg.np_dtype
    kernel = np.zeros((3, 8), npd)
    kernel[0, 2:4] = 1e30 if dtype == "bfloat16" else 1000  # overflows the dtype at step 0
    params = LSTMParams(kernel=kernel, bias=np.full(8, 5, npd),
                        **({"w_i_diag": np.ones(2, npd), "w_f_diag": np.ones(2, npd), "w_o_diag": np.ones(2, npd)}
                           if peepholes else {}),
                        proj_kernel=np.ones((2, 2), npd) if projection else None)
    case = Case(cfg, params, np.full((1, 3, 1), 1e10 if dtype == "bfloat16" else 100, npd), zero_state(cfg, 1))
    fresh = TFOracle()
    got = fresh.run(case.validate())
    assert fresh.exact_structure_runs == 1, f"{dtype} peepholes={peepholes} projection={projection}: not re-run"
    assert_identical(got, eager.run(case), f"{dtype} peepholes={peepholes} projection={projection}")


def test_subnormal_results_are_flushed_to_zero_as_in_tf(oracle, eager):
    """TF's own threads flush denormals; an op run in the Python thread would not (a 1e-40 pre-activation)."""
    cfg = LSTMConfig(num_units=1, input_size=1)
    kernel = np.zeros((2, 4), np.float32)
    kernel[0, 1] = 1e-20  # gate j = 1e-20 * 1e-20: subnormal in float32
    case = Case(cfg, LSTMParams(kernel=kernel, bias=np.zeros(4, np.float32)), np.full((1, 2, 1), 1e-20, np.float32),
                zero_state(cfg, 1)).validate()
    got = oracle.run(case)
    assert_identical(got, eager.run(case), "subnormal pre-activation")
    assert got.c[0, 0] == 0.0, f"c[0, 0] = {got.c[0, 0]!r}: a subnormal survived where TF flushes it to zero"


@st.composite
def sized_cases(draw, dtype: str, activation: str):
    """Cases of one dtype and activation with sizes well beyond the default strategies' (up to 40)."""
    cfg = LSTMConfig(num_units=draw(st.integers(1, 40)), input_size=draw(st.integers(1, 40)),
                     num_proj=draw(st.none() | st.integers(1, 40)), use_peepholes=draw(st.booleans()),
                     dtype=dtype, activation=activation)
    batch, time = draw(st.integers(1, 6)), draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p = cfg.output_size
    arr = lambda *shape: (rng.normal(size=shape) * 0.5).astype(cfg.np_dtype)  # noqa: E731
    params = LSTMParams(kernel=arr(cfg.input_size + p, 4 * cfg.num_units), bias=arr(4 * cfg.num_units),
                        w_i_diag=arr(cfg.num_units) if cfg.use_peepholes else None,
                        w_f_diag=arr(cfg.num_units) if cfg.use_peepholes else None,
                        w_o_diag=arr(cfg.num_units) if cfg.use_peepholes else None,
                        proj_kernel=arr(cfg.num_units, p) if cfg.num_proj is not None else None)
    return Case(cfg, params, arr(batch, time, cfg.input_size), zero_state(cfg, batch))


def test_one_graph_serves_every_size_of_a_dtype_and_activation():
    fresh = TFOracle()
    sizes = set()

    @settings(max_examples=60, database=None)
    @given(sized_cases("float32", "tanh"))
    def run(case):
        fresh.run(case)
        sizes.add((case.batch, case.time, case.config.input_size, case.config.num_units, case.config.output_size))

    run()
    assert len(sizes) > 30, f"the test should vary sizes; it drew only {len(sizes)} distinct ones"
    assert fresh.graph_builds == 1, f"{len(sizes)} distinct sizes of float32/tanh took {fresh.graph_builds} graph builds"


def test_graph_builds_are_bounded_by_the_keys_not_the_examples():
    """One graph per dtype (the activation is fed): once each dtype has been seen, a stream of cases of
    every size, dtype and activation (with or without peepholes and projection) builds nothing more,
    but for the exact-structure graph of a case that overflows (at most 3 per dtype)."""
    fresh = TFOracle()
    keys = [(d, a) for d in DTYPES for a in ACTIVATIONS]
    for dtype, activation in keys:
        rng = np.random.default_rng(0)
        cfg = LSTMConfig(num_units=2, input_size=2, dtype=dtype, activation=activation)
        fresh.run(Case(cfg, LSTMParams(kernel=rng.normal(size=(4, 8)).astype(cfg.np_dtype),
                                       bias=np.zeros(8, cfg.np_dtype)),
                       np.ones((1, 1, 2), cfg.np_dtype), zero_state(cfg, 1)))
    assert fresh.graph_builds == len(DTYPES), f"{len(keys)} (dtype, activation) pairs took {fresh.graph_builds} builds"
    @settings(max_examples=len(keys) * 3, database=None)
    @given(st.integers(0, len(keys) - 1).flatmap(lambda k: sized_cases(*keys[k])))
    def run(case):
        fresh.run(case)

    run()
    shared = [k for k in fresh.graph_keys() if len(k) == 1]
    exact = [k for k in fresh.graph_keys() if len(k) != 1]
    assert len(shared) == len(DTYPES), f"shared graphs went from {len(DTYPES)} to {len(shared)}: {sorted(shared)}"
    assert all(len(k) == 3 and k[0] in DTYPES and k[1:] != (True, True) for k in exact), f"unexpected graphs {exact}"
    assert fresh.graph_builds == len(shared) + len(exact) <= 4 * len(DTYPES), (
        f"{fresh.graph_builds} builds for keys {sorted(fresh.graph_keys())}")
