"""What an in-process candidate call runs under (issue 17 items 5 and 6): its own randomness, and no os._exit."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

from conformance import CheckOptions, check
from conformance.candidates import candidate_call_guard, resolve
from tests.helpers import run_cli


def test_the_guard_gives_fresh_randomness_and_restores_the_callers():
    random.seed(1)
    np.random.seed(1)
    before = random.getstate(), np.random.get_state()[1].copy()
    with candidate_call_guard():
        first = random.random(), np.random.random()
    with candidate_call_guard():
        second = random.random(), np.random.random()
    assert first != second, "every call must see fresh randomness, not the state the caller seeded"
    assert random.getstate() == before[0] and np.array_equal(np.random.get_state()[1], before[1])


def test_os_exit_inside_the_guard_is_an_exception_and_os_exit_comes_back():
    real = os._exit
    with pytest.raises(BaseException, match=r"os\._exit\(3\)"), candidate_call_guard():
        os._exit(3)
    assert os._exit is real


@pytest.mark.parametrize("target", ["tests.user_candidates.misc:sometimes_wrong",
                                    "tests.user_candidates.misc:sometimes_wrong_stdlib"])
def test_a_candidate_wrong_at_random_is_caught_in_process(target, oracle):
    # Before: Hypothesis seeds random and np.random alike for every example, so the candidate drew the
    # same number every time and passed 1,000 examples.  One in 30 wrong: 600 examples miss it with
    # probability 1e-9.
    result = check(resolve(target), CheckOptions(max_examples=600, seed=0, long_sequences=False, minimize=False,
                                                 diagnose=False), oracle=oracle)
    assert result.verdict == "nonconformant", f"{result.verdict} after {result.examples} examples"


def test_os_exit_in_a_candidate_is_a_finding_with_a_report(tmp_path):
    proc = run_cli("check", "tests.user_candidates.misc:exits", "--max-examples", "40", "--seed", "0", "--no-long",
                   "--no-isolate", "--no-diagnose", "--report-dir", str(tmp_path), "-q")
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    cx = json.loads((tmp_path / "report.json").read_text())["counterexample"]
    assert cx["kind"] == "exception" and "os._exit(0)" in cx["message"], cx["message"]


def test_in_process_and_isolated_candidates_see_one_tf_environment(tmp_path):
    """Issue 17 item 7: TF_USE_LEGACY_KERAS, TF_ENABLE_ONEDNN_OPTS and TF_CPP_MIN_LOG_LEVEL as the oracle
    imports TF, in both modes (a user's own setting wins in both)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_USE_LEGACY_KERAS", "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
    messages = {}
    for mode in ("--no-isolate", "--isolate"):
        out = tmp_path / mode.strip("-")
        proc = run_cli("check", "tests.user_candidates.misc:env_probe", "--max-examples", "5", "--no-long", mode,
                       "--no-diagnose", "--report-dir", str(out), "-q", env=env)
        assert proc.returncode == 1, f"{mode}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        messages[mode] = json.loads((out / "report.json").read_text())["counterexample"]["message"]
    assert "TF_USE_LEGACY_KERAS=1 TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=3" in messages["--no-isolate"], messages
    assert messages["--isolate"].split(" at ")[0] == messages["--no-isolate"].split(" at ")[0], messages
