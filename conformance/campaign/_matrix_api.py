"""The conformance matrix from Python: :func:`matrix`, and what a :class:`Matrix` prints (``str``, a notebook's
HTML table) and writes (:meth:`Matrix.write_reports`)."""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from conformance.candidates import list_candidates, resolve

if TYPE_CHECKING:
    from conformance.campaign._matrix import Cell, Column, Matrix, MatrixSettings


def as_targets(targets: Any) -> list[Any]:
    """``targets`` as a list: one target (a string, a callable, a module) or a list/tuple of them."""
    return list(targets) if isinstance(targets, (list, tuple)) else [targets]


def matrix(
    targets: Any = None,
    settings: MatrixSettings | None = None,
    *,
    report_dir: str | None = None,
    progress: Callable[[str, Column, Cell], None] | None = None,
) -> Matrix:
    """Run every feature column of the conformance matrix for ``targets``; return the :class:`Matrix`.

    ``targets``: one target or a list (target strings, callables ``fn(case)``, modules holding one
    ``@candidate`` function; default: every available built-in). Each failing cell's minimized case
    is saved under ``report_dir`` (default: a fresh temporary directory, ``Matrix.report_dir``), with
    matrix.json and matrix.md, as ``lstm-conformance matrix --report-dir`` does.
    """
    from conformance.campaign._matrix import MatrixSettings, run_matrix

    if targets is None:
        targets = [row.name for row in list_candidates() if row.available]
    loaded = [resolve(t) for t in as_targets(targets)]  # a bad target fails here, before any work
    directory = report_dir or tempfile.mkdtemp(prefix="lstm-conformance-matrix-")
    result, _ = run_matrix(loaded, settings or MatrixSettings(), directory, progress=progress)
    return result


def write_matrix_reports(m: Matrix, directory: str, formats: Iterable[str] | None = None) -> dict[str, str]:
    """matrix.json, matrix.md and matrix.html (and the failing cells' cases, copied when ``directory`` is not where
    the run saved them) into ``directory``; returns ``{"json": path, "markdown": path, "html": path}``."""
    from conformance.campaign._matrix import write_matrix

    del formats  # a matrix writes its three files whatever is asked (kept for the same call as check's)
    if m.report_dir and os.path.abspath(m.report_dir) != os.path.abspath(directory):
        cases = os.path.join(m.report_dir, "cases")
        if os.path.isdir(cases):
            shutil.copytree(cases, os.path.join(directory, "cases"), dirs_exist_ok=True)
    json_path, md_path, html_path = write_matrix(m, directory)
    return {"json": json_path, "markdown": md_path, "html": html_path}


def matrix_rows(m: Matrix) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(column ids, [(candidate, [status per column])]) of the cells run so far."""
    columns = [c.id for c in m.columns()]
    rows = [(name, [row[c].status if c in row else "" for c in columns]) for name, row in m.cells.items()]
    return columns, rows


def matrix_text(m: Matrix) -> str:
    """The matrix as aligned text: one row per candidate, one column per feature column, then the counts."""
    columns, rows = matrix_rows(m)
    short = {"conformant": "ok", "nonconformant": "FAIL", "inconclusive": "?", "unsupported": "-", "error": "ERR"}
    table = [["candidate", *columns]] + [[name, *(short.get(s, s) for s in statuses)] for name, statuses in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    counts = ", ".join(f"{n} {k}" for k, n in m.counts().items() if n)
    lines.append(f"matrix: {counts or 'no cells'} in {m.elapsed_s:.0f} s" + ("" if m.complete else " (partial)"))
    if m.report_dir:
        lines.append(f"cases and matrix.json: {m.report_dir}")
    return "\n".join(lines)


_COLOURS = {"conformant": "#d1f0d8", "nonconformant": "#ffd7d5", "inconclusive": "#fff3c4", "error": "#ffd7d5",
            "unsupported": "#eeeeee"}


def matrix_html(m: Matrix) -> str:
    """The matrix as a coloured HTML table (escaped); a failing cell's title holds its message."""
    columns, _ = matrix_rows(m)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for name, row in m.cells.items():
        cells = []
        for c in columns:
            cell = row.get(c)
            status = cell.status if cell is not None else ""
            title = (cell.message or cell.reason or "") if cell is not None else ""
            cells.append(f'<td style="background:{_COLOURS.get(status, "#fff")}" title="{html.escape(title)}">'
                         f"{html.escape(status)}</td>")
        body.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    caption = html.escape(matrix_text(m).splitlines()[-2 if m.report_dir else -1])
    return (f"<table><caption>{caption}</caption><tr><th>candidate</th>{head}</tr>{''.join(body)}</table>")
