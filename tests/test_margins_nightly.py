"""The correct reference is never NONCONFORMANT in float16 and bfloat16 over long sequences (issue 17 item 2).

Nightly: ``python -m pytest -m nightly tests/test_margins_nightly.py -s`` (``LSTM_CONFORMANCE_MARGIN_CASES``
cases, default 3000, about 2 minutes).  Prints the margin distribution (score = error / allowed error with
the rounding spread always measured; > 1 is a false NONCONFORMANT verdict) and keeps every case over 0.5.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.nightly

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_reference_margins_in_16_bit_long_sequences(dtype, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import margins
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    cases = int(os.environ.get("LSTM_CONFORMANCE_MARGIN_CASES", "3000"))
    features = ["forget_bias", "initial_state", "peepholes", "cell_clip", "projection", "proj_clip", "activation",
                "sequence_length"]
    rc = margins.main(["--dtype", dtype, "--cases", str(cases), "--min-time", "100", "--max-time", "400",
                       "--seed", os.environ.get("LSTM_CONFORMANCE_MARGIN_SEED", "0"), "--out", str(tmp_path),
                       *[a for f in features for a in ("--feature", f)]])
    summary = json.loads((tmp_path / "margins.json").read_text())
    with capsys.disabled():
        print(f"\n{dtype}: {summary['cases']} cases, score median {summary['p50']:.3g}, p90 {summary['p90']:.3g}, "
              f"p99 {summary['p99']:.3g}, max {summary['max_score']:.3g}")
    assert rc == 0 and summary["over_1"] == 0, f"false NONCONFORMANT verdicts on the correct reference: {summary['worst'][:5]}"
