"""benchmarks/overhead.py's stage attribution (issue 20): cumulative profile times into disjoint stages.

The module is loaded from its file (benchmarks/ is not a package); loading it imports neither
TensorFlow nor the harness.
"""

from __future__ import annotations

import cProfile
import importlib.util
import pstats
import sys
import time
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "overhead.py"


@pytest.fixture(scope="module")
def overhead():
    spec = importlib.util.spec_from_file_location("overhead_benchmark", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    before = "tensorflow" in sys.modules
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert ("tensorflow" in sys.modules) == before  # loading the benchmark imports no TF
    return module


def _key(path: str, name: str, line: int = 1) -> tuple:
    return (f"/site/{path}", line, name)


def _stat(ct: float, calls: int = 1, callers: dict | None = None) -> tuple:
    return (calls, calls, 0.0, ct, callers or {})


def test_attribute_subtracts_nested_stages_and_the_rest_is_the_remainder(overhead):
    Stage = overhead.Stage
    outer, inner, helper = ("pkg/a.py", "outer"), ("pkg/b.py", "inner"), ("pkg/b.py", "helper")
    stats = {
        _key(*outer): _stat(5.0, calls=10),
        # inner: 3 s in all, 1 s of it called directly by helper (itself inside inner's stage)
        _key(*inner): _stat(3.0, calls=4, callers={_key(*outer): (3, 3, 0.0, 2.0), _key(*helper): (1, 1, 0.0, 1.0)}),
        _key(*helper): _stat(1.5, calls=2, callers={_key(*outer): (2, 2, 0.0, 1.5)}),
        _key("other/c.py", "outer"): _stat(99.0),  # same name, another file: not outer
    }
    stages = (
        Stage("outer alone", (outer,), sub=(inner, helper), add_from=((inner, helper),)),
        Stage("inner, not under helper", (inner,), sub_from=((inner, helper),)),
        Stage("helper", (helper,)),
        Stage("gone", (("pkg/renamed.py", "nowhere"),)),
    )
    rows, missing = overhead.attribute(stats, total_s=10.0, examples=4, stages=stages)
    by = {r["stage"]: r for r in rows}
    assert by["outer alone"]["seconds"] == pytest.approx(5.0 - 3.0 - 1.5 + 1.0)
    assert by["inner, not under helper"]["seconds"] == pytest.approx(2.0)
    assert by["helper"]["seconds"] == pytest.approx(1.5)
    assert by["gone"]["seconds"] == 0.0
    # disjoint stages sum to outer's 5 s; the rest of the 10 s is the remainder, listed last
    assert rows[-1]["stage"] == overhead.REST and rows[-1]["seconds"] == pytest.approx(5.0)
    assert sum(r["seconds"] for r in rows) == pytest.approx(10.0)
    assert by["helper"]["ms_per_example"] == pytest.approx(1500 / 4)
    assert by["helper"]["share"] == pytest.approx(0.15)
    assert by["outer alone"]["calls"] == 10
    assert [r["seconds"] for r in rows[:-1]] == sorted((r["seconds"] for r in rows[:-1]), reverse=True)
    assert missing == ["pkg/renamed.py:nowhere"]


def _leaf(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _middle() -> None:
    _leaf(0.02)


def _top() -> None:
    _middle()
    _leaf(0.03)


def test_attribute_reads_a_real_cprofile(overhead):
    """pstats' real layout (callers' cumulative times included) is what attribute() reads."""
    here = Path(__file__).name
    Stage = overhead.Stage
    leaf, middle, top = (here, "_leaf"), (here, "_middle"), (here, "_top")
    profiler = cProfile.Profile()
    profiler.enable()
    _top()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    stages = (Stage("top, less its leaf calls", (top,), sub=(leaf, middle), add_from=((leaf, middle),)),
              Stage("leaf called by top", (leaf,), sub_from=((leaf, middle),)),
              Stage("middle", (middle,)))
    rows, missing = overhead.attribute(stats, total_s=overhead.cumulative(stats, top), examples=1, stages=stages)
    by = {r["stage"]: r["seconds"] for r in rows}
    assert missing == []
    assert by["leaf called by top"] == pytest.approx(0.03, rel=0.3)
    assert by["middle"] == pytest.approx(0.02, rel=0.3)
    assert by["top, less its leaf calls"] < 0.005
    assert abs(by[overhead.REST]) < 0.005


def test_a_pair_whose_caller_no_longer_calls_the_callee_is_reported(overhead):
    """A (callee, caller) pair must still be a direct call: when the spread's spec moved into a helper of
    measure_spread, the pair (reference_trace, measure_spread) matched nothing and the stages double-counted
    the spread's spec, silently."""
    Stage = overhead.Stage
    outer, helper, inner = ("pkg/a.py", "outer"), ("pkg/a.py", "helper"), ("pkg/b.py", "inner")
    stats = {_key(*outer): _stat(2.0), _key(*helper): _stat(1.5, callers={_key(*outer): (1, 1, 0.0, 1.5)}),
             _key(*inner): _stat(1.0, callers={_key(*helper): (1, 1, 0.0, 1.0)})}
    stale = (Stage("inner, not under outer", (inner,), sub_from=((inner, outer),)),)
    assert overhead.attribute(stats, 2.0, 1, stale)[1] == ["pkg/b.py:inner called by pkg/a.py:outer"]
    current = (Stage("inner, not under helper", (inner,), sub_from=((inner, helper),)),)
    assert overhead.attribute(stats, 2.0, 1, current)[1] == []
