"""A report.json dict from a ``matrix.json`` object, so a matrix run gets the HTML, JUnit and Markdown reports too.

``matrix.json`` (conformance.campaign._matrix) keys cells by candidate name then column id;
each failing cell points at its minimized case (``cases/TARGET--COLUMN.npz``) whose
``.json`` beside it is the full counterexample object (conformance.report.save_counterexample).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from conformance._version import __version__
from conformance.report._json import SCHEMA_VERSION


def _load_counterexample(report_dir: str, case: str | None) -> dict[str, Any] | None:
    if not case:
        return None
    meta = os.path.splitext(os.path.join(report_dir, case))[0] + ".json"
    try:
        with open(meta) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def report_from_matrix(matrix: Mapping[str, Any], report_dir: str) -> dict[str, Any]:
    """The report.json object (with ``matrix`` and ``counterexamples`` sections) of a matrix.json object."""
    columns = [c["id"] if isinstance(c, Mapping) else str(c) for c in matrix.get("columns") or []]
    targets = {t.get("name"): t for t in matrix.get("targets") or [] if isinstance(t, Mapping)}
    rows: list[dict[str, Any]] = []
    cxs: list[dict[str, Any]] = []
    examples = 0
    statuses = set()
    for name, cells in (matrix.get("cells") or {}).items():
        out_cells = {}
        for col, cell in cells.items():
            status = cell.get("status", "error")
            statuses.add(status)
            examples += int(cell.get("examples") or 0)
            out = {"status": status, "message": cell.get("message") or cell.get("reason") or None,
                   "examples": int(cell.get("examples") or 0)}
            cx = _load_counterexample(report_dir, cell.get("case"))
            if cx is not None:
                cx.update(candidate=name, target=(targets.get(name) or {}).get("target", name))
                out["counterexample"] = len(cxs)
                cxs.append(cx)
            out_cells[col] = out
        row_status = [c["status"] for c in out_cells.values()]
        rows.append({"candidate": name, "target": (targets.get(name) or {}).get("target", name),
                     "verdict": "nonconformant" if "nonconformant" in row_status
                     else "error" if "error" in row_status else "conformant",
                     "cells": out_cells})
    verdict = "nonconformant" if "nonconformant" in statuses else "error" if "error" in statuses else "conformant"
    settings = matrix.get("settings") or {}
    errors = [f"{r['candidate']} {col}: {c['message']}" for r in rows for col, c in r["cells"].items()
              if c["status"] == "error"]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "lstm-conformance", "version": (matrix.get("tool") or {}).get("version", __version__)},
        "command": "matrix",
        "verdict": verdict,
        "examples": examples,
        "elapsed_s": float(matrix.get("elapsed_s") or 0.0),
        "seed": settings.get("seed"),
        "interrupted": not matrix.get("complete", True),
        "budget_exhausted": False,
        "error": "; ".join(errors[:3]) or None,
        "oracle": {k: v for k, v in (matrix.get("oracle") or {}).items() if k in ("name", "tensorflow")},
        "tolerances": settings.get("tolerances") or {},
        "matrix": {"features": columns, "rows": rows},
        "counterexamples": cxs,
        "counterexample": cxs[0] if cxs else None,
    }
