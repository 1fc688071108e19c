"""Helpers any test can use to check that the reports it produced match report.schema.json.

    from tests.report_helpers import validate_report_file      # a plain function
    from tests.report_helpers import validate_report           # a pytest fixture: validate_report(dict_or_path)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pytest


def validate_report_file(path: str | Path) -> dict[str, Any]:
    """Load a report.json and validate it; fail the test naming the file and the schema problem."""
    path = Path(path)
    assert path.is_file(), f"{path} was not written"
    report = json.loads(path.read_text())
    assert_valid_report(report, where=str(path))
    return report


def assert_valid_report(report: Mapping[str, Any], *, where: str = "report") -> None:
    pytest.importorskip("jsonschema", reason="validating reports needs jsonschema (dev extra)")
    from conformance.report import ReportSchemaError, validate_report

    try:
        validate_report(report)
    except ReportSchemaError as exc:
        raise AssertionError(f"{where}: {exc}") from None


@pytest.fixture
def validate_report():
    """``validate_report(report_dict_or_path)``: assert it matches the shipped schema; returns the dict."""

    def check(report: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
        if isinstance(report, (str, Path)):
            return validate_report_file(report)
        assert_valid_report(report)
        return report

    return check
