"""The case's row lengths and layout: validation, persistence, slicing, and the spec's length semantics."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.spec import Case, InvalidArgument, Semantics, reference
from tests.wrong_impls import dense_case


def ragged(case: Case, lengths) -> Case:
    return case.with_sequence_length(np.array(lengths, dtype=np.int32)).validate()


def test_lengths_are_validated_with_the_bad_value_named():
    case = dense_case(batch=2, time=3)
    for lengths, words in (([1, 4], "4 is outside 0..3"), ([-1, 2], "-1 is outside 0..3"), ([1, 2, 3], "shape (3,)"),
                           ([[1, 2]], "shape (1, 2)")):
        with pytest.raises(InvalidArgument, match=words.replace("(", r"\(").replace(")", r"\)")):
            ragged(case, lengths)
    with pytest.raises(InvalidArgument, match="must be integers"):
        case.with_sequence_length(np.array([0.5, 1.0]))


def test_time_major_inputs_are_validated_in_their_layout():
    case = dense_case(batch=2, time=3).with_layout(True)
    assert case.inputs.shape == (3, 2, 3) and case.batch == 2 and case.time == 3
    case.validate()
    bad = Case(case.config, case.params, np.ascontiguousarray(case.inputs.transpose(1, 0, 2)), case.initial_state)
    with pytest.raises(InvalidArgument, match=r"initial_state.c has shape \(2, 2\), expected \(3, 2\) \(batch 3 is read from inputs \(2, 3, 3\) laid out \[time, batch, input\] \(time-major\)\)"):
        bad.validate()
    assert np.array_equal(case.batch_major_inputs, dense_case(batch=2, time=3).inputs)
    assert case.with_layout(False).inputs.shape == (2, 3, 3)


def test_npz_round_trip_keeps_lengths_and_layout(tmp_path):
    case = ragged(dense_case(batch=3, time=4), [4, 0, 2]).with_layout(True)
    path = tmp_path / "c.npz"
    case.save_npz(path)
    back = Case.load_npz(path)
    assert back.config.time_major and back.sequence_length.tolist() == [4, 0, 2]
    assert np.array_equal(back.inputs, case.inputs)
    assert back.describe()["sequence_length"] == [4, 0, 2] and back.describe()["time_major"] is True
    assert {"sequence_length", "time_major"} <= back.features()
    full = dense_case(batch=1, time=2)
    full.save_npz(path)
    assert Case.load_npz(path).sequence_length is None


def test_slicing_counts_lengths_from_the_slice():
    case = ragged(dense_case(batch=3, time=5), [5, 1, 3])
    assert case.slice_time(0, 2).sequence_length.tolist() == [2, 1, 2]
    assert case.slice_time(2, 5).sequence_length.tolist() == [3, 0, 1]
    assert case.slice_batch([2, 0]).sequence_length.tolist() == [3, 5]
    tm = case.with_layout(True)
    assert np.array_equal(tm.slice_time(1, 3).batch_major_inputs, case.slice_time(1, 3).inputs)
    assert np.array_equal(tm.slice_batch([1]).batch_major_inputs, case.slice_batch([1]).inputs)


def test_spec_zeroes_outputs_past_each_end_and_stops_the_state_there():
    case = ragged(dense_case(batch=3, time=4, seed=3), [4, 2, 0])
    got = reference(case)
    full = reference(case.with_sequence_length(None))
    assert np.array_equal(got.outputs[0], full.outputs[0])
    assert np.array_equal(got.outputs[1, :2], full.outputs[1, :2]) and not got.outputs[1, 2:].any()
    assert not got.outputs[2].any()
    two = reference(case.slice_time(0, 2).slice_batch([1]).with_sequence_length(None))
    assert np.allclose(got.c[1], two.c[0], rtol=0, atol=0) and np.allclose(got.h[1], two.h[0], rtol=0, atol=0)
    assert np.array_equal(got.c[2], case.initial_state.c[2]) and np.array_equal(got.h[2], case.initial_state.h[2])


def test_spec_is_layout_blind_and_the_length_knobs_do_what_they_say():
    case = ragged(dense_case(batch=3, time=4, seed=4), [4, 2, 0])
    bm, tm = reference(case), reference(case.with_layout(True))
    assert all(np.array_equal(bm.arrays()[k], tm.arrays()[k]) for k in ("outputs", "c", "h"))
    full = reference(case.with_sequence_length(None))
    rep = reference(case, semantics=Semantics(padded_outputs="repeat_last"))
    assert np.array_equal(rep.outputs[1, 2:], np.broadcast_to(bm.outputs[1, 1], (2, bm.outputs.shape[2])))
    assert not rep.outputs[2].any()
    init = reference(case, semantics=Semantics(padded_outputs="initial_h"))
    assert np.array_equal(init.outputs[2], np.broadcast_to(case.initial_state.h[2], init.outputs[2].shape))
    end = reference(case, semantics=Semantics(final_state_step="end"))
    assert np.array_equal(end.c, full.c) and np.array_equal(end.outputs, bm.outputs)
    one = reference(case, semantics=Semantics(zero_length_as_one=True))
    assert one.outputs[2, 0].any() and not one.outputs[2, 1:].any()
    assert not Semantics(layout="swapped").applicable(case)


def _repeat_last(case):
    """Keras masking: past a row's end the output repeats the last valid one (the state is right)."""
    from conformance.spec import Semantics, reference

    r = reference(case, semantics=Semantics(padded_outputs="repeat_last"))
    npd = case.config.np_dtype
    return r.outputs.astype(npd), (r.c.astype(npd), r.h.astype(npd))


def _state_at_end(case):
    from conformance.spec import Semantics, reference

    r = reference(case, semantics=Semantics(final_state_step="end"))
    npd = case.config.np_dtype
    return r.outputs.astype(npd), (r.c.astype(npd), r.h.astype(npd))


def test_localization_names_the_row_and_its_length():
    from conformance import candidate
    from conformance.diagnose import localize
    from tests.wrong_impls import executor_for

    case = ragged(dense_case(batch=2, time=4, seed=5), [4, 2])
    fn = candidate(_repeat_last, features=["initial_state", "sequence_length"], dtypes=["float32"])
    got = executor_for(fn).run(case)
    loc = localize(case, got, executor_for(fn))
    assert "row 1 diverges only at padded steps t >= L[1] = 2" in loc.summary, loc.summary
    assert [r.row for r in loc.rows] == [1] and loc.rows[0].padded_only and not loc.rows[0].final_state_differs
    assert loc.first_steps["c"] is None and loc.first_steps["h"] is None, loc.to_dict()

    fn = candidate(_state_at_end, features=["initial_state", "sequence_length"], dtypes=["float32"])
    got = executor_for(fn).run(case)
    loc = localize(case, got, executor_for(fn))
    assert "the final state of row 1 (length 2) differs, its outputs agree" in loc.summary, loc.summary
    assert loc.first_steps["outputs"] is None


def test_mismatch_message_says_row_length_and_layout():
    from conformance import compare
    from conformance.spec import Result

    case = ragged(dense_case(batch=2, time=3, seed=6), [3, 1]).with_layout(True)
    exp = reference(case).astype(np.float32)
    bad = exp.outputs.copy()
    bad[1, 2, 0] = 0.5
    comparison = compare(case, Result(bad, exp.c, exp.h), exp, check_oracle=False)
    assert not comparison.passed
    assert ("outputs[2, 1, 0] (time-major, time step 2, row 1 of length 1: past the row's end)"
            in comparison.message), comparison.message
