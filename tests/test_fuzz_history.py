"""The error history file (JSON lines) and the ``history`` series reports plot."""

from __future__ import annotations

import json

import pytest

from conformance.campaign import _history as _history
from conformance.spec import InvalidArgument


def _record(run: str, time: str, dtype: str = "float32", err: float = 1e-7, score: float = 0.1) -> dict:
    return {"run": run, "time": time, "target": "t", "feature": "all", "dtype": dtype, "examples": 10,
            "verdict": "conformant", "max_abs_error": err, "max_score": score, "tool": "0", "tensorflow": "2"}


def test_append_read_series(tmp_path):
    path = str(tmp_path / "h.jsonl")
    _history.append(path, [_record("r1", "2024-01-01T00:00:00Z"), _record("r1", "2024-01-01T00:00:00Z", "float16")])
    _history.append(path, [_record("r2", "2024-01-02T00:00:00Z", err=2e-7, score=0.3)])
    records = _history.read(path)
    assert [r["run"] for r in records] == ["r1", "r1", "r2"], f"records read back: {records}"
    hist = _history.series(records, path=path)
    assert hist["path"] == path, f"history path {hist['path']!r}"
    by_dtype = {s["dtype"]: s for s in hist["series"]}
    assert set(by_dtype) == {"float32", "float16"}, f"series: {list(by_dtype)}"
    points = by_dtype["float32"]["points"]
    assert [p["run"] for p in points] == ["r1", "r2"], f"float32 points in time order: {points}"
    assert [p["max_score"] for p in points] == [0.1, 0.3], f"float32 max_score over runs: {points}"


def test_bad_lines_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "h.jsonl"
    good = [json.dumps(_record("r1", "t1")), json.dumps(_record("r2", "t2"))]
    path.write_text(good[0] + "\n{not json\n[1, 2]\n\n" + good[1] + "\n")
    warnings: list[str] = []
    records = _history.read(str(path), warn=warnings.append)
    assert [r["run"] for r in records] == ["r1", "r2"], f"good records: {records}"
    assert len(warnings) == 2 and ":2:" in warnings[0] and ":3:" in warnings[1], f"warnings name the lines: {warnings}"


def test_merge_series_counts_each_point_once():
    a = _history.series([_record("r1", "t1"), _record("r2", "t2")], path="h")
    b = _history.series([_record("r2", "t2"), _record("r3", "t3")], path="h")
    merged = _history.merge_series([a, b, None])
    points = merged["series"][0]["points"]
    assert [p["run"] for p in points] == ["r1", "r2", "r3"], f"merged points: {points}"
    assert _history.merge_series([None, {}]) is None, "no history in, no history out"


def test_unwritable_history_is_a_usage_error(tmp_path):
    with pytest.raises(InvalidArgument, match="is a directory"):
        _history.check_history_path(str(tmp_path))


def test_non_finite_errors_are_written_as_null(tmp_path):
    path = str(tmp_path / "h.jsonl")
    _history.append(path, [_record("r1", "t1", err=float("inf"), score=float("nan"))])
    record = _history.read(path)[0]
    assert record["max_abs_error"] is None and record["max_score"] is None, f"non-finite errors stored as {record}"


def test_the_html_report_plots_the_history():
    from conformance.report._html import render_html

    records = [_record("r1", "2024-01-01T00:00:00Z", score=0.1), _record("r2", "2024-01-02T00:00:00Z", score=0.4),
               _record("r3", "2024-01-03T00:00:00Z", score=0.9), _record("r1", "2024-01-01T00:00:00Z", "float16")]
    report = {"schema_version": 1, "verdict": "conformant", "examples": 30, "history": _history.series(records)}
    page = render_html(report)
    assert '<section id="history">' in page, "no history section in the HTML report"
    section = page[page.index('<section id="history">'):]
    section = section[: section.index("</section>")]
    assert "<svg" in section and 'aria-label="error history per fuzz run"' in section, "no history plot"
    assert section.count("<tr>") >= 3, f"expected a header row and one row per series:\n{section[-800:]}"
    assert "0.9" in section and "float16" in section, "the last point of each series is not shown"
    assert '<section id="history">' not in render_html({**report, "history": None}), "a history section without one"
