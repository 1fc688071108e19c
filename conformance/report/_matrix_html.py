"""``matrix.html``: the conformance matrix as one self-contained page, rendered from the ``matrix.json`` object.

A coloured table (rows candidates, columns behaviours); each failing, inconclusive or error cell links to
its own section below the table: what failed (the comparison message), the diagnosis, the replay
command and links to the minimized case (``cases/TARGET--COLUMN.npz`` and its ``.json``, relative to
the page, so the report directory can be moved as a whole).  Like report.html: inline CSS, no script,
a Content-Security-Policy that forbids every load, every text from the run escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from conformance.report import _view as v
from conformance.report._html import _CSS, CSP, e

_MARK = {"conformant": "✓", "nonconformant": "✗", "inconclusive": "?", "unsupported": "—", "error": "⚠ error"}
_CLASS = {"conformant": "pass", "nonconformant": "fail", "inconclusive": "inconclusive", "unsupported": "unsupported",
          "error": "error"}
_LINKED = ("nonconformant", "inconclusive", "error")
_EXTRA_CSS = """
body { max-width: 1500px; } table.matrix tbody th { white-space: nowrap; }
.cell-inconclusive { background: #fff4ce; } table.matrix td { text-align: center; white-space: nowrap; }
table.matrix td a { color: inherit; } table.matrix th.col { font-size: 13px; }
section.cell { border-left: 4px solid var(--line); padding-left: 12px; margin: 14px 0; }
section.cell.fail { border-color: var(--bad); } section.cell.inconclusive, section.cell.error { border-color: var(--warn); }
.scroll { overflow-x: auto; } .legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border-radius: 4px; }
"""


def cell_id(target: str, column: str) -> str:
    """The page anchor of one cell (ids are ASCII letters, digits, ``-`` and ``_``)."""
    return "cell-" + re.sub(r"[^A-Za-z0-9_-]+", "_", f"{target}--{column}")


def _href(path: str) -> str:
    """A relative file link (the case files sit beside the page); never a scheme such as javascript:."""
    return quote(v.clean(path).lstrip("/"), safe="/-_.")


def _label(cell: Mapping[str, Any]) -> str:
    status = cell.get("status") or "error"
    mark = _MARK.get(status, "⚠ error")
    if status in ("nonconformant", "inconclusive"):
        kind, err = cell.get("kind") or "mismatch", cell.get("max_abs_error")
        detail = f"{err:.2g}" if kind in ("mismatch", "non_finite") and isinstance(err, (int, float)) else kind
        return f"{mark} {detail}"
    return mark


def _cell_td(target: str, column: Mapping[str, Any], cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return '<td class="cell-skipped" title="not run">·</td>'
    status = str(cell.get("status") or "error")
    tip = cell.get("message") or cell.get("reason") or f"{cell.get('examples', 0)} examples"
    text = e(_label(cell))
    if status in _LINKED:
        text = f'<a href="#{cell_id(target, column["id"])}">{text}</a>'
    return f'<td class="cell-{_CLASS.get(status, "error")}" title="{e(v.one_line(tip, 300))}">{text}</td>'


def _cell_section(target: Mapping[str, Any], column: Mapping[str, Any], cell: Mapping[str, Any]) -> str:
    status = str(cell.get("status") or "error")
    name = str(target.get("name"))
    parts = [f'<section class="cell {_CLASS.get(status, "error")}" id="{cell_id(name, column["id"])}">',
             f"<h3>{e(name)} × {e(column.get('title'))}: {e(status.upper())}</h3>"]
    if status == "error":
        parts.append(f"<p>The harness could not run this cell: {e(cell.get('reason'))}</p>")
    else:
        kind = cell.get("kind") or "mismatch"
        parts.append(f"<p><strong>What failed</strong> ({e(cell.get('dtype') or '?')}): "
                     f"{e(v.KIND_TITLES.get(kind, kind))}.<br><code>{e(cell.get('message'))}</code></p>")
        parts.append(f"<p><strong>Why</strong>: {e(cell.get('diagnosis') or v.NO_VARIANT + ' (or not diagnosed)')}</p>")
        if status == "inconclusive" and cell.get("reason"):
            parts.append(f"<p><strong>Why inconclusive</strong>: {e(cell['reason'])}</p>")
        if cell.get("case"):
            case = str(cell["case"])
            meta = case[: -len(".npz")] + ".json" if case.endswith(".npz") else case
            parts.append(f'<p><strong>Minimized case</strong>: <a class="case" href="{e(_href(case))}">{e(case)}</a> '
                         f'(its numbers and diagnosis: <a class="case-json" href="{e(_href(meta))}">{e(meta)}</a>)</p>')
        if cell.get("repro_command"):
            parts.append(f'<pre class="replay-command">{e(cell["repro_command"])}</pre>')
    parts.append(f'<p class="muted">{e(cell.get("examples", 0))} example(s), {e(v.num(cell.get("elapsed_s"), 3))} s · '
                 '<a href="#matrix">back to the table</a></p></section>')
    return "".join(parts)


def _dtypes_run(data: Mapping[str, Any]) -> list[str]:
    """The dtypes the matrix's cells ran in (their ``dtype``), for the tolerance line."""
    seen: list[str] = []
    for row in (data.get("cells") or {}).values():
        for cell in row.values():
            d = cell.get("dtype") if isinstance(cell, Mapping) else None
            if d and d not in seen:
                seen.append(d)
    return seen


