"""``report.html``: one self-contained page a person can read, print or attach to a bug.

Self-contained means no network request of any kind: CSS is inline, plots are
inline SVG made with matplotlib, there is no script at all, and a
Content-Security-Policy meta forbids every load the page might still attempt.
Every piece of text from the report (candidate names, docstrings, exception
messages) is untrusted and passes through :func:`html.escape`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.report import _view as v
from conformance.report._html_plots import PLOT_NEEDS_MATPLOTLIB, error_plot_svg, history_plot_svg

#: No scripts, no network: styles inline, images only as data: URIs (the SVG plots are inline anyway).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


_CSS = """
:root { --bad: #b3261e; --good: #1e7d32; --warn: #9a6700; --ink: #1d1d1f; --muted: #5f6368; --line: #d0d4d9; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1120px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 4px 0 12px; } h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 18px 0 6px; }
.banner { border-radius: 8px; padding: 14px 18px; color: #fff; margin: 8px 0 14px; }
.banner .verdict { font-size: 30px; font-weight: 800; letter-spacing: .5px; }
.banner .headline { font-size: 16px; margin-top: 4px; }
.banner.nonconformant { background: var(--bad); } .banner.conformant { background: var(--good); }
.banner.error, .banner.unknown { background: var(--warn); }
.findings { display: grid; grid-template-columns: 9em 1fr; gap: 6px 14px; border: 2px solid var(--bad);
            border-radius: 8px; padding: 12px 16px; margin: 10px 0 18px; }
.findings dt { font-weight: 700; } .findings dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 3px 9px; text-align: left; vertical-align: top; }
th { background: #f1f3f4; } td.num { font-family: ui-monospace, "DejaVu Sans Mono", monospace; text-align: right; }
table.facts th { width: 13em; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      white-space: pre-wrap; overflow-wrap: anywhere; }
.muted { color: var(--muted); } .first { color: var(--bad); font-weight: 700; }
.cell-pass { background: #e6f4ea; } .cell-fail { background: #fce8e6; font-weight: 700; }
.cell-error, .cell-unknown { background: #fef7e0; } .cell-unsupported, .cell-skipped { color: var(--muted); }
.plot svg { max-width: 100%; height: auto; }
tr.holds-VIOLATED td { background: #fce8e6; font-weight: 700; } tr.holds-not-checked td { color: var(--muted); }
.side-by-side { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.side-by-side .plot { flex: 1 1 560px; } table.config td { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.summary { color: var(--muted); margin: -4px 0 10px; }
section.cx { margin-top: 18px; }
footer { margin-top: 36px; color: var(--muted); font-size: 13px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  .banner, .cell-pass, .cell-fail, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.cx + section.cx { break-before: page; } table, pre, .plot, .findings { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def e(text: Any) -> str:
    """Escape untrusted text for HTML element content and quoted attributes."""
    return html.escape(v.clean(text), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, cls: str = "", num_cols: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{e(c)}</td>' if i in num_cols else f"<td>{e(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _facts(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(val)}</td></tr>" for k, val in pairs)
    return f'<table class="facts"><tbody>{rows}</tbody></table>'


def _fault_details(cx: Mapping[str, Any]) -> str:
    """The whole exception text and traceback, collapsed (the message is cut; TF puts the real error last)."""
    full, tb = cx.get("full_message"), cx.get("traceback")
    show = full and v.one_line(full) != v.one_line(cx.get("message"))
    return ((f'<details class="full-message"><summary>Full message</summary><pre>{e(full)}</pre></details>' if show else "")
            + (f'<details class="traceback"><summary>Traceback</summary><pre>{e(tb)}</pre></details>' if tb else ""))


def _counterexample(cx: Mapping[str, Any], index: int, report: Mapping[str, Any]) -> str:
    parts = [f'<section class="cx" id="cx-{index + 1}"><h2>{e(v.cx_label(cx, index, report))}</h2>']
    parts.append(f"<p><strong>{e(v.KIND_TITLES.get(cx.get('kind') or 'mismatch', cx.get('kind')))}</strong><br>"
                 f"<code>{e(cx.get('message'))}</code></p>" + _fault_details(cx))

    parts.append("<h3>The minimal case</h3>")
    parts.append(f"<p>Shapes: {e(v.shapes_line(cx))}. Features exercised: "
                 f"{e(v.join(cx.get('features') or [], 'none (baseline)'))}.</p>")
    for key, text in v.case_lines(cx):
        parts.append(f'<p class="{key}"><strong>{e(key)}:</strong> {e(text)}</p>')
    config = v.config_items(cx)
    parts.append(_table([k for k, _ in config], [[val for _, val in config]], cls="config"))
    values = v.nonzero_values(cx)
    if values is None:
        parts.append(f"<p>{e(cx.get('nonzero_values'))} non-zero numbers: too many to list; see the .npz.</p>")
    else:
        layout = "inputs [T, B, I], indexed [t, b, i]" if v.cx_time_major(cx) else "inputs [B, T, I]"
        parts.append(f"<p>Every number of the case not listed here is 0 ({len(values)} non-zero value(s); "
                     f"kernel [I+P, 4H] and bias [4H] in gate order i, j, f, o; {e(layout)}):</p>")
        pad = ["padding"] * (v.cx_lengths(cx) is not None)
        parts.append(_table(["element", "value", "meaning", *pad],
                            [(r["element"], r["value"], r["meaning"], *(r[c] for c in pad)) for r in values],
                            cls="values", num_cols=(1,)))

    parts.append("<h3>Error per time step</h3>")
    errors = cx.get("step_errors") or []
    if errors:
        atol = ((report.get("tolerances") or {}).get((cx.get("config") or {}).get("dtype")) or {}).get("atol")
        who = cx.get("candidate") or v.subject(report)
        svg = error_plot_svg(errors, cx.get("first_divergent_step"), atol, salt=str(index), lengths=v.cx_lengths(cx),
                             title=f"{who} vs TensorFlow LSTMCell ({(cx.get('config') or {}).get('dtype', '')})")
        plot = f'<div class="plot">{svg}</div>' if svg else f'<p class="plot-missing">{e(PLOT_NEEDS_MATPLOTLIB)}</p>'
        table = _table(["t", "max abs error of outputs", ""], v.step_error_rows(cx), cls="steps", num_cols=(1,))
        parts.append(f'<div class="side-by-side">{plot}{table}</div>')
    else:
        parts.append("<p class='muted'>No per-step errors: the candidate produced no comparable outputs.</p>")
    worst = cx.get("worst")
    if isinstance(worst, Mapping):
        got, want = v.worst_pair(cx)
        parts.append(_table(["worst element", "candidate", "TensorFlow", "difference", "time step"],
                            [(v.entry_name(worst), got, want, v.difference(worst.get("got"), worst.get("expected")),
                              v.num(worst.get("step")))], cls="worst", num_cols=(1, 2, 3)))
    parts.append(_table(["max abs error", "max rel error", "max ulp error"],
                        [(v.num(cx.get("max_abs_error"), 3), v.num(cx.get("max_rel_error"), 3),
                          v.num(cx.get("max_ulp_error"), 3))], num_cols=(0, 1, 2)))
    if cx.get("oracle_deviation"):
        parts.append(f"<p><strong>Note:</strong> {e(cx['oracle_deviation'])}</p>")

    parts.append('<h3>Diagnosis</h3><div class="diagnosis">')
    state = v.diagnosis_state(cx)
    if state == "explained":
        rows = v.diagnosis_rows(cx)
        columns = ["variant", "explanation"] + ["fix"] * any(r["fix"] for r in rows) + ["evidence"]
        parts.append(_table(columns, [[r[c] for c in columns] for r in rows]))
    elif state == "unexplained":
        parts.append(f"<p><strong>{e(v.NO_VARIANT)}.</strong></p>")
    else:
        parts.append("<p class='muted'>Diagnosis did not run for this counterexample.</p>")
    parts.append("</div>")
    if cx.get("localization"):
        loc = cx["localization"]
        parts.append('<h3>Localization</h3><div class="localization">')
        parts.extend(f"<p>{e(sentence)}</p>" for sentence in v.localization_sentences(loc))
        steps = v.localization_table(loc)
        if steps is not None:
            parts.append(_table(*steps, cls="loc-steps", num_cols=tuple(range(1, len(steps[0]) - 1))))
        other = v.localization_other(loc)
        if other:
            parts.append(_table(["also recorded", "value"], other, cls="loc-other"))
        parts.append("</div>")
    if cx.get("structural"):
        parts.append("<h3>Structural properties</h3>"
                     "<p>Properties any LSTM has, checked on the candidate alone (no oracle):</p>")
        found = v.structural_rows(cx["structural"])
        if found is not None:
            head = "".join(f"<th>{h}</th>" for h in ("property", "result", "what was seen"))
            body = "".join(f'<tr class="holds-{e(r[1]).replace(" ", "-")}"><td>{e(r[0])}</td><td>{e(r[1])}</td>'
                           f"<td>{e(r[2])}</td></tr>" for r in found)
            parts.append(f'<table class="structural"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
        else:
            parts.append(_table(["what", "value"], v.flat_items(cx["structural"]), cls="structural"))

    cmd = v.replay_command(cx)
    snippet = v.replay_snippet(cx, report)
    if cmd or snippet:
        parts.append("<h3>Replay</h3>")
    if cmd:
        parts.append(f"<p>Re-run TensorFlow and the candidate on the saved case:</p>"
                     f'<pre class="replay-command">{e(cmd)}</pre>')
    if snippet:
        parts.append("<p>Or reproduce it in Python with numpy and the candidate only:</p>"
                     f'<pre class="snippet">{e(snippet)}</pre>')
    parts.append("</section>")
    return "".join(parts)


def _matrix(report: Mapping[str, Any]) -> str:
    table = v.matrix_table(report)
    if table is None:
        return ""
    columns, rows = table
    head = "<th>candidate</th>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "<th>note</th>"
    body = []
    for row in rows:
        cells = []
        for c in columns:
            status, message = row["cells"][c]
            mark = {"pass": "pass", "fail": "FAIL", "error": "error", "unsupported": "—", "skipped": "skipped"}.get(
                status, "?")
            cells.append(f'<td class="cell-{e(status)}" title="{e(message)}">{e(mark)}</td>')
        body.append(f"<tr><th>{e(row['candidate'])}</th>{''.join(cells)}<td>{e(row['note'])}</td></tr>")
    return ('<section id="matrix"><h2>Conformance matrix</h2>'
            '<p>Rows are candidates, columns optional features; — means the candidate does not support the feature.</p>'
            f'<table class="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></section>')


def _runs(report: Mapping[str, Any]) -> str:
    rows = v.run_rows(report)
    if not rows:
        return ""
    return ('<section id="runs"><h2>Runs</h2>'
            + _table(list(v.RUN_COLUMNS), [[r[c] for c in v.RUN_COLUMNS] for r in rows], cls="runs", num_cols=(4, 5))
            + "</section>")


def _history(report: Mapping[str, Any]) -> str:
    series = (report.get("history") or {}).get("series") or []
    if not series:
        return ""
    svg = history_plot_svg(series)
    plot = f'<div class="plot">{svg}</div>' if svg else f'<p class="plot-missing">{e(PLOT_NEEDS_MATPLOTLIB)}</p>'
    rows = []
    for s in series:
        last = (s.get("points") or [{}])[-1]
        rows.append([s.get("target"), s.get("feature"), s.get("dtype"), len(s.get("points") or []),
                     last.get("verdict"), v.num(last.get("max_abs_error"), 3), v.num(last.get("max_score"), 3)])
    table = _table(["target", "feature", "dtype", "runs", "last verdict", "last max abs error",
                    "last error / allowed"], rows, cls="history", num_cols=(3, 5, 6))
    return f'<section id="history"><h2>Error history</h2>{plot}{table}</section>'


def _findings(cx: Mapping[str, Any], several: bool) -> str:
    items = [("What failed", v.what_failed(cx)), ("Where", v.where_failed(cx)),
             ("Minimal case", v.minimal_case_line(cx)), ("Why", v.why_failed(cx))]
    fix = v.how_to_fix(cx)
    if fix:
        items.append(("Suggested fix", fix))
    items.append(("How to replay", v.replay_command(cx) or "no saved case"))
    if several:
        items.insert(0, ("First failure", f"{v.clean(cx.get('candidate') or '?')} (all counterexamples below)"))
    body = "".join(f"<dt>{e(k)}</dt><dd>{'<code>' + e(val) + '</code>' if k == 'How to replay' else e(val)}</dd>"
                   for k, val in items)
    return f'<dl class="findings">{body}</dl>'


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page for a report.json dict (check, matrix or fuzz)."""
    verdict = report.get("verdict") if report.get("verdict") in v.VERDICT_WORDS else "unknown"
    cxs = v.counterexamples(report)
    cand = report.get("candidate") or {}
    oracle = report.get("oracle") or {}
    tool = report.get("tool") or {}
    coverage = report.get("coverage") or {}
    title = f"{v.subject(report)}: {v.verdict_word(report)} — lstm-conformance"

    facts: list[tuple[str, Any]] = []
    if cand:
        facts += [("candidate", cand.get("name")), ("target", cand.get("target")),
                  ("description", cand.get("description") or "—")]
    facts += [("oracle", f"{v.clean(oracle.get('name', 'tf.compat.v1.nn.rnn_cell.LSTMCell'))} "
                         f"(TensorFlow {v.clean(oracle.get('tensorflow') or 'unknown')})"),
              ("tool", f"lstm-conformance {v.clean(tool.get('version', '?'))}, report schema {report.get('schema_version')}"),
              ("command", report.get("command")),
              ("examples", v.num(report.get("examples"))), ("elapsed", f"{v.num(report.get('elapsed_s'), 4)} s"),
              ("seed", v.num(report.get("seed")))]
    if coverage:
        facts += [("features covered", v.join(coverage.get("features") or [], "baseline only (none of the options)")),
                  ("dtypes covered", v.join(coverage.get("dtypes") or []))]
    weights = report.get("weights") or {}
    if weights.get("source") in ("pinned", "model"):  # whose weights: a --params file or the model's own
        facts.append(("weights", f"{'pinned from' if weights['source'] == 'pinned' else 'taken from the model'} "
                                 f"{weights.get('origin', '')} (sha256 {weights.get('sha256') or '—'})"))
    if report.get("error"):
        facts.append(("error", report["error"]))
    if oracle.get("deviations"):
        facts.append(("oracle deviations", f"{oracle['deviations']} example(s) where TensorFlow strayed from the "
                                           "float64 spec; judged against the spec"))
    tol_line = "; ".join(f"{k}: {text}" for k, text in v.tolerance_items(report))
    if tol_line:
        facts.append(("tolerances", tol_line))

    body = [
        f'<header><div class="banner {verdict}" id="verdict"><div class="verdict">{e(v.verdict_word(report))}</div>'
        f'<div class="headline">{e(v.headline(report))}</div></div></header>',
        "<main>",
    ]
    summary = [v.subject(report) if v.several(report) else f"candidate {v.subject(report)}",
               f"oracle TensorFlow {v.clean(oracle.get('tensorflow') or 'unknown')} LSTMCell",
               f"{v.num(report.get('examples'))} examples", f"seed {v.num(report.get('seed'))}",
               f"lstm-conformance {v.clean(tool.get('version', '?'))}"]
    body.append(f'<p class="summary">{e(" · ".join(summary))}</p>')
    if cxs:
        body.append(_findings(cxs[0], several=v.several(report)))
    body.append(_matrix(report))
    body.append(_runs(report))
    body.append(_history(report))
    body.extend(_counterexample(cx, i, report) for i, cx in enumerate(cxs))
    body.append('<section id="run"><h2>Run details</h2>' + _facts(facts) + "</section>")
    body.append("</main>")
    body.append(f"<footer>Written by lstm-conformance {e(tool.get('version', '?'))} from report.json "
                f"(schema {e(report.get('schema_version'))}). The oracle is TensorFlow's "
                "tf.compat.v1.nn.rnn_cell.LSTMCell; tolerances and the method are in the project README.</footer>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head>\n<body>"
        + "\n".join(p for p in body if p)
        + "</body></html>\n"
    )

