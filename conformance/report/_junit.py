"""``junit.xml``: one test case per candidate x feature, so CI dashboards list them.

Test cases come from :func:`conformance.report._view.test_cases` (the same facts
as every other format).  A failing case carries the one-line cause as the
``message`` attribute and what/where/why/replay as its text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from conformance.report import _view as v


def render_junit(report: Mapping[str, Any]) -> str:
    """The JUnit XML document (``<testsuites>`` with one ``<testsuite>``) for a report.json dict."""
    cases = v.test_cases(report)
    counts = {s: sum(1 for c in cases if c["status"] == s) for s in ("fail", "error", "skipped")}
    suite_name = f"lstm-conformance {v.clean(report.get('command', 'check'))}: {v.subject(report)}"
    elapsed = report.get("elapsed_s")
    attrs = {"name": suite_name, "tests": str(len(cases)), "failures": str(counts["fail"]),
             "errors": str(counts["error"]), "skipped": str(counts["skipped"]),
             "time": f"{float(elapsed):.3f}" if isinstance(elapsed, (int, float)) else "0"}
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", attrs)
    props = ET.SubElement(suite, "properties")
    oracle = report.get("oracle") or {}
    for name, value in (("verdict", report.get("verdict")), ("seed", report.get("seed")),
                        ("examples", report.get("examples")), ("tensorflow", oracle.get("tensorflow")),
                        ("schema_version", report.get("schema_version"))):
        ET.SubElement(props, "property", {"name": name, "value": v.clean(value)})
    for case in cases:
        tc = ET.SubElement(suite, "testcase", {"classname": v.clean(case["classname"]), "name": v.clean(case["name"]),
                                               "time": "0"})
        status = case["status"]
        if status == "fail":
            el = ET.SubElement(tc, "failure", {"message": v.one_line(case["message"]), "type": "nonconformant"})
            el.text = v.clean(case["detail"] or case["message"])
        elif status == "error":
            el = ET.SubElement(tc, "error", {"message": v.one_line(case["message"]), "type": "error"})
            el.text = v.clean(case["message"])
        elif status == "skipped":
            ET.SubElement(tc, "skipped", {"message": v.one_line(case["message"])})
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
