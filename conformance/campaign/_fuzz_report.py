"""The report of a fuzz run, and the merge of several runs' reports into one.

A fuzz report is a check report (conformance.report.build_report) over the whole
run, with ``command: "fuzz"`` and these additions (docs/fuzzing.md):

* ``runs``: one entry per slice that ran (target x feature group x dtype);
* ``counterexamples``: every minimized failure, each naming its target and slice;
  ``counterexample`` stays the first of them, for readers of check reports;
* ``candidates``: every target fuzzed (``candidate`` is the first, or a summary);
* ``budget_s``, ``database``, ``corpus``, ``run_id``;
* ``history``: the error history series (conformance.campaign._history), when ``--history`` is used.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.spec import DTYPES, FEATURES, InvalidArgument, finite_or_none


def counterexample_stem(index: int) -> str:
    """File stem of the ``index``-th (0-based) counterexample in a report directory."""
    return "counterexample" if index == 0 else f"counterexample-{index + 1}"


def save_findings(result: Any, report_dir: str, *, corpus: str | None = None,
                  errors: list[str] | None = None) -> list[str]:
    """Write every counterexample into ``report_dir`` (and new ones into the corpus); return the corpus additions.

    With ``errors`` a list, a file that cannot be written (a full disk) is appended to it as ``PATH: why``
    and the others are still written; without, the OSError is raised.
    """
    from conformance.report import save_counterexample
    from conformance.run import add_to_corpus, entry_stem

    added = []
    for index, (run, cx) in enumerate(result.counterexamples()):
        if corpus:
            try:
                path = add_to_corpus(cx, corpus)
            except OSError as exc:
                if errors is None:
                    raise
                errors.append(f"{os.path.join(corpus, entry_stem(cx.target, cx.case))}.npz: {exc.strerror or exc}")
                path = None
            if path:
                added.append(path)
        # The slice's result now points at the saved case (its replay command in the report).
        stem = counterexample_stem(index)
        try:
            run.result = run.result.replace(counterexample=save_counterexample(cx, report_dir, stem))
        except OSError as exc:
            if errors is None:
                raise
            errors.append(f"{os.path.join(report_dir, stem)}.npz: {exc.strerror or exc}")
    return added


def history_records(result: Any) -> list[dict[str, Any]]:
    """One history record per target x feature group x dtype that ran: its largest errors over the run."""
    from conformance._version import __version__

    merged: dict[tuple, dict[str, Any]] = {}
    for run in result.runs:
        r = run.result
        if r is None:
            continue
        sl = run.slice
        key = (sl.target, sl.group, sl.dtype)
        rec = merged.setdefault(key, {
            "run": result.run_id, "time": result.started_at, "target": sl.target, "feature": sl.group,
            "dtype": sl.dtype, "examples": 0, "verdict": "conformant", "max_abs_error": 0.0, "max_score": 0.0,
            "tool": __version__, "tensorflow": result.tensorflow,
        })
        rec["examples"] += r.examples
        rec["max_abs_error"] = max(rec["max_abs_error"], finite_or_none(r.max_abs_error) or 0.0)
        rec["max_score"] = max(rec["max_score"], finite_or_none(r.max_score) or 0.0)
        if run.verdict != "conformant" and rec["verdict"] != "nonconformant":
            rec["verdict"] = run.verdict
    return list(merged.values())


def _run_dict(index: int, run: Any, cx_index: int | None) -> dict[str, Any]:
    r, sl = run.result, run.slice
    cx = r.counterexample if r is not None else None
    return {
        "index": index,
        "candidate": (r.candidate.name if r is not None and r.candidate.name else None) or sl.target,
        "target": sl.target,
        "feature": sl.group,
        "features": sorted(sl.features, key=FEATURES.index),
        "dtype": sl.dtype,
        "round": run.round,
        "started_s": round(run.started_s, 3),
        "verdict": run.verdict,
        "examples": r.examples if r is not None else 0,
        "elapsed_s": round(r.elapsed, 3) if r is not None else 0.0,
        "seed": run.seed,
        "budget_exhausted": bool(r and r.budget_exhausted),
        "interrupted": bool(r and r.interrupted),
        "max_abs_error": finite_or_none(r.max_abs_error) if r is not None else None,
        "max_score": finite_or_none(r.max_score) if r is not None else None,
        "first_failure_example": run.first_failure_example,
        "db_replayed": run.db_replayed,
        "corpus_replayed": run.corpus_replayed,
        "message": run.error or (f"{cx.kind}: {cx.comparison.message}" if cx is not None else None),
        "error": run.error,
        "counterexample_index": cx_index,
    }


def fuzz_report(result: Any, options: Any) -> dict[str, Any]:
    """The report.json object of a FuzzResult (``options``: the FuzzOptions it ran with)."""
    from conformance.outcome import CheckResult
    from conformance.report import build_report, counterexample_dict

    runs = [r for r in result.runs if r.result is not None]
    cxs = result.counterexamples()
    first = result.candidates[0]
    covered_features = sorted({f for r in result.runs for f in r.slice.features}, key=FEATURES.index)
    covered_dtypes = sorted({r.slice.dtype for r in result.runs}, key=DTYPES.index)
    aggregate = CheckResult(
        verdict=result.verdict, target=first.target, candidate=first.info, examples=result.examples,
        elapsed=result.elapsed, seed=result.seed, counterexample=cxs[0][1] if cxs else None,
        interrupted=result.interrupted, signal=result.signal, budget_exhausted=not result.interrupted,
        oracle_deviations=sum(r.result.oracle_deviations for r in runs),
        oracle_deviation_examples=tuple(e for r in runs for e in r.result.oracle_deviation_examples)[:5],
        max_score=max((finite_or_none(r.result.max_score) or 0.0 for r in runs), default=0.0),
        max_abs_error=max((finite_or_none(r.result.max_abs_error) or 0.0 for r in runs), default=0.0),
        max_abs_error_relative=max(runs, key=lambda r: finite_or_none(r.result.max_abs_error) or 0.0)
        .result.max_abs_error_relative if runs else 0.0,
        rejected_by_accepts=sum(r.result.rejected_by_accepts for r in runs),
        features=tuple(covered_features), dtypes=tuple(covered_dtypes),
        # Whose weights: the first run's (--params, or a model's own), as every run of one target shares them.
        weights=next((r.result.weights for r in runs if r.result.weights is not None), None),
    )
    report = build_report(aggregate, oracle_version=result.tensorflow)
    report["command"] = "fuzz"
    tolerances = options.check.tolerances
    if tolerances:
        report["tolerances"] = {k: {"atol": v.atol, "rtol": v.rtol} for k, v in tolerances.items()}
    errors = ([result.error] if result.error else []) + [f"{r.slice.label}: {r.error}" for r in result.runs if r.error]
    report["error"] = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "") \
        if errors else None
    if len(result.candidates) > 1:
        report["candidate"] = {"name": f"{len(result.candidates)} candidates: "
                                       + ", ".join(c.name or c.target for c in result.candidates),
                               "target": " ".join(c.target for c in result.candidates),
                               "features": covered_features, "dtypes": covered_dtypes}
    report["candidates"] = [
        {"name": c.name or c.target, "target": c.target, "description": c.info.description,
         "features": sorted(c.info.features, key=FEATURES.index), "dtypes": sorted(c.info.dtypes, key=DTYPES.index)}
        for c in result.candidates
    ]
    cx_dicts: list[dict[str, Any]] = []
    cx_index: dict[int, int] = {}
    for run, cx in cxs:
        d = counterexample_dict(cx)
        d.update({"candidate": run.result.candidate.name or run.slice.target, "target": run.slice.target,
                  "slice": {"feature": run.slice.group, "dtype": run.slice.dtype},
                  "from_database": run.from_database})
        cx_index[id(run)] = len(cx_dicts)
        cx_dicts.append(d)
    report["counterexamples"] = cx_dicts
    report["counterexample"] = cx_dicts[0] if cx_dicts else None
    report["runs"] = [_run_dict(i, r, cx_index.get(id(r))) for i, r in enumerate(result.runs)]
    report["budget_s"] = result.budget_seconds
    report["run_id"] = result.run_id
    report["started_at"] = result.started_at
    report["database"] = result.database
    report["corpus"] = result.corpus
    report["history"] = result.history
    shard = getattr(options, "shard", None)
    if shard is not None:  # which share of the plan this job ran (merge checks that every share came)
        report["shard"] = {"index": shard[0], "count": shard[1]}
    return report


# --- merging several reports (scale-out: N workers, one report) -------------------------------------------

_VERDICT_RANK = {"conformant": 0, "error": 1, "nonconformant": 2}


def read_report(directory: str) -> dict[str, Any]:
    """The report.json of a report directory; InvalidArgument naming the directory if there is none."""
    path = os.path.join(directory, "report.json") if os.path.isdir(directory) else directory
    try:
        with open(path) as fh:
            report = json.load(fh)
    except OSError as exc:
        raise InvalidArgument(f"{directory!r}: no readable report.json ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise InvalidArgument(f"{path!r}: not JSON ({exc})") from None
    if not isinstance(report, dict) or "verdict" not in report:
        raise InvalidArgument(f"{path!r}: not an lstm-conformance report (no verdict)")
    return report


def _as_runs(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A fuzz report's runs as they are; a check report becomes one run."""
    if report.get("runs"):
        return [dict(r) for r in report["runs"] if isinstance(r, Mapping)]
    cand = report.get("candidate") or {}
    cov = report.get("coverage") or {}
    cx = report.get("counterexample")
    return [{
        "candidate": cand.get("name"), "target": cand.get("target"), "feature": "all",
        "features": cov.get("features", []), "dtype": ",".join(cov.get("dtypes", [])),
        "verdict": report.get("verdict"), "examples": report.get("examples", 0),
        "elapsed_s": report.get("elapsed_s", 0.0), "seed": report.get("seed"),
        "max_abs_error": report.get("max_abs_error"),
        "message": f"{cx.get('kind')}: {cx.get('message')}" if isinstance(cx, Mapping) else report.get("error"),
        "counterexample_index": 0 if isinstance(cx, Mapping) else None,
    }]


