"""``report.json``: the machine-readable record of a run, and the counterexample files beside it."""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

from conformance._version import __version__
from conformance.judge import DEFAULT_TOLERANCES
from conformance.outcome import CheckResult, Counterexample
from conformance.report._replay import replay_command, replay_context
from conformance.report._view_text import safe_str, unpaired_surrogates_escaped
from conformance.spec import finite_or_none, read_regular, write_text_atomic

SCHEMA_VERSION = "1.0"
#: Largest counterexample .json read back (they are a few KiB; a full listing stays far below).
MAX_RECORD_BYTES = 16 * 1024 * 1024
#: Cases with at most this many non-zero numbers list them all in the report.
MAX_LISTED_VALUES = 200


def counterexample_dict(cx: Counterexample) -> dict[str, Any]:
    """The ``counterexample`` object of report.json for a Counterexample."""
    case, cmp = cx.case, cx.comparison
    out = case.describe()
    entries = case.nonzero_entries()
    out.update(
        {
            "kind": cmp.kind,
            "message": cmp.message,
            "max_abs_error": finite_or_none(cmp.max_abs_error),
            "max_rel_error": finite_or_none(cmp.max_rel_error),
            "max_ulp_error": finite_or_none(cmp.max_ulp_error),
            "first_divergent_step": cmp.first_divergent_step,
            "first_divergent_array": cmp.first_divergent_array,
            "step_errors": [finite_or_none(e) for e in cmp.step_errors],
            # got/expected may be NaN or Inf (a non_finite finding): JSON has no such numbers.
            "worst": {k: finite_or_none(v) if isinstance(v, float) else v for k, v in cmp.worst.items()} if cmp.worst else None,
            "oracle_deviation": cmp.oracle_deviation,
            "values": entries if len(entries) <= MAX_LISTED_VALUES else None,
            "source": cx.source,
            "target": cx.target,
            "repro": cx.repro,
            "repro_command": repro_command(cx.repro, cx.target) if cx.repro else None,
            # What the target needs to load from another directory (repro reads it back).
            "replay": replay_context(cx.target),
            # True once diagnosis ran: an empty list then means "no known variant explains this".
            "diagnosed": cx.diagnosed,
            "diagnosis": [m.to_dict() for m in cx.diagnosis],
            "localization": cx.analysis.localization_dict() if cx.analysis is not None else None,
            "structural": [s.to_dict() for s in cx.structural],
            # A converter's model and log, saved beside the .npz (replayable without converting again).
            "artifacts": ([os.path.splitext(cx.repro)[0] + suffix for suffix in sorted(cx.artifacts)]
                          if cx.repro else sorted(cx.artifacts)),
        }
    )
    out.update(_fault_text(cx))
    return out


def _fault_text(cx: Counterexample) -> dict[str, str]:
    """``full_message`` and ``traceback`` of a fault, where the candidate's call recorded them.

    ``message`` is one line cut to a few hundred characters for headlines; TF puts the real
    error at the end of a long message, so the whole text and the traceback are kept here.
    Lone surrogates are written as ``\\udXXX`` so the file is valid Unicode (JSON escapes the rest).
    """
    fault = getattr(cx.evaluation, "fault", None)
    out: dict[str, str] = {}
    for key in ("full_message", "traceback"):
        text = getattr(fault, key, None) if fault is not None else None
        if text:
            out[key] = unpaired_surrogates_escaped(safe_str(text))
    return out


def repro_command(path: str, target: str | None, context: dict[str, Any] | None = None) -> str:
    """The replay command of a saved case, runnable from any directory (conformance.report._replay)."""
    return replay_command(path, target, context)


def build_report(result: CheckResult, *, oracle_version: str | None = None) -> dict[str, Any]:
    """The report.json object for a CheckResult."""
    info = result.candidate
    tolerances = result_tolerances(result)
    cx = result.counterexample
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "lstm-conformance", "version": __version__},
        "command": "check",
        "verdict": result.verdict,
        "examples": result.examples,
        "elapsed_s": round(result.elapsed, 3),
        "seed": result.seed,
        "interrupted": result.interrupted,
        "budget_exhausted": result.budget_exhausted,
        "error": result.error,
        "oracle": {
            "name": "tf.compat.v1.nn.rnn_cell.LSTMCell",
            "tensorflow": oracle_version,
            "deviations": result.oracle_deviations,
            "deviation_examples": list(result.oracle_deviation_examples),
        },
        "candidate": {
            "name": info.name or result.target,
            "target": result.target,
            "description": info.description,
            "features": sorted(info.features),
            "dtypes": sorted(info.dtypes),
        },
        "coverage": {"features": list(result.features), "dtypes": list(result.dtypes)},
        "weights": dict(result.weights) if result.weights is not None else {"source": "generated"},
        "tolerances": tolerances,
        "max_abs_error": finite_or_none(result.max_abs_error),
        # Beside the abs figure: it over the largest |expected| of its example, and the largest error/allowed.
        "max_abs_error_relative": finite_or_none(result.max_abs_error_relative),
        "max_error_over_allowed": finite_or_none(result.max_score),
        "examples_asked": result.examples_asked,
        "rejected_by_accepts": result.rejected_by_accepts,
        "counterexample": counterexample_dict(cx) if cx is not None else None,
    }


def result_tolerances(result: CheckResult) -> dict[str, dict[str, float]]:
    """The tolerance of each dtype the run covered (all of them when it recorded none)."""
    table = {**DEFAULT_TOLERANCES, **(result.tolerances or {})}
    covered = set(result.dtypes or table)
    return {k: {"atol": v.atol, "rtol": v.rtol} for k, v in table.items() if k in covered}


def save_counterexample(cx: Counterexample, directory: str, stem: str = "counterexample") -> Counterexample:
    """Write ``stem.npz`` (loadable with allow_pickle=False) and ``stem.json``.

    Returns the counterexample with ``repro`` pointing at the ``.npz`` (``cx`` itself is unchanged).
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{stem}.npz")
    cx.case.save_npz(path)
    for suffix, content in cx.artifacts.items():
        with open(os.path.join(directory, f"{stem}{suffix}"), "wb") as f:
            f.write(content)
    saved = cx.with_repro(path)
    write_text_atomic(os.path.join(directory, f"{stem}.json"),
                      json.dumps(counterexample_dict(saved), indent=2, sort_keys=True, allow_nan=False))
    return saved


def recorded(npz_path: str) -> dict[str, Any]:
    """The .json :func:`save_counterexample` wrote beside a counterexample .npz (empty when missing or unreadable)."""
    meta = os.path.splitext(npz_path)[0] + ".json"
    try:
        # A regular file of bounded size only: a FIFO or /dev/zero planted beside a shared case is no record.
        data = json.loads(read_regular(meta, MAX_RECORD_BYTES))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_target(npz_path: str) -> str | None:
    """The target saved beside a counterexample .npz: its ``target`` or the last word of its replay command."""
    data = recorded(npz_path)
    if isinstance(data.get("target"), str):
        return data["target"]
    try:
        parts = shlex.split(data.get("repro_command") or "")
    except ValueError:
        return None
    # "lstm-conformance repro FILE TARGET"
    return parts[3] if len(parts) >= 4 else None


def write_json(report: dict[str, Any], directory: str, name: str = "report.json") -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    write_text_atomic(path, json.dumps(report, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path
