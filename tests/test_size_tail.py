"""The large-size tail (issue 19), TensorFlow-free: its share, reach and cost cap, the candidate's and the
CLI's limits on it, fuzz rounds widening it, and the minimizer keeping exactly the size a failure needs
(bisection, so a few dozen attempts from 1024) and rounding the config's floats."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis.errors import InvalidArgument

import strategies
from conformance.candidates import CandidateInfo
from conformance.run import CheckOptions, minimize, scope
from conformance.spec import FEATURES, Case, LSTMConfig, LSTMParams, zero_state
from strategies._draw import DENSE_BLOCK, RngChooser, draw_array
from strategies._sizes import work

ORDINARY = {"batch": 4, "time": 24, "units": 16, "input_size": 16}


def sizes(case: Case) -> dict[str, int]:
    return {"batch": case.batch, "time": case.time, "units": case.config.num_units,
            "input_size": case.config.input_size}


def is_large(case: Case) -> bool:
    s = sizes(case)
    long_sequence = 100 <= s["time"] <= 160
    return any(s[k] > ORDINARY[k] for k in ("batch", "units", "input_size")) or (
        s["time"] > ORDINARY["time"] and not long_sequence)


def seeded(count: int, seed: int = 0, **kwargs) -> list[Case]:
    out: list[Case] = []

    @hyp_seed(seed)
    @settings(max_examples=-(-count // 16), deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategies.seeded_cases(count=16, **kwargs))
    def collect(batch):
        out.extend(batch)

    collect()
    return out[:count]


def test_tail_share_reach_boundaries_and_cost_cap():
    tail = strategies.Tail()
    cases = seeded(3200, tail=tail)
    large = [c for c in cases if is_large(c)]
    assert 0.6 / tail.every < len(large) / len(cases) < 1.4 / tail.every, len(large)
    reach = {"batch": tail.max_batch, "time": tail.max_time, "units": tail.max_units,
             "input_size": tail.max_input_size}
    drawn = {k: [sizes(c)[k] for c in large] for k in reach}
    for k, values in drawn.items():
        assert max(values) <= reach[k]
        assert max(values) > 4 * ORDINARY[k], (k, max(values))  # every axis reaches well past its ordinary range
    boundaries = {v for values in drawn.values() for v in values} & set(strategies.BOUNDARIES)
    assert len(boundaries) >= 8, sorted(boundaries)
    for c in large:
        s = sizes(c)
        cost, elements = work({"batch": s["batch"], "time": s["time"], "input": s["input_size"], "units": s["units"]})
        assert elements <= tail.max_elements and cost <= tail.max_work, s


def test_no_tail_unless_asked():
    assert not any(is_large(c) for c in seeded(800))


def test_the_tail_leaves_the_ordinary_cases_alone():
    """The large-case decision shares the long-sequence draw: a seed draws the same ordinary case with and
    without a tail (stored seeds, corpus entries and tests keep their cases)."""
    compared = 0
    for seed in range(8):
        plain, tailed = seeded(16, seed=seed), seeded(16, seed=seed, tail=strategies.Tail())
        for a, b in zip(plain, tailed):
            if is_large(b):
                break  # its extra draws move the cases after it
            assert a.describe() == b.describe()
            assert all(np.array_equal(x, b.arrays()[k]) for k, x in a.arrays().items())
            compared += 1
    assert compared > 100


@pytest.mark.parametrize("field, value", [("every", 0), ("max_units", -3), ("max_work", 1.5)])
def test_bad_tail_names_the_field(field, value):
    with pytest.raises(InvalidArgument, match=f"tail.{field}={value}"):
        strategies.cases(tail=strategies.Tail(**{field: value})).example()
    with pytest.raises(InvalidArgument, match="tail="):
        strategies.cases(tail=5).example()  # type: ignore[arg-type]


def test_a_large_dense_array_draws_one_block():
    drawn: list[int] = []

    class Counting(RngChooser):
        def normal(self, size: int) -> np.ndarray:
            drawn.append(size)
            return super().normal(size)

        def integer(self, lo: int, hi: int, *, shrink_towards=None) -> int:
            return hi if (lo, hi) == (0, 5) else super().integer(lo, hi)  # the dense mode

    a = draw_array(Counting(np.random.default_rng(0)), (2048, 4096), np.dtype(np.float32), (1.0,), 8.0, 3, True)
    assert drawn == [DENSE_BLOCK] and a.shape == (2048, 4096)
    assert np.count_nonzero(a) > 0.99 * a.size  # dense everywhere, not only in the block


def test_large_cases_are_dense_fan_in_scaled_and_moderate():
    """A large case's arrays are drawn to show what goes wrong at its size: mostly dense, the kernel's spread
    that of a 16-row kernel at any width, no extreme input scale (ordinary cases keep all of these)."""
    cases = seeded(3200, seed=4, tail=strategies.Tail(every=2))
    large = [c for c in cases if is_large(c)]
    ordinary = [c for c in cases if not is_large(c)]
    assert len(large) > 1000

    def dense_share(group: list[Case]) -> float:
        return float(np.mean([np.count_nonzero(c.params.kernel) > 0.5 * c.params.kernel.size for c in group]))

    assert dense_share(large) > 0.8 > 0.7 > dense_share(ordinary), (dense_share(large), dense_share(ordinary))
    for c in large:
        rows = c.params.kernel.shape[0]
        std = float(np.std(c.params.kernel.astype(np.float64)))
        # Scales 0.5, 0.25, 0.05 times sqrt(16 / rows) beyond 16 rows, plus a few explicit entries.
        assert std <= 0.5 * 1.3 * min(1.0, (16 / rows) ** 0.5) + 8.0 * (3 / c.params.kernel.size) ** 0.5, \
            (sizes(c), std)
        assert float(np.max(np.abs(c.inputs.astype(np.float64)), initial=0.0)) <= 3.0 * 6 + 8.0, sizes(c)
    assert max(float(np.max(np.abs(c.inputs.astype(np.float64)), initial=0.0)) for c in ordinary) > 100


def test_a_large_axis_over_the_cap_is_cut_to_the_largest_size_that_fits():
    """1024 units just over the work cap end near the cap, not halved to 512 (a threshold at 512 would
    never be passed)."""
    from strategies._sizes import draw_large

    # units (of time, batch, input, units, time), no second axis, the uniform branch, 1024 twice.
    script = iter([3, 0, 2, 1024, 1024])

    class Scripted(RngChooser):
        def integer(self, lo: int, hi: int, *, shrink_towards=None) -> int:
            value = next(script)
            assert lo <= value <= hi, (lo, value, hi)
            return value

    tail = strategies.Tail()
    ordinary = {"batch": 4, "time": 24, "input": 16, "units": 16}
    minimum = {"batch": 1, "time": 1, "input": 1, "units": 1}
    out = draw_large(Scripted(np.random.default_rng(0)), tail, dict(ordinary), ordinary, minimum)
    assert out["units"] > 900, out
    assert work(out)[0] <= tail.max_work
    assert work({**out, "units": out["units"] + 1})[0] > tail.max_work or out["units"] == tail.max_units


def test_a_large_case_is_a_network_only_where_its_cells_fit():
    from strategies._sizes import network_fits

    tail, ordinary = strategies.Tail(), {"batch": 4, "time": 24, "input": 16, "units": 16}
    assert network_fits(tail, {"batch": 1, "time": 8, "input": 1, "units": 900}, ordinary)
    assert not network_fits(tail, {"batch": 923, "time": 993, "input": 1, "units": 1}, ordinary)
    cases = seeded(3200, seed=5, tail=strategies.Tail(every=2), features=FEATURES)
    networks = [c for c in cases if c.upper or c.backward]
    assert networks and any(is_large(c) for c in networks)
    for c in networks:
        if is_large(c):
            s = sizes(c)
            assert network_fits(tail, {"batch": s["batch"], "time": s["time"], "input": s["input_size"],
                                       "units": s["units"]}, ordinary), s


# --- the run's scope: the candidate's limits and the options narrow the tail; fuzz rounds widen it ------------


def test_declared_limits_bound_the_tail_and_the_ordinary_range():
    info = CandidateInfo(max_units=40, max_batch=12, max_time=300, max_input_size=3)
    sc = scope(info, CheckOptions())
    t = sc.tail
    assert (t.max_units, t.max_batch, t.max_time, t.max_input_size) == (40, 12, 300, 3)
    assert (sc.max_units, sc.max_batch, sc.max_time, sc.max_input_size) == (16, 4, 24, 3)
    assert info.supports is not None and "max_batch" in info.to_dict()


def test_options_cap_every_case():
    sc = scope(CandidateInfo(), CheckOptions(max_large_units=100, max_large_batch=2, max_large_time=50,
                                             max_large_input_size=8))
    assert (sc.tail.max_units, sc.tail.max_batch, sc.tail.max_time, sc.tail.max_input_size) == (100, 2, 50, 8)
    assert (sc.max_units, sc.max_batch, sc.max_time, sc.max_input_size) == (16, 2, 24, 8)
    assert not sc.long_sequences  # no sequence may be longer than 50
    assert scope(CandidateInfo(), CheckOptions(large_every=0)).tail is None


def test_a_narrowed_ordinary_maximum_still_caps_its_axis():
    """``CheckOptions(max_units=6)`` meant "no case has more than 6 units" before the tail, and still does;
    a widened one (or the default) leaves the tail's reach."""
    sc = scope(CandidateInfo(), CheckOptions(max_units=6, max_batch=2, max_time=30))
    assert (sc.tail.max_units, sc.tail.max_batch, sc.tail.max_time, sc.tail.max_input_size) == (6, 2, 1000, 1024)
    assert (sc.max_units, sc.max_batch, sc.max_time) == (6, 2, 30)


