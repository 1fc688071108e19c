"""conformance.testing (issue 18 item 2): assert_conformant's message names the failing element, the public
Oracle is a context manager, the plugin's lstm_oracle fixture serves users' own Hypothesis tests."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

import strategies
from conformance import ConformanceError, Result, Tolerance
from conformance.candidates import resolve
from conformance.testing import Oracle, assert_conformant
from tests import wrong_impls as W

ROOT = Path(__file__).resolve().parents[1]


def test_a_conformant_candidate_passes_and_gets_the_comparison(oracle):
    cmp = assert_conformant("numpy-reference", W.dense_case(seed=3), oracle=oracle)
    assert cmp.passed and cmp.score <= 1.0, cmp


def test_the_message_names_array_index_step_got_expected_and_allowed(oracle):
    with pytest.raises(AssertionError) as info:
        assert_conformant("seed-missing-forget-bias", W.dense_case(seed=3), oracle=oracle)
    message = str(info.value)
    assert re.match(r"seed-missing-forget-bias does not conform to TensorFlow's LSTMCell: mismatch: "
                    r"outputs\[\d, \d, \d\] \(time step \d\): got \S+, expected \S+ .*allowed", message), message
    assert "\n  case: batch 2, time 4, input 3, units 2, float32; features used:" in message, message


def test_the_message_names_the_row_and_its_length_and_the_layer_and_direction(oracle):
    case = W.dense_case({"sequence_length": [3, 1]}, seed=1)
    with pytest.raises(AssertionError, match=r"(?s)outputs\[1, 1, \d\] \(time step 1, row 1 of length 1: past the "
                                             r"row's end\).*sequence_length \[3, 1\]"):
        assert_conformant(W.lengths_ignored, case, oracle=oracle)
    network = W.dense_case({"bidirectional": True}, seed=1)
    wrong = W.as_candidate(W.BackwardOutputsNotRereversed, "backward-not-rereversed")
    with pytest.raises(AssertionError, match=r"outputs_bw\[0, 0, 0\] \(top layer backward, time step 0\)"):
        assert_conformant(wrong, network, oracle=oracle)


def test_faults_fail_too_and_tolerances_are_per_dtype_overrides(oracle):
    def crashes(case):
        raise RuntimeError("boom")

    with pytest.raises(AssertionError, match=r"crashes does not conform .*: exception: .*RuntimeError: boom"):
        assert_conformant(crashes, W.dense_case(), oracle=oracle)

    reference = resolve("numpy-reference").fn

    def off_by_1e4(case):
        out, (c, h) = reference(case)
        return out + np.float32(1e-4), (c, h)

    case = W.dense_case(seed=2)
    with pytest.raises(AssertionError, match="allowed"):
        assert_conformant(off_by_1e4, case, oracle=oracle)
    assert assert_conformant(off_by_1e4, case, oracle=oracle, tolerances={"float32": Tolerance(atol=1e-3, rtol=0)})
    with pytest.raises(ConformanceError, match="is not a conformance.Case"):
        assert_conformant(off_by_1e4, "case")  # type: ignore[arg-type]


def test_the_public_oracle_is_tensorflow_in_a_context_manager(oracle):
    case = W.dense_case(seed=5)
    with Oracle() as mine:
        got = mine.run(case)
        assert not mine.closed and mine.version
    want = oracle.run(case)
    for name, array in got.arrays().items():
        np.testing.assert_array_equal(array, want.arrays()[name], err_msg=name)
    assert isinstance(got, Result) and mine.closed
    with pytest.raises(ConformanceError):
        mine.run(case)


# The README's example ("From Python"), as it is there: the test below must stay the same text.
my_lstm = resolve("numpy-reference").fn  # your candidate


@settings(max_examples=20, deadline=None)
@given(strategies.cases(dtypes=["float32"], max_time=8))
def test_my_lstm_matches_tensorflow(lstm_oracle, case):
    assert_conformant(my_lstm, case, oracle=lstm_oracle)


def test_the_readme_example_is_the_test_above():
    readme = (ROOT / "README.md").read_text()
    block = re.findall(r"```python\n(.*?)```", readme[readme.index("## From Python"):], re.S)[1]
    source = inspect.getsource(test_my_lstm_matches_tensorflow)
    assert source.strip() in block and "my_lstm = resolve(\"numpy-reference\").fn" in block, block


USER_TEST = textwrap.dedent("""
    from hypothesis import given, settings

    import strategies
    from conformance.candidates import resolve
    from conformance.testing import assert_conformant

    forgets = resolve("seed-missing-forget-bias").fn


    @settings(max_examples=20, deadline=None, database=None)
    # features=[]: the cases this seed declares it supports (a projection case would crash it instead)
    @given(strategies.cases(features=[], dtypes=["float32"], max_time=4))
    def test_port(lstm_oracle, case):
        assert_conformant(forgets, case, oracle=lstm_oracle)
""")


def test_a_user_test_fails_with_the_message_and_not_the_helpers_frame(pytester):
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: seed-missing-forget-bias does not conform to TensorFlow's "
                                 "LSTMCell: mismatch: outputs*got*expected*allowed*", "*case: batch *"])
    result.stdout.no_fnmatch_line("*raise AssertionError(*")  # __tracebackhide__: the user's line, not ours
