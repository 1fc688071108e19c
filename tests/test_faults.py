"""Faults as findings: ``check`` with isolation on candidates that misbehave on some inputs.

Each run must survive its candidate, report the fault's own kind with a one-line
message, minimize the case to the size the fault needs, and write a report.json
that reads back and validates against the schema.
"""

from __future__ import annotations

import json

import pytest

from conformance import CheckOptions, check
from conformance.report import build_report, save_counterexample, validate_report, write_json
from tests import fault_candidates as fc


def run_isolated(name: str, oracle, **overrides):
    # No large case (docs/strategies.md): a batch as long as the sequence makes a transposed result the right shape.
    options = dict(isolate=True, timeout_seconds=1.5, max_examples=30, seed=1, max_time=8, long_sequences=False,
                   max_units=6, max_input_size=4, minimize_seconds=30.0, large_every=0)
    options.update(overrides)
    return check(fc.target(name), CheckOptions(**options), oracle=oracle)


def assert_report_intact(result, directory) -> dict:
    """Write the counterexample and report.json as the CLI does; read them back; validate the schema."""
    if result.counterexample is not None:
        save_counterexample(result.counterexample, str(directory))
    path = write_json(build_report(result, oracle_version="test"), str(directory))
    with open(path) as fh:
        report = json.load(fh)
    validate_report(report)
    return report


#: candidate, extra options, expected kind, words the message must hold, minimized (batch, time, input, units).
FAULTS = [
    ("segfault_on_wide", {}, "crash", ("SIGSEGV", "_segfault"), (1, 1, 1, 3)),
    ("abort_on_long", {}, "crash", ("SIGABRT",), (1, 3, 1, 1)),
    ("exit_on_batch", {}, "crash", ("status 7",), (2, 1, 1, 1)),
    ("hang_on_long", {}, "hang", ("timeout",), (1, 4, 1, 1)),
    ("eat_memory_on_wide", {"memory_limit_mb": 300}, "memory", ("MemoryError",), (1, 1, 1, 2)),
    ("killed_on_wide", {}, "memory", ("SIGKILL",), (1, 1, 1, 2)),
    ("raise_on_wide_input", {}, "exception", ("ValueError",), (1, 1, 2, 1)),
    ("exit_call_on_wide_input", {}, "exception", ("SystemExit: 5",), (1, 1, 2, 1)),
    ("nan_on_batch", {}, "non_finite", ("non-finite",), (2, 1, 1, 1)),
    ("time_major_on_batch", {}, "wrong_shape", ("outputs has shape",), (2, None, 1, 1)),
    ("float64_on_long", {}, "wrong_dtype", ("float64",), (1, 2, 1, 1)),
]