def test_fuzz_rounds_widen_the_tail():
    first, second, later = (scope(CandidateInfo(), CheckOptions(large_round=r)).tail for r in (1, 2, 7))
    assert (first.max_units, second.max_units, later.max_units) == (1024, 2048, 4096)
    assert (first.max_time, second.max_time, later.max_time) == (1000, 2000, 4000)
    assert later.max_work == 16 * first.max_work


@pytest.mark.parametrize("kwargs, bad", [({"large_every": -1}, "large_every=-1"),
                                         ({"max_large_units": 0}, "max_large_units=0"),
                                         ({"large_round": 0}, "large_round=0")])
def test_bad_size_options(kwargs, bad):
    from conformance.spec import InvalidArgument as HarnessInvalidArgument

    with pytest.raises(HarnessInvalidArgument, match=bad):
        CheckOptions(**kwargs)


def test_cli_max_options_cap_the_tail():
    from conformance.cli._check import add_arguments, options_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["numpy-reference", "--max-units", "40", "--max-batch", "9", "--max-input-size", "100",
                         "--max-time", "300", "-q"])
    options = options_from_args(args)
    assert (options.max_large_units, options.max_large_batch, options.max_large_input_size,
            options.max_large_time, options.max_time) == (40, 9, 100, 300, 300)
    plain = options_from_args(p.parse_args(["numpy-reference", "-q"]))
    assert plain.max_time == 24 and plain.max_large_units is None
    with pytest.raises(SystemExit):
        p.parse_args(["numpy-reference", "--max-units", "0"])


