"""Report writers: report.json and the replayable counterexample files."""

from conformance.report._json import (
    SCHEMA_VERSION,
    build_report,
    counterexample_dict,
    repro_command,
    save_counterexample,
    write_json,
)

__all__ = ["SCHEMA_VERSION", "build_report", "counterexample_dict", "repro_command", "save_counterexample", "write_json"]