@pytest.mark.parametrize("name, extra, kind, words, minimal", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_is_a_finding_with_a_minimized_case(name, extra, kind, words, minimal, oracle, tmp_path):
    result = run_isolated(name, oracle, **extra)
    cx = result.counterexample
    assert result.verdict == "nonconformant" and cx is not None, (
        f"{name}: verdict {result.verdict} after {result.examples} examples, error {result.error}")
    assert cx.kind == kind, f"{name}: kind {cx.kind!r}, expected {kind!r} ({cx.comparison.message})"
    message = cx.comparison.message
    assert "\n" not in message, f"{name}: message is not one line: {message!r}"
    for word in words:
        assert word in message, f"{name}: {word!r} not in message {message!r}"
    shape = (cx.case.batch, cx.case.time, cx.case.config.input_size, cx.case.config.num_units)
    want = tuple(s if w is None else w for s, w in zip(shape, minimal))
    assert shape == want, f"{name}: minimized (batch, time, input_size, num_units) = {shape}, expected {want}"
    report = assert_report_intact(result, tmp_path)
    assert report["counterexample"]["kind"] == kind, report["counterexample"]["kind"]
    assert report["verdict"] == "nonconformant"


def test_wrong_numbers_that_change_on_a_rerun_are_reported_as_nondeterminism(oracle, tmp_path):
    """Every other call is off by 1e-3: the mismatch does not reproduce, and the report says why."""
    result = run_isolated("nondeterministic", oracle)
    cx = result.counterexample
    assert cx is not None and cx.kind == "nondeterminism", (
        f"verdict {result.verdict}, kind {cx.kind if cx else None}: {cx.comparison.message if cx else ''}")
    assert "re-running the same case changed" in cx.comparison.message, cx.comparison.message
    assert assert_report_intact(result, tmp_path)["counterexample"]["kind"] == "nondeterminism"


def test_every_nth_rerun_catches_outputs_that_differ_only_between_runs(oracle, tmp_path):
    """Each call is within tolerance of the oracle; only the periodic re-run shows two different answers."""
    result = run_isolated("flip_flop_within_tolerance", oracle, determinism_every=3)
    cx = result.counterexample
    assert cx is not None and cx.kind == "nondeterminism", (
        f"verdict {result.verdict} after {result.examples} examples, kind {cx.kind if cx else None}")
    assert "re-running the same case changed" in cx.comparison.message, cx.comparison.message
    assert assert_report_intact(result, tmp_path)["counterexample"]["kind"] == "nondeterminism"


def test_rerun_check_can_be_turned_off(oracle):
    result = run_isolated("flip_flop_within_tolerance", oracle, determinism_every=0, max_examples=15)
    assert result.verdict == "conformant", (
        f"{result.verdict}: {result.counterexample and result.counterexample.comparison.message}")


def test_conformant_candidate_survives_rechecks_in_a_worker(oracle, tmp_path):
    result = run_isolated("well_behaved", oracle, determinism_every=2, max_examples=20)
    assert result.verdict == "conformant" and result.examples == 20, (result.verdict, result.examples)
    report = assert_report_intact(result, tmp_path)
    assert report["counterexample"] is None


@pytest.mark.parametrize("name, fragment", [("raise_on_wide_input", "ValueError"),
                                            ("exit_call_on_wide_input", "SystemExit: 5")])
def test_in_process_check_also_reports_non_crashing_faults(name, fragment, oracle):
    """Without isolation nothing survives a segfault, but exceptions, even sys.exit(), are still findings."""
    result = run_isolated(name, oracle, isolate=False, timeout_seconds=None)
    cx = result.counterexample
    assert cx is not None and cx.kind == "exception", (result.verdict, cx and cx.kind)
    assert fragment in cx.comparison.message, cx.comparison.message


def test_fuzz_survives_a_candidate_that_segfaults_hangs_and_returns_nan(tmp_path):
    """The issue's bar: one fuzz run, three kinds of fault, each reported with a minimized case, within budget."""
    import subprocess
    import sys
    import time

    budget = 75
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "fuzz", fc.target("three_faults"), "--budget", str(budget),
         "--timeout", "2", "--no-long", "--db", "none", "--seed", "1", "--report-dir", str(tmp_path),
         "--format", "json", "-q"],
        capture_output=True, text=True, timeout=budget + 120,
    )
    wall = time.monotonic() - started
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    # The budget covers the run; the interpreter start and the final report writing come on top.
    assert wall < budget + 20, f"fuzz took {wall:.0f} s of wall time for a {budget} s budget"
    with open(tmp_path / "report.json") as fh:
        report = json.load(fh)
    validate_report(report)
    assert report["elapsed_s"] <= budget + 5, f"report says {report['elapsed_s']} s for a {budget} s budget"
    by_kind = {cx["kind"]: cx for cx in report["counterexamples"]}
    assert {"crash", "hang", "non_finite"} <= set(by_kind), f"kinds reported: {sorted(by_kind)}"
    expected = {"crash": ("float64", 1), "hang": ("float16", 1), "non_finite": ("float32", 2)}
    for kind, (dtype, batch) in expected.items():
        cx = by_kind[kind]
        assert cx["config"]["dtype"] == dtype, f"{kind} found on {cx['config']['dtype']}, expected {dtype}"
        shape = (cx["batch"], cx["time"], cx["input_size"], cx["num_units"])
        assert shape == (batch, 1, 1, 1), f"{kind}: minimized (batch, time, input_size, num_units) = {shape}"
    assert "SIGSEGV" in by_kind["crash"]["message"] and "timeout" in by_kind["hang"]["message"], by_kind
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
