"""What runs found, as typed, frozen results: the data reports are written from."""

from conformance.outcome._check import (
    SOURCES,
    CheckResult,
    Counterexample,
    Progress,
    ReportWriter,
    register_report_writer,
)
from conformance.outcome._summary import case_summary, summary_html, summary_lines

__all__ = ["SOURCES", "case_summary", "CheckResult", "Counterexample", "Progress", "ReportWriter", "register_report_writer",
           "summary_html", "summary_lines"]
