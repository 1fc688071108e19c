"""Report writers: report.json, report.html, junit.xml, summary.md and the replayable counterexample files."""

from conformance.outcome import register_report_writer as _register_report_writer
from conformance.report._console import (
    print_arrays,
    print_case,
    print_counterexample,
    print_diagnosis,
)
from conformance.report._from_matrix import report_from_matrix
from conformance.report._json import (
    SCHEMA_VERSION,
    build_report,
    counterexample_dict,
    recorded,
    recorded_target,
    repro_command,
    save_counterexample,
    write_json,
)
from conformance.report._matrix_html import render_matrix_html
from conformance.report._progress import ProgressPrinter, progress_printer
from conformance.report._replay import replay_context
from conformance.report._schema import ReportSchemaError, load_schema, validate_report
from conformance.report._write import FORMATS, parse_formats, write_reports, write_result_reports

__all__ = [
    "FORMATS",
    "ProgressPrinter",
    "SCHEMA_VERSION",
    "ReportSchemaError",
    "build_report",
    "counterexample_dict",
    "load_schema",
    "parse_formats",
    "print_arrays",
    "print_case",
    "print_counterexample",
    "print_diagnosis",
    "progress_printer",
    "recorded",
    "render_matrix_html",
    "recorded_target",
    "repro_command",
    "replay_context",
    "report_from_matrix",
    "save_counterexample",
    "validate_report",
    "write_json",
    "write_reports",
    "write_result_reports",
]

# CheckResult.write_reports writes through this (outcome may not import report: report plugs itself in).
_register_report_writer(write_result_reports)