def render_matrix_html(data: Mapping[str, Any]) -> str:
    """The whole matrix.html page for a ``matrix.json`` object (conformance.campaign.Matrix.to_dict)."""
    settings = data.get("settings") or {}
    columns = [c for c in data.get("columns") or [] if isinstance(c, Mapping)]
    targets = [t for t in data.get("targets") or [] if isinstance(t, Mapping)]
    cells = data.get("cells") or {}
    summary = data.get("summary") or {}
    verdict = ("error" if summary.get("error") else "nonconformant" if summary.get("nonconformant")
               else "conformant")
    word = v.VERDICT_WORDS[verdict] + ("" if data.get("complete", True) else " (interrupted: partial matrix)")
    counts = ", ".join(f"{n} {k}" for k, n in summary.items())
    oracle = data.get("oracle") or {}
    headline = (f"{len(targets)} candidate(s) × {len(columns)} behaviour(s) against TensorFlow "
                f"{v.clean(oracle.get('tensorflow') or '?')}'s {v.clean(oracle.get('name') or 'LSTMCell')}: {counts}.")

    head = "<th>candidate</th>" + "".join(f'<th class="col" title="{e(c.get("description"))}">{e(c.get("title"))}</th>'
                                          for c in columns)
    body = []
    for t in targets:
        row = cells.get(t.get("name")) or {}
        tds = "".join(_cell_td(str(t.get("name")), c, row.get(c["id"])) for c in columns)
        body.append(f'<tr><th title="{e(t.get("description"))}">{e(t.get("name"))}</th>{tds}</tr>')
    legend = ('<p class="legend"><span class="cell-pass">✓ conformant</span><span class="cell-fail">✗ nonconformant '
              '(max abs error or fault kind)</span><span class="cell-inconclusive">? inconclusive: the control '
              'numpy-reference fails the case too</span><span class="cell-unsupported">— unsupported</span>'
              '<span class="cell-error">⚠ the harness could not run it</span> · a marked cell links to its details '
              "below.</p>")
    sections = [_cell_section(t, c, (cells.get(t.get("name")) or {})[c["id"]])
                for t in targets for c in columns
                if str(((cells.get(t.get("name")) or {}).get(c["id"]) or {}).get("status")) in _LINKED]
    tol = settings.get("tolerances") or {}
    run = _dtypes_run(data)
    tol_line = "; ".join(f"{k}: atol {v.num(x.get('atol'), 3)}, rtol {v.num(x.get('rtol'), 3)}"
                         for k, x in tol.items() if isinstance(x, Mapping) and (not run or k in run))
    facts = [("command", data.get("command") or "—"), ("examples per cell", settings.get("max_examples_per_cell")),
             ("seed", settings.get("seed")), ("elapsed", f"{v.num(data.get('elapsed_s'), 4)} s"),
             ("tolerances", tol_line or "—"),
             ("tool", f"lstm-conformance {v.clean((data.get('tool') or {}).get('version', '?'))}")]
    columns_list = "".join(f"<li><strong>{e(c.get('title'))}</strong> (<code>{e(c.get('id'))}</code>): "
                           f"{e(c.get('description'))}</li>" for c in columns)
    page = [
        f'<header><div class="banner {verdict}" id="verdict"><div class="verdict">{e(word)}</div>'
        f'<div class="headline">{e(headline)}</div></div></header><main>',
        '<section id="matrix"><h2>Conformance matrix</h2>'
        f'<div class="scroll"><table class="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        f"</div>{legend}</section>",
        ('<section id="cells"><h2>Failing and inconclusive cells</h2>' + "".join(sections) + "</section>")
        if sections else "",
        f'<section id="columns"><h2>Columns</h2><ul>{columns_list}</ul></section>',
        '<section id="run"><h2>Run details</h2><table class="facts"><tbody>'
        + "".join(f"<tr><th>{e(k)}</th><td>{e(val)}</td></tr>" for k, val in facts) + "</tbody></table></section>",
        "</main>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(word)}: conformance matrix — lstm-conformance</title><style>{_CSS}{_EXTRA_CSS}</style></head>\n"
        "<body>" + "\n".join(p for p in page if p) + "</body></html>\n"
    )
