"""A candidate's return value is checked for kind, dtype and shape before anything converts it (issue 17 item 17):
string arrays and a broadcast view claiming 40 GB are faults of their kind, in process and isolated."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli


@pytest.mark.parametrize("mode", ["--no-isolate", "--isolate"])
@pytest.mark.parametrize("name, kind, words", [
    ("strings", "wrong_dtype", "outputs has dtype <U1, expected a float array"),
    ("huge", "wrong_shape", "outputs has shape (1, 1, 10000000000), expected (1, 1, 1)"),
])
def test_a_hostile_return_value_is_a_fault_not_an_internal_error(name, kind, words, mode, tmp_path):
    proc = run_cli("check", f"tests.user_candidates.hostile_returns:{name}", "--max-examples", "5", "--no-long", mode,
                   "--no-diagnose", "--report-dir", str(tmp_path), "-q")
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    cx = json.loads((tmp_path / "report.json").read_text())["counterexample"]
    assert cx["kind"] == kind and words in cx["message"], cx["message"]


def test_bfloat16_results_are_floats():
    """Regression: numpy calls bfloat16's kind "V" (void); the kind check must still take it as a float."""
    from conformance.candidates import call_candidate, resolve
    from tests.wrong_impls import dense_case

    got = call_candidate(resolve("numpy-reference").fn, dense_case(dtype="bfloat16"))
    assert got.outputs.dtype.name == "bfloat16"
