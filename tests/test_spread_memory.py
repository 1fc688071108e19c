"""The rounding model's stacked noisy runs stay bounded in memory on large cases (issue 19): rows never mix, so a
case past MAX_STACKED_ELEMENTS runs its rows a few at a time, with the same verdict-relevant result.  numpy only."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import conformance.judge._rounding as rounding
from conformance.judge import measure_spread
from conformance.spec import Case, LSTMConfig, LSTMParams, reference_trace, zero_state


def _case(batch: int = 12, time: int = 40, units: int = 24, inputs: int = 20, **changes) -> Case:
    cfg = LSTMConfig(num_units=units, input_size=inputs, dtype="float32", **changes)
    rng = np.random.default_rng(0)
    params = LSTMParams(kernel=(rng.standard_normal((inputs + cfg.output_size, 4 * units)) * 0.3).astype(np.float32),
                        bias=rng.standard_normal(4 * units).astype(np.float32),
                        proj_kernel=(rng.standard_normal((units, cfg.output_size)) * 0.3).astype(np.float32)
                        if cfg.num_proj else None)
    lengths = rng.integers(0, time + 1, batch).astype(np.int32)
    return Case(cfg, params, rng.standard_normal((batch, time, inputs)).astype(np.float32), zero_state(cfg, batch),
                lengths).validate()


def _spread(case: Case, random_runs: int):
    return measure_spread(case, 2.0**-24, random_runs=random_runs, gate_rounding=False, base=reference_trace(case))


@pytest.mark.parametrize("changes", [{}, {"num_proj": 7}])
def test_rows_run_a_few_at_a_time_give_the_whole_batch_spread(monkeypatch, changes):
    """With only the biased runs (every value rounded up, every value down) the noise does not depend on how the
    rows are grouped: the chunked spread is the one-pass spread, bit for bit."""
    case = _case(**changes)
    whole = _spread(case, random_runs=0)
    width = 20 + 24 + case.config.output_size
    monkeypatch.setattr(rounding, "MAX_STACKED_ELEMENTS", 2 * 40 * width * 3)  # 3 rows a pass
    assert rounding._rows_per_run(case, 2) == 3
    parts = _spread(case, random_runs=0)
    for name, a in {**whole.final(), "cells": whole.cells}.items():
        b = {**parts.final(), "cells": parts.cells}[name]
        assert a.shape == b.shape and np.array_equal(a, b), f"{name}: the chunked spread differs from the one-pass one"
    # With random runs the noise differs but bounds at least what the biased runs do.
    noisy = _spread(case, random_runs=2)
    assert all((noisy.final()[k] >= whole.final()[k]).all() for k in whole.final())


def test_a_large_case_spread_holds_a_bounded_share_of_its_runs_in_memory(monkeypatch):
    case = _case(batch=32, time=60, units=48, inputs=48)
    trace = reference_trace(case)

    def peak() -> int:
        tracemalloc.start()
        measure_spread(case, 2.0**-24, random_runs=2, gate_rounding=False, base=trace)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    one_pass = peak()
    monkeypatch.setattr(rounding, "MAX_STACKED_ELEMENTS", 4 * 60 * (48 * 3) * 4)  # 4 rows a pass
    chunked = peak()
    assert chunked < one_pass / 2, f"peak {chunked / 2**20:.1f} MB chunked vs {one_pass / 2**20:.1f} MB in one pass"