def _as_counterexamples(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    many = report.get("counterexamples")
    if many:
        return [dict(c) for c in many if isinstance(c, Mapping)]
    one = report.get("counterexample")
    return [dict(one)] if isinstance(one, Mapping) else []


def _copy_case(cx: dict[str, Any], source_dir: str, out_dir: str, stem: str) -> None:
    """Copy a counterexample's .npz/.json into ``out_dir`` as ``stem`` and point the entry at the copy."""
    from conformance.report import repro_command

    repro = cx.get("repro")
    if not repro:
        return
    src = repro if os.path.isabs(repro) and os.path.exists(repro) else None
    if src is None:  # the report directory may have moved since it was written (an artifact download)
        candidate = os.path.join(source_dir, os.path.basename(repro))
        src = candidate if os.path.exists(candidate) else None
    if src is None:
        return
    dest = os.path.join(out_dir, stem + ".npz")
    shutil.copyfile(src, dest)
    meta = os.path.splitext(src)[0] + ".json"
    if os.path.exists(meta):
        shutil.copyfile(meta, os.path.join(out_dir, stem + ".json"))
    cx["repro"] = dest
    context = cx.get("replay")
    cx["repro_command"] = repro_command(dest, cx.get("target"), context if isinstance(context, dict) else {})


def shard_coverage(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Which ``fuzz --shard K/N`` shares the reports hold: ``count``, ``merged``, ``missing``, ``repeated``
    (None when none of them is a shard)."""
    shards: list[Mapping[str, Any]] = [r["shard"] for r in reports if isinstance(r.get("shard"), Mapping)]
    if not shards:
        return None
    count = max(int(sh.get("count") or 0) for sh in shards)
    indices = [int(sh.get("index") or 0) for sh in shards]
    return {"count": count, "merged": sorted(set(indices)),
            "missing": [k for k in range(1, count + 1) if k not in indices],
            "repeated": sorted({k for k in indices if indices.count(k) > 1}),
            "mixed_counts": len({int(sh.get("count") or 0) for sh in shards}) > 1}


def merge_reports(directories: Sequence[str], out_dir: str) -> dict[str, Any]:
    """One report from several report directories (fuzz shards, or check reports); counterexample files are copied."""
    from conformance.campaign._history import merge_series

    if not directories:
        raise InvalidArgument("merge needs at least one REPORT_DIR")
    loaded = [(d, read_report(d)) for d in directories]
    os.makedirs(out_dir, exist_ok=True)
    base = dict(loaded[0][1])
    runs: list[dict[str, Any]] = []
    cxs: list[dict[str, Any]] = []
    candidates: dict[str, dict[str, Any]] = {}
    features: list[str] = []
    dtypes: list[str] = []
    deviations = 0
    for shard, (directory, report) in enumerate(loaded):
        offset = len(cxs)
        for cx in _as_counterexamples(report):
            cx.setdefault("target", (report.get("candidate") or {}).get("target"))
            cx.setdefault("candidate", (report.get("candidate") or {}).get("name"))
            _copy_case(cx, os.path.dirname(os.path.join(directory, "report.json")) if os.path.isdir(directory)
                       else os.path.dirname(directory), out_dir, counterexample_stem(len(cxs)))
            cxs.append(cx)
        for run in _as_runs(report):
            if run.get("counterexample_index") is not None:
                run["counterexample_index"] = run["counterexample_index"] + offset
            run["shard"] = shard
            run["source"] = directory
            runs.append(run)
        for c in report.get("candidates") or [report.get("candidate") or {}]:
            if c.get("target"):
                candidates.setdefault(c["target"], dict(c))
        cov = report.get("coverage") or {}
        features += [f for f in cov.get("features", []) if f not in features]
        dtypes += [d for d in cov.get("dtypes", []) if d not in dtypes]
        deviations += int((report.get("oracle") or {}).get("deviations") or 0)
    reports = [r for _, r in loaded]
    verdict = max((r.get("verdict", "error") for r in reports), key=lambda v: _VERDICT_RANK.get(v, 1))
    base.update({
        "command": "merge",
        "verdict": verdict,
        "examples": sum(int(r.get("examples") or 0) for r in reports),
        # Shards run side by side: the merged run took as long as the longest.
        "elapsed_s": max(float(r.get("elapsed_s") or 0.0) for r in reports),
        "seed": None,
        "interrupted": any(r.get("interrupted") for r in reports),
        "budget_exhausted": all(r.get("budget_exhausted") for r in reports),
        "error": "; ".join(f"{d}: {r['error']}" for d, r in loaded if r.get("error")) or None,
        "coverage": {"features": sorted(features, key=lambda f: FEATURES.index(f) if f in FEATURES else 99),
                     "dtypes": sorted(dtypes, key=lambda d: DTYPES.index(d) if d in DTYPES else 99)},
        "max_abs_error": max((e for e in (finite_or_none(r.get("max_abs_error")) for r in reports) if e is not None),
                             default=None),
        "max_abs_error_relative": max(reports, key=lambda r: finite_or_none(r.get("max_abs_error")) or 0.0)
        .get("max_abs_error_relative"),
        "max_error_over_allowed": max((e for e in (finite_or_none(r.get("max_error_over_allowed")) for r in reports)
                                       if e is not None), default=None),
        "examples_asked": None if any(r.get("examples_asked") is None for r in reports)
        else sum(int(r["examples_asked"]) for r in reports),
        "rejected_by_accepts": sum(int(r.get("rejected_by_accepts") or 0) for r in reports),
        "candidates": list(candidates.values()),
        "counterexamples": cxs,
        "counterexample": cxs[0] if cxs else None,
        "runs": runs,
        "merged_from": [{"report_dir": d, "command": r.get("command"), "verdict": r.get("verdict"),
                         "examples": r.get("examples"), "seed": r.get("seed"), "run_id": r.get("run_id")}
                        for d, r in loaded],
        "history": merge_series(r.get("history") for r in reports),
    })
    base.pop("shard", None)
    shards = shard_coverage(reports)
    if shards is not None:
        base["shards"] = shards
    base.setdefault("oracle", {})
    base["oracle"] = {**base["oracle"], "deviations": deviations}
    if len(candidates) > 1:
        base["candidate"] = {"name": f"{len(candidates)} candidates: " + ", ".join(
            c.get("name") or t for t, c in candidates.items()), "target": " ".join(candidates)}
    return base


__all__ = ["counterexample_stem", "fuzz_report", "history_records", "merge_reports", "read_report", "save_findings",
           "shard_coverage"]
