"""Saved counterexamples replayed as explicit examples (tests/regressions/manifest.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import Case
from conformance.testing import assert_conformant

HERE = Path(__file__).parent / "regressions"
MANIFEST = json.loads((HERE / "manifest.json").read_text())
CASES = [(name, target, verdict) for name, entry in MANIFEST.items()
         for verdict in ("conformant", "nonconformant") for target in entry[verdict]]


@pytest.mark.parametrize("name, target, verdict", CASES)
def test_saved_case_keeps_its_verdict(oracle, name, target, verdict):
    case = Case.load_npz(HERE / name)
    if verdict == "conformant":
        assert_conformant(target, case, oracle=oracle)
    else:
        with pytest.raises(AssertionError):
            assert_conformant(target, case, oracle=oracle)
