"""``lstm-conformance merge``: several runs' reports (fuzz shards or checks) become one."""

from __future__ import annotations

import json
import os

import pytest

from conformance.spec import InvalidArgument
from conformance.campaign import merge_reports
from tests.helpers import run_cli


def _cx(repro: str | None, target: str) -> dict:
    return {"kind": "mismatch", "message": "outputs differ", "config": {"num_units": 1, "input_size": 1,
            "dtype": "float32"}, "batch": 1, "time": 2, "source": "generated", "repro": repro, "target": target}


def _write(directory, report: dict, files: tuple[str, ...] = ()) -> str:
    os.makedirs(directory, exist_ok=True)
    for name in files:
        with open(os.path.join(directory, name), "wb") as fh:
            fh.write(b"case bytes of " + name.encode())
    with open(os.path.join(directory, "report.json"), "w") as fh:
        json.dump(report, fh)
    return str(directory)


def _base(command: str, verdict: str, examples: int, elapsed: float) -> dict:
    return {"schema_version": "1.0", "tool": {"name": "lstm-conformance", "version": "0"}, "command": command,
            "verdict": verdict, "examples": examples, "elapsed_s": elapsed, "seed": None, "interrupted": False,
            "budget_exhausted": True, "error": None, "oracle": {"deviations": 1}, "max_abs_error": 0.01,
            "candidate": {"name": "a", "target": "a"}, "coverage": {"features": ["peepholes"], "dtypes": ["float32"]}}


@pytest.fixture
def shards(tmp_path):
    fuzz = _base("fuzz", "nonconformant", 30, 12.0)
    fuzz["counterexamples"] = [_cx(str(tmp_path / "w1" / "counterexample.npz"), "a")]
    fuzz["counterexample"] = fuzz["counterexamples"][0]
    fuzz["runs"] = [{"target": "a", "feature": "all", "dtype": "float32", "verdict": "nonconformant", "examples": 20,
                     "counterexample_index": 0},
                    {"target": "a", "feature": "peepholes", "dtype": "float32", "verdict": "conformant",
                     "examples": 10, "counterexample_index": None}]
    fuzz["history"] = {"path": "h", "series": [{"target": "a", "feature": "all", "dtype": "float32",
                                                "points": [{"run": "r1", "time": "t1", "max_score": 2.0}]}]}
    w1 = _write(tmp_path / "w1", fuzz, ("counterexample.npz", "counterexample.json"))
    check = _base("check", "nonconformant", 7, 20.0)
    check["candidate"] = {"name": "b", "target": "b"}
    check["coverage"] = {"features": ["cell_clip"], "dtypes": ["float16"]}
    # Written elsewhere and moved since (an artifact download): found beside report.json by name.
    check["counterexample"] = _cx("/somewhere/else/counterexample.npz", "b")
    w2 = _write(tmp_path / "w2", check, ("counterexample.npz", "counterexample.json"))
    return w1, w2


def test_merge_joins_runs_counterexamples_and_counts(tmp_path, shards):
    out = str(tmp_path / "out")
    merged = merge_reports(list(shards), out)
    assert merged["verdict"] == "nonconformant", f"merged verdict {merged['verdict']}"
    assert merged["examples"] == 37, f"examples {merged['examples']} != 30 + 7"
    assert merged["elapsed_s"] == 20.0, f"shards run side by side: elapsed {merged['elapsed_s']} should be the max"
    assert [r["shard"] for r in merged["runs"]] == [0, 0, 1], f"runs by shard: {merged['runs']}"
    assert [r.get("counterexample_index") for r in merged["runs"]] == [0, None, 1], \
        f"counterexample indexes must point into the merged list: {merged['runs']}"
    cxs = merged["counterexamples"]
    assert [c["target"] for c in cxs] == ["a", "b"], f"counterexamples: {cxs}"
    assert [os.path.basename(c["repro"]) for c in cxs] == ["counterexample.npz", "counterexample-2.npz"], \
        f"copied files: {[c['repro'] for c in cxs]}"
    for c in cxs:
        assert os.path.dirname(c["repro"]) == out and os.path.exists(c["repro"]), f"{c['repro']} not copied into OUT"
        assert c["repro_command"].startswith("lstm-conformance repro " + c["repro"]), c["repro_command"]
    with open(cxs[1]["repro"], "rb") as fh:
        assert fh.read() == b"case bytes of counterexample.npz", "the second shard's case file was not the one copied"
    assert merged["coverage"] == {"features": ["peepholes", "cell_clip"], "dtypes": ["float16", "float32"]}, \
        f"coverage {merged['coverage']}"
    assert merged["oracle"]["deviations"] == 2, f"oracle deviations {merged['oracle']['deviations']} != 1 + 1"
    assert {c["target"] for c in merged["candidates"]} == {"a", "b"}, f"candidates {merged['candidates']}"
    assert merged["history"]["series"][0]["points"][0]["max_score"] == 2.0, f"history {merged['history']}"
    assert [m["report_dir"] for m in merged["merged_from"]] == list(shards), f"merged_from {merged['merged_from']}"


def test_merged_report_matches_the_schema(tmp_path, shards):
    pytest.importorskip("jsonschema", reason="jsonschema (reports extra) is not installed")
    from conformance.report import validate_report

    validate_report(merge_reports(list(shards), str(tmp_path / "out")))


def test_missing_or_foreign_report_is_a_usage_error(tmp_path):
    with pytest.raises(InvalidArgument, match="no readable report.json"):
        merge_reports([str(tmp_path / "nowhere")], str(tmp_path / "out"))
    _write(tmp_path / "odd", {"hello": 1})
    with pytest.raises(InvalidArgument, match="not an lstm-conformance report"):
        merge_reports([str(tmp_path / "odd")], str(tmp_path / "out"))


def test_merge_cli_exit_codes(tmp_path, shards):
    proc = run_cli("merge", *shards, "--report-dir", str(tmp_path / "out"), "--format", "json,markdown",
                   cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, f"exit {proc.returncode} for a nonconformant merge; {proc.stderr[-800:]}"
    assert (tmp_path / "out" / "summary.md").exists(), "--format markdown should write summary.md"
    proc = run_cli("merge", str(tmp_path / "nowhere"), "--report-dir", str(tmp_path / "out2"), cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "nowhere" in lines[0], \
        f"exit {proc.returncode}, stderr {lines}"
    assert "TensorFlow" not in proc.stderr, proc.stderr