# --- the minimizer: the size a failure needs, in logarithmically many attempts ---------------------------------


def dense_case(batch: int, time: int, input_size: int, units: int, **config) -> Case:
    cfg = LSTMConfig(num_units=units, input_size=input_size, **config)
    rng = np.random.default_rng(0)
    params = LSTMParams(kernel=rng.standard_normal((input_size + units, 4 * units)).astype(np.float32),
                        bias=rng.standard_normal(4 * units).astype(np.float32))
    return Case(cfg, params, rng.standard_normal((batch, time, input_size)).astype(np.float32),
                zero_state(cfg, batch))


@pytest.mark.parametrize("axis, start, threshold", [
    ("units", dict(batch=1, time=1, input_size=1, units=1024), 32),
    ("batch", dict(batch=64, time=2, input_size=2, units=2), 8),
    ("time", dict(batch=1, time=1000, input_size=1, units=1), 200),
    ("input_size", dict(batch=1, time=1, input_size=1024, units=1), 100),
])
def test_minimize_keeps_the_size_a_failure_needs(axis, start, threshold):
    tried: list[int] = []

    def still_fails(case: Case) -> bool:
        tried.append(sizes(case)[axis])
        return sizes(case)[axis] > threshold

    small = minimize(dense_case(**start), still_fails, max_evaluations=10_000, max_seconds=120)
    assert sizes(small)[axis] == threshold + 1
    assert all(v == 1 for k, v in sizes(small).items() if k != axis), sizes(small)
    # Bisection: about 2 log2(n) sizes tried on the axis, not one per size (~1000 from 1024).
    assert len(set(tried)) <= 30, sorted(set(tried))
    assert len(tried) <= 400, len(tried)


def test_minimize_finds_a_lone_row_far_down_a_large_batch():
    case = dense_case(batch=64, time=1, input_size=1, units=1)
    row = case.batch_major_inputs[37, 0, 0]
    small = minimize(case, lambda c: bool(np.any(c.batch_major_inputs == row)), max_evaluations=200)
    assert small.batch == 1 and small.batch_major_inputs[0, 0, 0] == row


