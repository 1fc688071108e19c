"""Write every requested report format from one report.json dict (check, matrix and fuzz all call this)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from conformance.outcome import CheckResult
from conformance.spec import ConformanceError, InvalidArgument, write_text_atomic

#: Format name -> file written into the report directory, in the order they are written.
FORMATS: dict[str, str] = {
    "json": "report.json",
    "html": "report.html",
    "junit": "junit.xml",
    "markdown": "summary.md",
}


def parse_formats(values: Iterable[str] | None) -> tuple[str, ...]:
    """``["json,html", "junit"]`` -> ``("json", "html", "junit")``; None or empty -> every format.

    Raises InvalidArgument naming the bad value.
    """
    chosen: list[str] = []
    for value in values or []:
        for item in str(value).split(","):
            name = item.strip().lower()
            if name == "all":
                chosen.extend(FORMATS)
                continue
            if name not in FORMATS:
                raise InvalidArgument(f"--format {item.strip()!r} is not one of {', '.join(FORMATS)} (or all)")
            chosen.append(name)
    if not chosen:
        return tuple(FORMATS)
    return tuple(f for f in FORMATS if f in chosen)


def _renderer(name: str) -> Callable[[Mapping[str, Any]], str]:
    # Imported per format so a JSON-only run never loads the HTML writer (or matplotlib).
    if name == "html":
        from conformance.report._html import render_html

        return render_html
    if name == "junit":
        from conformance.report._junit import render_junit

        return render_junit
    from conformance.report._markdown import render_markdown

    return render_markdown


def _write_text(path: str, text: str) -> None:
    write_text_atomic(path, text)  # a reader never sees half a file


def write_failure(path: str, exc: BaseException) -> str:
    """``PATH: why``: one file that could not be written, on one line (an OSError's strerror, else the exception)."""
    why = (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or f"{type(exc).__name__}: {exc}"
    return " ".join(f"{path}: {why}".split())


def write_reports(report: Mapping[str, Any], directory: str, formats: Iterable[str] | None = None, *,
                  errors: list[str] | None = None) -> dict[str, str]:
    """Write ``formats`` (default: all) of ``report`` into ``directory``; return {format: path} of those written.

    report.json is written first, so whatever happens to the other writers the
    machine-readable record exists.  A writer that fails does not stop the
    others; afterwards a ConformanceError names each failure, or, when ``errors``
    is a list, each failure is appended to it as ``PATH: why`` (see :func:`write_failure`)
    and nothing is raised: the end of a run that must still print its verdict.
    """
    from conformance.report._json import write_json

    wanted = parse_formats(formats)
    paths: dict[str, str] = {}
    failures: list[str] = []
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        failures.append(write_failure(directory, exc))
        wanted = ()
    for name in (f for f in FORMATS if f in wanted):
        path = os.path.join(directory, FORMATS[name])
        try:
            if name == "json":
                paths[name] = write_json(dict(report), directory, FORMATS[name])
            else:
                _write_text(path, _renderer(name)(report))
                paths[name] = path
        except Exception as exc:  # keep writing the others; report every failure below
            failures.append(write_failure(path, exc))
    if errors is not None:
        errors.extend(failures)
    elif failures:
        raise ConformanceError(f"could not write {'; '.join(failures)} (written: {', '.join(paths.values()) or 'none'})")
    return paths


def write_result_reports(result: CheckResult, directory: str, formats: Iterable[str] | None = None) -> dict[str, str]:
    """What ``check --report-dir DIR`` writes, from Python (:meth:`CheckResult.write_reports`): the counterexample
    as ``counterexample.npz``/``.json`` and ``formats`` (default: all) of the report; returns ``{format: path}``
    (``"case"``: the saved ``.npz``). Raises ConformanceError naming each file that could not be written."""
    import sys

    from conformance.report._json import build_report, save_counterexample

    if result.counterexample is not None:
        result = result.replace(counterexample=save_counterexample(result.counterexample, directory))
    # The oracle ran in this process when TF is loaded here (a --workers parent never loads it: then "n/a").
    tf = sys.modules.get("tensorflow")
    paths = write_reports(build_report(result, oracle_version=getattr(tf, "__version__", None)), directory, formats)
    if result.counterexample is not None and result.counterexample.repro:
        paths["case"] = result.counterexample.repro
    return paths
