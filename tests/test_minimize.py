"""The post-minimiser (conformance.run._minimize) on its own: what it simplifies and what it must keep."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.run import minimize
from conformance.spec import Case, InitialState, LSTMConfig, LSTMParams


def dense_case(dtype: str = "bfloat16", **config) -> Case:
    cfg = LSTMConfig(num_units=3, input_size=2, dtype=dtype, **config)
    rng = np.random.default_rng(0)
    npd = cfg.np_dtype
    arr = lambda *shape: rng.standard_normal(shape).astype(npd)  # noqa: E731
    diag = [arr(3) for _ in range(3)] if cfg.use_peepholes else [None] * 3
    params = LSTMParams(arr(2 + cfg.output_size, 12), arr(12), *diag)
    return Case(cfg, params, arr(2, 5, 2), InitialState(arr(2, 3), arr(2, cfg.output_size)))


def has_bias(case: Case) -> bool:
    return bool(np.any(case.params.bias.astype(np.float64)))


def test_a_case_moves_to_float32_and_shrinks_to_one_round_number():
    small = minimize(dense_case("bfloat16"), has_bias)
    assert small.config.dtype == "float32", small.config
    assert (small.batch, small.time, small.config.input_size, small.config.num_units) == (1, 1, 1, 1), small.describe()
    entries = small.nonzero_entries()
    assert len(entries) == 1 and entries[0]["array"] == "bias" and abs(entries[0]["value"]) in (0.5, 1.0, 2.0), entries


@pytest.mark.parametrize("allowed, expected", [(["bfloat16"], "bfloat16"), (["float16", "bfloat16"], "float16")])
def test_the_dtype_stays_among_the_runs_dtypes(allowed, expected):
    small = minimize(dense_case("bfloat16"), has_bias, dtypes=allowed)
    assert small.config.dtype == expected, f"dtypes={allowed}: minimized to {small.config.dtype}"


def test_a_required_feature_is_kept():
    case = dense_case("float32", use_peepholes=True)
    assert minimize(case, has_bias).config.use_peepholes is False, "peepholes not needed: simplified away"
    kept = minimize(case, has_bias, keep_features=["peepholes", "initial_state"])
    assert kept.config.use_peepholes, "keep_features=['peepholes'] was dropped"
    assert not kept.initial_state.is_zero(), "keep_features=['initial_state'] was zeroed"


def test_a_failure_that_needs_its_dtype_keeps_it():
    needs_16_bit = lambda c: c.config.dtype == "float16" and has_bias(c)  # noqa: E731
    assert minimize(dense_case("float16"), needs_16_bit).config.dtype == "float16"
