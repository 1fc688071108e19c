"""Oracle-free structural properties: each violated one is reported by name, correct candidates pass all."""

from __future__ import annotations

import numpy as np
import pytest

from conformance import DEFAULT_FEATURES, candidate
from conformance.candidates import InProcessExecutor, resolve
from conformance.judge import PROPERTIES, StructuralFinding, check_structure, violated
from tests import wrong_impls as W


def _by_name(structural):
    return {s.property: s.to_dict() for s in structural}


def _check(cell_or_fn, *, time=6, batch=3, **declare):
    fn = cell_or_fn if callable(cell_or_fn) and not isinstance(cell_or_fn, type) else W.as_candidate(cell_or_fn, "x")
    if declare:
        fn = candidate(fn, name="x", **declare)
    case = W.dense_case(time=time, batch=batch)
    return _by_name(check_structure(case, W.executor_for(fn)))


def test_a_correct_candidate_has_every_property():
    ex = InProcessExecutor(resolve("numpy-reference"))
    result = check_structure(W.dense_case({"use_peepholes": True, "cell_clip": 0.5}, time=6, batch=3), ex)
    assert [s.property for s in result] == list(PROPERTIES), result
    bad = [s for s in result if s.holds is not True]
    assert not bad, f"numpy-reference should have every property: {bad}"


class _BatchMean(W.Cell):
    """Normalises inputs by the batch mean: rows are no longer independent."""

    def preactivation(self, x, h):
        return super().preactivation(x - x.mean(axis=0, keepdims=True), h)


class _Reversed(W.Cell):
    """Reads the sequence backwards: output t depends on later inputs."""

    def run(self):
        self.case = self.case.with_arrays({"inputs": np.ascontiguousarray(self.case.inputs[:, ::-1])})
        return super().run()


def test_batch_mixing_violates_row_independence():
    result = _check(_BatchMean)
    assert result["batch_rows_independent"]["holds"] is False, result["batch_rows_independent"]
    assert "row 0" in result["batch_rows_independent"]["message"], result["batch_rows_independent"]["message"]
    assert violated([StructuralFinding(**v) for v in result.values()]) == ["batch_rows_independent"], result


def test_a_periodic_state_reset_breaks_state_carrying():
    result = _check(W.reset_every_cell(3))
    assert result["state_carried"]["holds"] is False, result["state_carried"]
    assert result["batch_rows_independent"]["holds"] is True, result["batch_rows_independent"]


def test_reading_the_sequence_backwards_is_not_causal():
    result = _check(_Reversed)
    assert result["causal"]["holds"] is False, result["causal"]


def test_random_noise_is_not_deterministic():
    rng = np.random.default_rng(0)

    def noisy(case):
        out, (c, h) = W.Cell(case).run()
        return (out + rng.normal(0, 1e-2, out.shape).astype(out.dtype)), (c, h)

    result = _check(candidate(noisy, name="noisy", dtypes=["float32"]))
    assert result["deterministic"]["holds"] is False, result["deterministic"]


def test_declarations_skip_what_they_rule_out():
    result = _check(W.Cell, features=[f for f in DEFAULT_FEATURES if f != "initial_state"], deterministic=False)
    assert result["state_carried"]["holds"] is None and "initial_state" in result["state_carried"]["message"], result
    assert result["deterministic"]["holds"] is None and "deterministic=False" in result["deterministic"]["message"]


@pytest.mark.parametrize("batch, time, skipped", [(1, 6, "batch_rows_independent"), (3, 1, "causal")])
def test_too_small_a_case_skips_with_a_reason(batch, time, skipped):
    result = _check(W.Cell, batch=batch, time=time)
    assert result[skipped]["holds"] is None and "needs" in result[skipped]["message"], result[skipped]
