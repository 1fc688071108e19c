"""Numbers that show the difference (issue 18 item 3): one rule, conformance.spec.shortest, everywhere a
got/expected pair is printed; a ULP figure that stays sane at expected = 0.

No TensorFlow: the "oracle" results are the float64 spec, shifted by hand.
"""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.judge import DEFAULT_JUDGE
from conformance.report._html import render_html
from conformance.report._markdown import render_markdown
from conformance.report._view_case import replay_snippet, what_failed
from conformance.spec import Result, difference, distinct, numpy_dtype, reference, shortest
from tests.wrong_impls import dense_case

DTYPE_BITS = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32, "float64": np.uint64}


@settings(max_examples=300, deadline=None)
@given(dtype=st.sampled_from(sorted(DTYPE_BITS)), bits=st.integers(0, 2**16 - 1), wide=st.integers(0, 2**64 - 1))
def test_shortest_round_trips_in_its_dtype(dtype, bits, wide):
    npd = numpy_dtype(dtype)
    raw = wide if dtype == "float64" else (wide if dtype == "float32" else bits) & (2 ** (8 * npd.itemsize) - 1)
    x = np.array(raw % (2 ** (8 * npd.itemsize)), dtype=DTYPE_BITS[dtype]).view(npd)
    value = float(x)
    text = shortest(value, dtype)
    if not np.isfinite(value):
        assert text in ("nan", "inf", "-inf")
        return
    back = float(np.array(float(text), dtype=npd))
    assert back == value, f"{dtype}: {text!r} reads back as {back!r}, not {value!r}"
    # Shortest: one digit fewer no longer round-trips (or the value needs no digits beyond 1).
    digits = len(re.sub(r"e.*|[-.]", "", text).lstrip("0")) or 1
    if digits > 1 and value != 0:
        fewer = f"{value:.{digits - 1}g}"
        assert float(np.array(float(fewer), dtype=npd)) != value, f"{dtype}: {fewer!r} also round-trips {value!r}"


def test_distinct_values_of_a_dtype_never_print_alike():
    for dtype in DTYPE_BITS:
        npd = numpy_dtype(dtype)
        x = np.array(0.29975402, dtype=npd)
        y = np.nextafter(x.astype(np.float64), 1.0) if dtype == "float64" else None
        if y is None:
            y = (x.view(DTYPE_BITS[dtype]) + 1).view(npd)
        assert shortest(float(x), dtype) != shortest(float(y), dtype), dtype
    assert shortest(float(np.float32(0.1)), "float32") == "0.1"
    assert shortest(float(np.array(0.3, dtype=ml_dtypes.bfloat16)), "bfloat16") == "0.3"
    # A value that is not a float32 (the float64 spec in a float32 case) keeps its own digits.
    assert shortest(0.1 + 2e-10, "float32") == repr(0.1 + 2e-10)


def test_differences_have_two_significant_digits_and_never_read_as_equal_to_their_bound():
    assert difference(0.2997540003, 0.2997540001) == "2e-10"
    assert difference(1.0, 1.0 + 2.16e-10) == "2.2e-10"
    assert distinct(2.16e-10, 1.3e-10) == ("2.2e-10", "1.3e-10")
    a, b = distinct(2.2049e-10, 2.2031e-10)
    assert a != b and a.startswith("2.20") and b.startswith("2.20")


def _float64_mismatch(delta: float):
    """A float64 case whose "candidate" is the spec with one output shifted by ``delta`` (beyond atol)."""
    case = dense_case({"forget_bias": 2.0}, dtype="float64", batch=2, time=3, seed=5)
    spec = reference(case)
    out = spec.outputs.copy()
    out[1, 2, 0] += delta
    cmp = DEFAULT_JUDGE.compare(case, Result(out, spec.c, spec.h), spec, check_oracle=False)
    return case, spec, cmp


def test_a_float64_mismatch_of_2e10_prints_two_different_numbers_in_the_message():
    atol = DEFAULT_JUDGE.tolerance("float64").atol
    delta = max(2e-10, 4 * atol)
    case, spec, cmp = _float64_mismatch(delta)
    assert not cmp.passed, cmp.message
    m = re.search(r"got (\S+), expected (\S+) \(\|diff\| (\S+) > allowed (\S+)\)", cmp.message)
    assert m, f"message has no got/expected pair: {cmp.message!r}"
    got, expected, diff, allowed = m.groups()
    assert got != expected, f"got and expected print alike: {cmp.message!r}"
    assert float(got) == cmp.worst["got"] and float(expected) == cmp.worst["expected"]
    assert diff == f"{abs(float(got) - float(expected)):.2g}" and diff != allowed


def _report_of(case, cmp) -> dict:
    cx = {"kind": cmp.kind, "message": cmp.message, "worst": cmp.worst, "max_abs_error": cmp.max_abs_error,
          "config": {"dtype": case.config.dtype, "num_units": case.config.num_units},
          "step_errors": cmp.step_errors, "first_divergent_step": cmp.first_divergent_step,
          "first_divergent_array": cmp.first_divergent_array, "repro": "/tmp/case.npz",
          "repro_command": "lstm-conformance repro /tmp/case.npz --candidate m:f", "target": "m:f",
          "batch": case.batch, "time": case.time, "input_size": case.config.input_size,
          "num_units": case.config.num_units, "output_size": case.config.output_size}
    return {"verdict": "nonconformant", "candidate": {"name": "m", "target": "m:f"}, "examples": 1,
            "seed": 1, "counterexample": cx}


def test_every_writer_shows_the_float64_pair_with_its_round_trip_digits():
    delta = max(2e-10, 4 * DEFAULT_JUDGE.tolerance("float64").atol)
    case, spec, cmp = _float64_mismatch(delta)
    report = _report_of(case, cmp)
    got, expected = repr(cmp.worst["got"]), repr(cmp.worst["expected"])
    assert got != expected
    assert f"{got[:8]}" == f"{expected[:8]}", "the test wants two numbers that agree in their first 6 digits"
    html = render_html(report)
    worst_row = re.search(r'<table class="worst">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert worst_row and got in worst_row.group(1) and expected in worst_row.group(1), "HTML worst-element table"
    assert got in what_failed(report["counterexample"]) and expected in what_failed(report["counterexample"])
    findings = re.search(r'<dl class="findings">(.*?)</dl>', html, re.S)
    assert findings and got in findings.group(1) and expected in findings.group(1), "HTML findings box"
    md = render_markdown(report)
    assert got in md and expected in md, "summary.md"
    snippet = replay_snippet(report["counterexample"], report) or ""
    assert snippet.rstrip().endswith(f"{expected})"), f"snippet: {snippet.splitlines()[-1]!r}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ulps_are_sane_where_the_expected_value_is_zero(dtype):
    """An expected exact 0 used to count the error in units of the smallest subnormal spacing (2.72e+44)."""
    case = dense_case({}, dtype=dtype, batch=1, time=1, seed=3)
    npd = case.config.np_dtype
    spec = reference(case)
    expected = Result(np.zeros_like(spec.outputs).astype(npd), spec.c.astype(npd), spec.h.astype(npd))
    got = Result(np.full_like(spec.outputs, 0.38).astype(npd), spec.c.astype(npd), spec.h.astype(npd))
    cmp = DEFAULT_JUDGE.compare(case, got, expected, check_oracle=False)
    nmant = np.finfo(npd).nmant
    assert not cmp.passed
    assert 1 <= cmp.max_ulp_error <= 2.0 ** (nmant + 1), f"{dtype}: max ulp error {cmp.max_ulp_error:.3g}"
