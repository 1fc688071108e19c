"""Comparison: tolerances per dtype, NaN/Inf, shapes and dtypes, first divergence, overrides."""

from __future__ import annotations

import numpy as np
import pytest

from conformance import DEFAULT_TOLERANCES, InvalidArgument, Result, Tolerance, compare, reference
from conformance.judge import parse_tolerance_overrides
from tests.test_spec import small_case


def spec_result(case):
    return reference(case).astype(case.config.np_dtype)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_identical_results_pass_with_zero_error(dtype):
    case = small_case(dtype)
    r = spec_result(case)
    cmp = compare(case, r, r)
    assert cmp.passed and cmp.max_abs_error == 0.0, cmp.message


def test_a_perturbed_step_is_located_in_time():
    case = small_case("float32")
    want = spec_result(case)
    bad_out = want.outputs.copy()
    bad_out[1, 2, 0] += 0.01
    cmp = compare(case, Result(bad_out, want.c, want.h), want)
    assert not cmp.passed and cmp.kind == "mismatch"
    assert cmp.first_divergent_step == 2 and cmp.first_divergent_array == "outputs", cmp
    assert cmp.worst["index"] == [1, 2, 0], cmp.worst
    assert "time step 2" in cmp.message and "outputs[1, 2, 0]" in cmp.message, cmp.message
    assert cmp.step_errors[0] == 0 and cmp.step_errors[2] == pytest.approx(0.01, rel=1e-3), cmp.step_errors


def test_errors_within_dtype_tolerance_pass_and_beyond_fail():
    case = small_case("float16")
    want = spec_result(case)
    tol = DEFAULT_TOLERANCES["float16"]
    ok = want.outputs.astype(np.float64) + tol.atol / 4
    assert compare(case, Result(ok.astype(np.float16), want.c, want.h), want).passed
    far = want.outputs.astype(np.float64) + 0.2
    cmp = compare(case, Result(far.astype(np.float16), want.c, want.h), want)
    assert not cmp.passed and cmp.max_abs_error > 0.1, cmp


def test_final_state_only_divergence_is_reported_on_the_last_step():
    case = small_case("float64")
    want = spec_result(case)
    cmp = compare(case, Result(want.outputs, want.c + 1e-3, want.h), want)
    assert not cmp.passed and cmp.first_divergent_array == "c" and cmp.first_divergent_step == case.time - 1, cmp


def test_nan_where_oracle_is_finite_fails_as_non_finite():
    case = small_case("float32")
    want = spec_result(case)
    out = want.outputs.copy()
    out[0, 1, 1] = np.nan
    cmp = compare(case, Result(out, want.c, want.h), want)
    assert not cmp.passed and cmp.kind == "non_finite", cmp
    assert "non-finite" in cmp.message and "time step 1" in cmp.message, cmp.message


def test_inf_matching_oracle_inf_is_not_an_error():
    case = small_case("float32")
    want = spec_result(case)
    out = want.outputs.copy()
    out[0, 0, 0] = np.inf
    same = Result(out, want.c, want.h)
    # The oracle strays from the spec here: the candidate equal to the oracle is still conformant.
    assert compare(case, same, same).passed


def test_wrong_shape_and_dtype_are_their_own_kinds():
    case = small_case("float32")
    want = spec_result(case)
    cmp = compare(case, Result(want.outputs[:, :-1], want.c, want.h), want)
    assert cmp.kind == "wrong_shape" and "outputs has shape (2, 3, 2), expected (2, 4, 2)" in cmp.message, cmp.message
    cmp = compare(case, want.astype(np.float64), want)
    assert cmp.kind == "wrong_dtype" and "expected float32" in cmp.message, cmp.message


def test_oracle_straying_from_the_spec_is_reported_not_blamed():
    case = small_case("float32")
    spec = spec_result(case)
    broken_oracle = Result(spec.outputs + np.float32(0.5), spec.c, spec.h)
    cmp = compare(case, spec, broken_oracle)
    assert cmp.passed, cmp.message
    assert cmp.oracle_deviation and "differs from the float64 spec" in cmp.oracle_deviation, cmp


def test_tolerance_overrides_parse_and_reject_bad_values():
    table = parse_tolerance_overrides(["float16=1e-2", "float32=1e-5:1e-4"])
    assert table["float16"] == Tolerance(1e-2, 1e-2) and table["float32"] == Tolerance(1e-5, 1e-4)
    assert table["float64"] == DEFAULT_TOLERANCES["float64"]
    for bad, msg in [("float8=1", "float8=1"), ("float16", "float16"), ("float16=abc", "'abc'"),
                     ("float16=-1", "atol=-1.0")]:
        with pytest.raises(InvalidArgument, match=msg):
            parse_tolerance_overrides([bad])


def test_a_tighter_override_turns_a_pass_into_a_fail():
    case = small_case("float16")
    want = spec_result(case)
    # 4e-3: within the default atol (8e-3), beyond 1e-4 plus 8x the rounding spread (2.6e-3 here: the spread of
    # step 0 holds for the later steps too, since a deviation once reached stays possible).
    near = Result((want.outputs.astype(np.float64) + 4e-3).astype(np.float16), want.c, want.h)
    assert compare(case, near, want).passed
    tight = parse_tolerance_overrides(["float16=1e-4"])
    assert not compare(case, near, want, tolerances=tight).passed