def test_minimize_rounds_config_floats():
    case = dense_case(batch=1, time=2, input_size=1, units=1, forget_bias=3.37276029586792,
                      cell_clip=2.6221566200256348)

    def still_fails(c: Case) -> bool:
        return c.config.forget_bias > 3.0 and c.config.cell_clip is not None and c.config.cell_clip > 2.5

    small = minimize(case, still_fails)
    assert small.config.forget_bias == 4.0 and small.config.cell_clip == 3.0, small.config  # 3.5, then 4
    # Only values the dtype holds exactly: float16 has no 3.37 but has 3.375.
    half = dataclasses_replace_dtype(case, "float16")
    small = minimize(half, lambda c: 3.3 < c.config.forget_bias < 3.45 and c.config.cell_clip is not None)
    assert small.config.forget_bias == 3.375 and small.config.cell_clip == 1.0, small.config


def dataclasses_replace_dtype(case: Case, dtype: str) -> Case:
    from conformance.spec import rounded_to

    c = case.astype(dtype)
    cfg = c.config.replace(forget_bias=rounded_to(dtype, c.config.forget_bias),
                           cell_clip=rounded_to(dtype, c.config.cell_clip))
    return Case(cfg, c.params, c.inputs, c.initial_state)


# --- the judge on a large case: the rounding model's two biased runs first ---------------------------------


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_large_case_spread_staging_never_changes_a_verdict(dtype, monkeypatch):
    """On a large case the judge first tries the model's biased runs alone (2 runs instead of 4); a pass there
    is a pass of the full model, anything else is the full model's verdict: the same verdict either way."""
    import conformance.judge._judge as judge_module
    from conformance.judge import Judge
    from conformance.spec import Result, reference_trace

    case = dense_case(batch=4, time=32, input_size=32, units=64).astype(dtype)
    case = Case(case.config, case.params.replace(kernel=(case.params.kernel.astype(np.float64) * 0.2).astype(
        case.config.np_dtype)), case.inputs, case.initial_state)
    assert judge_module._large(case)
    spec = reference_trace(case)[0]
    expected = Result.from_arrays({k: v.astype(case.config.np_dtype) for k, v in spec.arrays().items()})
    judge, calls = Judge(), []
    real = judge_module.measure_spread

    def counting(*args, **kwargs):
        calls.append(kwargs["random_runs"])
        return real(*args, **kwargs)

    monkeypatch.setattr(judge_module, "measure_spread", counting)
    tol = judge.tolerance(dtype)
    staged_passes = 0
    for scale in (0.5, 3.0, 1e4):
        arrays = {k: v.astype(np.float64) for k, v in expected.arrays().items()}
        arrays["outputs"][3, 20, 5] += scale * (tol.atol + tol.rtol * abs(arrays["outputs"][3, 20, 5]))
        got = Result.from_arrays({k: v.astype(case.config.np_dtype) for k, v in arrays.items()})
        calls.clear()
        staged = judge.compare(case, got, expected)
        staged_calls = list(calls)
        monkeypatch.setattr(judge_module, "STAGED_SPREAD_WORK", 2**62)
        full = judge.compare(case, got, expected)
        monkeypatch.setattr(judge_module, "STAGED_SPREAD_WORK", 2**21)
        assert staged.passed == full.passed, (scale, staged.message, full.message)
        if staged_calls == [0]:
            staged_passes += 1  # decided by the biased runs alone
            assert staged.passed
    assert staged_passes >= 1


def test_fuzz_rounds_reach_the_slices(monkeypatch):
    """Each fuzz slice runs with its round (``large_round``): later rounds draw larger cases."""
    import conformance.campaign._fuzz as fuzz_module
    from conformance.campaign import FuzzOptions

    seen: list[int] = []

    def fake_check(loaded, options, **_):
        seen.append(options.large_round)
        raise fuzz_module.ConformanceError("not run")

    monkeypatch.setattr(fuzz_module, "check", fake_check)
    run = fuzz_module._FuzzRun(["numpy-reference"], FuzzOptions(budget_seconds=60.0, database=None), oracle=None)
    run.executors["numpy-reference"] = object()
    for round_no in (1, 2, 3):
        assert run.run_slice(run.slices[0], round_no).error == "not run"
    assert seen == [1, 2, 3]
