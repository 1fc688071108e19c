"""Hangs within budgets (issue 17 item 8): timeouts adapt to the calls that returned, no call runs past the
caller's deadline, and a fuzz budget holds while a hang is minimized.

Before adaptive timeouts every hanging call waited the whole ``--timeout`` (60 s by default): ``fuzz`` of a
candidate hanging on batch >= 2 with ``--budget 20s`` ran 67-181 s and kept a large, unminimized case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conformance import CandidateFault
from conformance.candidates._isolation import SubprocessExecutor
from tests import fault_candidates as fc
from tests.test_isolation import make_case

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def executor():
    made: list[SubprocessExecutor] = []

    def make(name: str, **kw) -> SubprocessExecutor:
        ex = SubprocessExecutor(fc.target(name), **kw)
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.close()


def timed_hang(ex: SubprocessExecutor, case) -> tuple[float, CandidateFault]:
    started = time.monotonic()
    with pytest.raises(CandidateFault) as info:
        ex.run(case)
    assert info.value.kind == "hang", info.value.message
    return time.monotonic() - started, info.value


def test_a_hang_after_passing_calls_times_out_in_seconds_not_at_the_user_timeout(executor):
    ex = executor("hang_on_long", timeout_seconds=60.0)
    for t in (1, 2, 3):
        ex.run(make_case(time_=t))  # each a few ms: the timeout adapts to them
    seconds, fault = timed_hang(ex, make_case(time_=4))
    assert seconds < 5.0, f"a hang after ms-long calls took {seconds:.1f} s to find (the --timeout is 60 s)"
    assert "adapted" in fault.message and "60 s" in fault.message, fault.message


def test_without_passing_calls_the_user_timeout_holds(executor):
    ex = executor("hang_on_long", timeout_seconds=1.5)
    seconds, fault = timed_hang(ex, make_case(time_=4))  # nothing to adapt to: the user's timeout
    assert 1.4 < seconds < 5.0, seconds
    assert "1.5 s timeout" in fault.message, fault.message


def test_a_call_cut_short_by_the_deadline_is_not_a_hang(executor):
    from conformance.candidates._isolation import DeadlineReached

    ex = executor("slow_correct", timeout_seconds=60.0)
    ex.run(make_case())
    ex.limit_calls(time.monotonic() + 0.005)  # less than the call needs, far less than its adaptive timeout
    with pytest.raises(DeadlineReached):
        ex.run(make_case())
    ex.limit_calls(None)
    ex.run(make_case())  # a fresh worker, the executor still usable


def test_the_deadline_caps_a_hang_with_nothing_known(executor):
    ex = executor("hang_on_long", timeout_seconds=60.0)
    ex.limit_calls(time.monotonic() + 4.0)
    seconds, fault = timed_hang(ex, make_case(time_=4))  # half what is left: time stays for minimising
    assert 1.0 <= seconds < 3.5, seconds
    assert "budget" in fault.message, fault.message


def test_fuzz_of_a_hang_keeps_its_budget_and_minimizes_the_case(tmp_path):
    budget = 20.0
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "fuzz", fc.target("hang_on_batch"), "--budget", f"{budget:g}s",
         "--seed", "3", "--db", "none", "--report-dir", str(tmp_path / "reports"), "-q", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    wall = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert wall < budget + 5.0, f"fuzz --budget {budget:g}s ran {wall:.1f} s\n{proc.stdout}"
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["verdict"] == "nonconformant", report["verdict"]
    text = proc.stdout
    assert "hang" in text, text
    assert "shapes: batch=2 time=1 input_size=1 num_units=1" in text, text
    nonzero = int(text.split("non-zero values (", 1)[1].split(";", 1)[0])
    assert nonzero <= 3, text
