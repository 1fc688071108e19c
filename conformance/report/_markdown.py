"""``summary.md``: a short summary for a CI step summary (``$GITHUB_STEP_SUMMARY``) or a PR comment.

Untrusted text (names, docstrings, messages) is escaped so it renders as the
literal characters: HTML-special characters become entities (no raw HTML, no
autolinks), Markdown punctuation is backslash-escaped, and code spans/fences
are longer than any backtick run inside them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.report import _view as v

#: Characters with inline meaning anywhere in a line (emphasis, code, links, tables, strikethrough).
_MD_INLINE = re.compile(r"([\\`*_\[\]|~])")
#: What would start a heading, list, quote or rule if it opened a line.
_MD_LINE_START = re.compile(r"^(\d*)([#+=.)-])(?=\s|$|[#=-])")
_ICONS = {"conformant": "✅", "nonconformant": "❌"}
_CELL_ICONS = {"pass": "✅", "fail": "❌", "error": "⚠️", "unsupported": "—", "skipped": "skipped", "unknown": "?"}


def md(text: Any) -> str:
    """One line of untrusted text, escaped for Markdown paragraphs, list items and table cells."""
    s = v.one_line(text, 2000)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_INLINE.sub(r"\\\1", s)
    return _MD_LINE_START.sub(r"\1\\\2", s)  # "1." -> "1\.", "#" -> "\#"


def code(text: Any) -> str:
    """An inline code span holding ``text`` verbatim (one line), whatever backticks it contains."""
    s = v.one_line(text, 2000)
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    return f"{fence} {s} {fence}"


def fenced(text: str, lang: str = "") -> str:
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}{lang}\n{v.clean(text)}\n{fence}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(md(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _counterexample(cx: Mapping[str, Any], index: int, report: Mapping[str, Any], many: bool) -> list[str]:
    out = []
    if many:
        out += [f"### {md(v.cx_label(cx, index, report))}", ""]
    out += [
        f"- **What failed:** {md(v.what_failed(cx))}",
        f"- **Where:** {md(v.where_failed(cx))}",
        f"- **Why:** {md(v.why_failed(cx))}",
        *([f"- **Suggested fix:** {md(v.how_to_fix(cx))}"] if v.how_to_fix(cx) else []),
        f"- **Replay:** {code(v.replay_command(cx))}" if v.replay_command(cx) else "- **Replay:** no saved case",
        "",
        f"**Minimal case:** {md(v.shapes_line(cx))}; dtype {md((cx.get('config') or {}).get('dtype'))}; "
        f"features exercised: {md(v.join(cx.get('features') or [], 'none (baseline)'))}.",
        *(f"- **{md(k)}:** {md(val)}" for k, val in v.case_lines(cx)),
        "",
    ]
    values = v.nonzero_values(cx)
    if values is None:
        out.append(f"{md(cx.get('nonzero_values'))} non-zero numbers (see the .npz).")
    else:
        out.append(f"Every other number is 0 ({len(values)} non-zero):")
        out.append("")
        pad = ["padding"] * (v.cx_lengths(cx) is not None)
        out.append(_table(["element", "value", "meaning", *pad],
                          [(r["element"], r["value"], r["meaning"], *(r[c] for c in pad)) for r in values[:30]]))
        if len(values) > 30:
            out.append(f"\n… {len(values) - 30} more in the report.")
    if cx.get("step_errors"):
        steps = ", ".join(f"t={t}: {err}" + (" ←" if "first divergence" in note else "")
                          + (" (padding)" if "padding" in note else "")
                          for t, err, note in v.step_error_rows(cx, 16) if t != "...")
        out += ["", f"**Max abs error of outputs per step:** {md(steps)}"]
    snippet = v.replay_snippet(cx, report)
    if snippet:
        out += ["", "<details><summary>Reproduce in Python</summary>", "", fenced(snippet, "python"), "", "</details>"]
    out.append("")
    return out


def render_markdown(report: Mapping[str, Any]) -> str:
    """The summary for a report.json dict (check, matrix or fuzz)."""
    verdict = report.get("verdict")
    icon = _ICONS.get(str(verdict), "⚠️")
    oracle = report.get("oracle") or {}
    coverage = report.get("coverage") or {}
    lines = [
        f"## {icon} {md(v.verdict_word(report))}: {md(v.subject(report))}",
        "",
        md(v.headline(report)),
        "",
    ]
    table = v.matrix_table(report)
    if table is not None:
        columns, rows = table
        lines += ["### Conformance matrix", "",
                  _table(["candidate", *columns],
                         [[r["candidate"], *(_CELL_ICONS[r["cells"][c][0]] for c in columns)] for r in rows]), ""]
    runs = v.run_rows(report)
    if runs:
        lines += ["### Runs", "", _table(list(v.RUN_COLUMNS), [[r[c] for c in v.RUN_COLUMNS] for r in runs]), ""]
    cxs = v.counterexamples(report)
    many = len(cxs) > 1 or v.several(report)
    for i, cx in enumerate(cxs):
        lines += _counterexample(cx, i, report, many=many)
    facts = [
        f"oracle TensorFlow {md(oracle.get('tensorflow') or 'unknown')}",
        f"examples {md(v.num(report.get('examples')))}",
        f"seed {md(v.num(report.get('seed')))}",
    ]
    if coverage:
        facts += [f"features {md(v.join(coverage.get('features') or [], 'baseline only'))}",
                  f"dtypes {md(v.join(coverage.get('dtypes') or []))}"]
    if report.get("error"):
        facts.append(f"error: {md(report['error'])}")
    lines += [f"<sub>{'; '.join(facts)}. lstm-conformance {md((report.get('tool') or {}).get('version', '?'))}, "
              f"full details in report.html / report.json.</sub>", ""]
    return "\n".join(lines)
