"""Issue 13's done-when: length and layout mistakes are caught, minimized and diagnosed, against the real
TF oracle; the correct numpy candidate is conformant with row lengths and with time-major inputs.

The wrong candidates are hand-written in tests/wrong_impls.py (:class:`Cell` subclasses that get one
piece of ``dynamic_rnn``'s semantics wrong); the runs use fixed seeds.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest

from conformance import CheckOptions, check, resolve
from conformance.candidates import LoadedCandidate, info_of
from conformance.spec import reference
from conformance.testing import assert_conformant
from tests import wrong_impls as W
from tests.helpers import run_cli


def loaded(fn) -> LoadedCandidate:
    info = info_of(fn)
    return LoadedCandidate(info.name, info.name, fn, info, "module")


def first_failure_counter():
    """A progress callback recording the examples run when the first failure was seen."""
    seen: list[int] = []

    def progress(p) -> None:
        if p.failures and not seen:
            seen.append(p.examples)

    return seen, progress


def test_the_wrong_implementations_base_cell_is_dynamic_rnn():
    """The correct parts of every wrong implementation: Cell equals the spec exactly with lengths
    (full, short, one-step, empty rows) in both layouts, so only the planted mistake differs."""
    for changes in ({"sequence_length": (4, 2, 1, 0)}, {"sequence_length": (4, 2, 1, 0), "time_major": True},
                    {"time_major": True}, {"sequence_length": (3, 0), "use_peepholes": True, "num_proj": 2,
                                           "cell_clip": 0.5, "forget_bias": 0.3}):
        case = W.dense_case(changes, dtype="float64", seed=7)
        outputs, (c, h) = W.Cell(case).run()
        want = reference(case)
        if case.config.time_major:
            assert outputs.shape == (case.time, case.batch, case.config.output_size)
            outputs = outputs.transpose(1, 0, 2)
        for name, got, expected in (("outputs", outputs, want.outputs), ("c", c, want.c), ("h", h, want.h)):
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} for {changes}")


# ------------------------------------------------------------------------- the done-when, through the CLI
@pytest.mark.parametrize("target, variant, seed", [
    ("tests.wrong_impls:padded_repeat_last", "padded_outputs_repeat_last", 0),
    ("tests.wrong_impls:final_state_at_t", "final_state_at_end", 1),
])
def test_length_mistake_is_caught_minimized_and_diagnosed(tmp_path, target, variant, seed):
    proc = run_cli("check", target, "--feature", "sequence_length", "--max-examples", "300", "--seed", str(seed),
                   "--report-dir", str(tmp_path), "-q")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "nonconformant" and report["examples"] <= 300, (report["verdict"], report["examples"])
    cx = report["counterexample"]
    assert cx["sequence_length"] is not None, cx
    assert cx["batch"] <= 2 and cx["time"] <= 3, f"minimized to batch {cx['batch']}, time {cx['time']}"
    ranked = [d["variant"] for d in cx["diagnosis"]]
    assert ranked and ranked[0] == variant, f"diagnosed as {ranked}, expected {variant} first"
    best = cx["diagnosis"][0]
    assert best["explained_cases"] == best["tried_cases"], best
    assert f"diagnosis: {variant}" in proc.stdout and "sequence_length: [" in proc.stdout, proc.stdout


@pytest.mark.parametrize("fn, variant, seed", [
    (W.padded_repeat_last, "padded_outputs_repeat_last", 0),
    (W.final_state_at_t, "final_state_at_end", 1),
])
def test_length_mistake_is_caught_within_300_examples_in_process(oracle, fn, variant, seed):
    seen, progress = first_failure_counter()
    result = check(loaded(fn), CheckOptions(max_examples=300, seed=seed, features=["sequence_length"],
                                            progress=progress), oracle=oracle)
    assert result.verdict == "nonconformant", result
    assert seen and seen[0] <= 300, f"first failure after {seen} examples"
    cx = result.counterexample
    assert cx.case.sequence_length is not None and cx.case.padded_steps() >= 1, cx.case.describe()
    assert cx.case.batch <= 2 and cx.case.time <= 3, cx.case.describe()
    assert [m.variant for m in cx.diagnosis][:1] == [variant], [m.variant for m in cx.diagnosis]


# --------------------------------------------------------------------------- numpy-reference is conformant
@pytest.mark.parametrize("feature", ["sequence_length", "time_major"])
def test_numpy_reference_is_conformant_over_300_examples(oracle, feature):
    loaded_ref = resolve("numpy-reference")
    seen: Counter = Counter()

    def counting(case):
        seen["cases"] += 1
        seen["lengths"] += case.sequence_length is not None
        seen["padded"] += case.padded_steps() > 0
        seen["empty_rows"] += bool(np.any(case.lengths() == 0)) if case.sequence_length is not None else 0
        seen["time_major"] += case.config.time_major
        return loaded_ref.fn(case)

    result = check(dataclasses.replace(loaded_ref, fn=counting),
                   CheckOptions(max_examples=300, seed=3, features=[feature]), oracle=oracle)
    assert result.verdict == "conformant", (result.verdict, result.counterexample and result.counterexample.comparison.message)
    assert result.examples >= 300 and result.features == (feature,), (result.examples, result.features)
    assert set(result.dtypes) == {"float16", "bfloat16", "float32", "float64"}, result.dtypes
    if feature == "sequence_length":
        assert seen["padded"] >= 50 and seen["empty_rows"] >= 10 and seen["time_major"] == 0, seen
    else:
        assert seen["time_major"] >= 50 and seen["lengths"] == 0, seen


# ------------------------------------------------------------------- reading the padding; layout mistakes
def test_a_candidate_reading_the_padding_is_caught(oracle):
    """Ignores sequence_length: runs every row over its padded steps (which hold noise)."""
    result = check(loaded(W.lengths_ignored), CheckOptions(max_examples=300, seed=2, features=["sequence_length"]),
                   oracle=oracle)
    assert result.verdict == "nonconformant", result
    cx = result.counterexample
    assert cx.case.sequence_length is not None and cx.case.padded_steps() >= 1, cx.case.describe()
    assert [m.variant for m in cx.diagnosis][:1] == ["sequence_length_ignored"], [m.variant for m in cx.diagnosis]


class ReadsPaddingIntoState(W.Cell):
    """Zeroes the padded outputs, but its state mask is off by one (``t <= L``): the first padded step
    (noise) still updates the state, so the final state depends on the padding."""

    features = W.LENGTH_FEATURES

    def emit(self, t, active, h_new):
        self.t = t
        return super().emit(t, active, h_new)

    def carry(self, active, c_prev, h_prev, c_new, h_new):
        lengths = self.lengths()
        running = active if lengths is None else self.t <= lengths
        return super().carry(running, c_prev, h_prev, c_new, h_new)


reads_padding = W.as_candidate(ReadsPaddingIntoState, "reads-padding-into-state", dtypes=("float32",))


def test_a_candidate_whose_state_reads_one_padded_step_is_caught(oracle):
    result = check(loaded(reads_padding), CheckOptions(max_examples=300, seed=4, features=["sequence_length"]),
                   oracle=oracle)
    assert result.verdict == "nonconformant", result
    cx = result.counterexample
    assert cx.case.padded_steps() >= 1 and cx.case.batch <= 2, cx.case.describe()


class TimeMajorReturnsBatchMajor(W.Cell):
    """Reads time-major inputs right, but returns the outputs batch-major [B, T, P]."""

    features = W.DEFAULT_FEATURES + ("sequence_length", "time_major")

    def laid_out(self, outputs):
        return outputs


batch_major_outputs = W.as_candidate(TimeMajorReturnsBatchMajor, "time-major-returns-batch-major",
                                     dtypes=("float32",))


def test_a_time_major_candidate_returning_batch_major_outputs_is_caught(oracle):
    result = check(loaded(batch_major_outputs), CheckOptions(max_examples=300, seed=5, features=["time_major"]),
                   oracle=oracle)
    assert result.verdict == "nonconformant", result
    cx = result.counterexample
    assert cx.case.config.time_major, cx.case.describe()
    # Caught as a wrong shape where B != T, as a mismatch where B == T (the transposed outputs).
    assert cx.kind in ("wrong_shape", "mismatch"), (cx.kind, cx.comparison.message)
    if cx.kind == "wrong_shape":
        assert "[T, B, P]" in cx.comparison.message, cx.comparison.message


def test_a_time_major_candidate_returning_batch_major_outputs_on_square_cases_is_a_mismatch(oracle):
    """B == T: the shape is right, the values are transposed."""
    case = W.dense_case({"time_major": True, "batch": 3, "time": 3}, seed=2)
    with pytest.raises(AssertionError, match="mismatch: outputs"):
        assert_conformant(loaded(batch_major_outputs), case, oracle=oracle)
