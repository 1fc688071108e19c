"""Threshold mistakes (tests/threshold_impls.py) against the real TF oracle (issue 19): each is caught and
minimized to exactly its threshold size; a declared limit keeps a candidate from being blamed past it;
the correct cell passes a run of large cases.  Each mistake is tried at this file's threshold (MISTAKES: 40
units, 12 rows, 100 inputs, 200 steps) and near the top of the issue's range (HIGH: 480, 300, 450, 460).
The fast tests draw large cases often (``large_every=2``); the slow ones (``-m slow``) run the default
``check --max-examples 1000`` and ``fuzz --budget 60s``.  benchmarks/threshold_reach.py gives the chance
of a catch for any threshold, seed aside."""

from __future__ import annotations

import json
import os

import pytest

from conformance.candidates import resolve
from conformance.run import CheckOptions, check
from conformance.spec import Case
from tests.helpers import run_cli
from tests.threshold_impls import MISTAKES, with_threshold

HERE = os.path.dirname(os.path.abspath(__file__))
IMPLS = os.path.join(HERE, "threshold_impls.py")


def sizes(case: Case) -> dict[str, int]:
    return {"batch": case.batch, "time": case.time, "units": case.config.num_units,
            "input_size": case.config.input_size}


def assert_minimized_to_threshold(case: Case, name: str) -> None:
    _, axis, size = MISTAKES[name]
    got = sizes(case)
    assert got[axis] == size, (name, got)
    assert all(v == 1 for k, v in got.items() if k != axis), (name, got)


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_threshold_mistake_is_caught_and_minimized_to_its_threshold(name, oracle):
    fn = MISTAKES[name][0]
    result = check(resolve(f"{IMPLS}:{fn.__name__}"),
                   CheckOptions(max_examples=400, seed=0, large_every=2, dtypes=["float32"], diagnose=False),
                   oracle=oracle)
    assert result.verdict == "nonconformant", result.verdict
    assert_minimized_to_threshold(result.counterexample.case, name)


#: Thresholds near the top of the issue's range (8 to 512), each mistake's own: a tile of 480 units, a second
#: worker from row 300, an input buffer of 450 columns, a ring of 460 steps.
HIGH = {"tile_remainder": 480, "split_batch": 300, "input_buffer": 450, "state_ring": 460}


@pytest.mark.parametrize("name", sorted(HIGH))
def test_a_high_threshold_is_caught_and_minimized_to_it(name, oracle):
    threshold = HIGH[name]
    result = check(resolve(with_threshold(name, threshold)),
                   CheckOptions(max_examples=300, seed=1, large_every=2, dtypes=["float32"], diagnose=False),
                   oracle=oracle)
    assert result.verdict == "nonconformant", result.verdict
    got = sizes(result.counterexample.case)
    axis = MISTAKES[name][1]
    assert got[axis] == threshold + 1 and all(v == 1 for k, v in got.items() if k != axis), (name, got)


@pytest.mark.parametrize("target", ["correct", "tile_remainder_declared", "split_batch_declared"])
def test_correct_cell_and_declared_limits_pass_large_cases(target, oracle):
    """A run of large cases only: the correct cell passes, and a mistake past a declared limit is never
    given a case that shows it (the undeclared twin fails on the very same run)."""
    options = CheckOptions(max_examples=64, seed=3, large_every=1, dtypes=["float32", "float64"], diagnose=False,
                           minimize=False)
    result = check(resolve(f"{IMPLS}:{target}"), options, oracle=oracle)
    assert result.verdict == "conformant", (target, result.counterexample)
    if target.endswith("_declared"):
        twin = check(resolve(f"{IMPLS}:{target.removesuffix('_declared')}"), options, oracle=oracle)
        assert twin.verdict == "nonconformant", target


def test_seed_missing_forget_bias_still_minimizes_to_one_number(oracle):
    result = check(resolve("seed-missing-forget-bias"), CheckOptions(max_examples=200, seed=0, diagnose=False),
                   oracle=oracle)
    case = result.counterexample.case
    assert sizes(case) == {"batch": 1, "time": 2, "units": 1, "input_size": 1}, sizes(case)
    assert case.nonzero_values() == 1, case.nonzero_entries()


# --- the default settings, end to end (slow) ---------------------------------------------------------------


def _minimized_cases(report_dir: str) -> list[Case]:
    """Every counterexample of a check or fuzz report (a fuzz run finds one per slice that fails)."""
    with open(os.path.join(report_dir, "report.json")) as fh:
        report = json.load(fh)
    found = report.get("counterexamples") or [report["counterexample"]]
    return [Case.load_npz(cx["repro"]) for cx in found]


def assert_one_minimized_to_threshold(cases: list[Case], name: str) -> None:
    _, axis, size = MISTAKES[name]
    assert_one_minimized_to(cases, axis, size)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_default_check_catches_and_minimizes(name, tmp_path):
    fn = MISTAKES[name][0]
    proc = run_cli("check", f"{IMPLS}:{fn.__name__}", "--max-examples", "1000", "--seed", "0", "--no-diagnose",
                   "-q", "--report-dir", str(tmp_path), timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_one_minimized_to_threshold(_minimized_cases(str(tmp_path)), name)


def _high_threshold_file(tmp_path, name: str) -> str:
    """A FILE.py:attr target (what the CLI resolves) for ``name``'s mistake at its HIGH threshold."""
    impl = tmp_path / "high.py"
    impl.write_text(f"import sys\nsys.path.insert(0, {os.path.dirname(HERE)!r})\n"
                    f"from tests.threshold_impls import with_threshold\n"
                    f"wrong = with_threshold({name!r}, {HIGH[name]})\n")
    return f"{impl}:wrong"


def assert_one_minimized_to(cases: list[Case], axis: str, size: int) -> None:
    assert any(sizes(c)[axis] == size and all(v == 1 for k, v in sizes(c).items() if k != axis) for c in cases), \
        (axis, size, [sizes(c) for c in cases])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HIGH))
def test_default_check_catches_a_high_threshold(name, tmp_path):
    """The default ``check --max-examples 1000`` of a mistake whose threshold is near 512."""
    proc = run_cli("check", _high_threshold_file(tmp_path, name), "--max-examples", "1000", "--seed", "0",
                   "--no-diagnose", "-q", "--report-dir", str(tmp_path / "report"), timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_one_minimized_to(_minimized_cases(str(tmp_path / "report")), MISTAKES[name][1], HIGH[name] + 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HIGH))
def test_fuzz_60s_catches_a_high_threshold(name, tmp_path):
    proc = run_cli("fuzz", _high_threshold_file(tmp_path, name), "--budget", "60s", "--seed", "0", "--db", "none",
                   "-q", "--report-dir", str(tmp_path / "report"), timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_one_minimized_to(_minimized_cases(str(tmp_path / "report")), MISTAKES[name][1], HIGH[name] + 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_fuzz_60s_catches_and_minimizes(name, tmp_path):
    fn = MISTAKES[name][0]
    proc = run_cli("fuzz", f"{IMPLS}:{fn.__name__}", "--budget", "60s", "--seed", "0", "--db", "none", "-q",
                   "--report-dir", str(tmp_path), timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_one_minimized_to_threshold(_minimized_cases(str(tmp_path)), name)
