"""``matrix.md``: the conformance matrix as a Markdown table, rendered from the ``matrix.json`` object."""

from __future__ import annotations

from typing import Any

_LEGEND = (
    "✓ conformant on every example · ✗ nonconformant: max abs error (or fault kind), linked to the minimized "
    "case (`.npz`, replay with `lstm-conformance repro`) · ? inconclusive: the failing case is one the control "
    "(`numpy-reference`, a correct implementation) fails too, so rounding alone explains it · "
    "— unsupported: the candidate does not declare it · ⚠ the harness could not run the cell"
)


def _cell_text(cell: dict[str, Any]) -> str:
    status = cell.get("status")
    if status == "conformant":
        return "✓"
    if status == "unsupported":
        return "—"
    if status in ("nonconformant", "inconclusive"):
        kind = cell.get("kind") or "mismatch"
        err = cell.get("max_abs_error")
        label = f"{err:.2g}" if kind in ("mismatch", "non_finite") and err is not None else kind
        mark = "✗" if status == "nonconformant" else "?"
        return f"{mark} [{label}]({cell['case']})" if cell.get("case") else f"{mark} {label}"
    return "⚠ error"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(data: dict[str, Any]) -> str:
    """The Markdown page for a ``matrix.json`` object."""
    settings = data["settings"]
    columns = data["columns"]
    cells = data["cells"]
    lines = ["# LSTM conformance matrix", ""]
    lines.append(
        f"Each cell is a `check` run of up to {settings['max_examples_per_cell']} examples (seed {settings['seed']}) "
        f"that forces one behaviour on in every case, the rest at the baseline, against TensorFlow "
        f"{data['oracle'].get('tensorflow') or '?'}'s `{data['oracle']['name']}`. Feature columns run in float32."
    )
    if data.get("command"):
        lines += ["", f"Regenerate: `{data['command']}`"]
    if not data.get("complete"):
        lines += ["", "**Incomplete run** (interrupted): cells not shown were not run."]
    summary = data.get("summary", {})
    lines += ["", "Cells: " + ", ".join(f"{v} {k}" for k, v in summary.items()) + f"; {data.get('elapsed_s', 0)} s.",
              ""]
    lines.append("| candidate | " + " | ".join(c["title"] for c in columns) + " |")
    lines.append("|---|" + "---|" * len(columns))
    for target in data["targets"]:
        row = cells.get(target["name"], {})
        texts = [_cell_text(row[c["id"]]) if c["id"] in row else " " for c in columns]
        lines.append(f"| `{target['name']}` | " + " | ".join(texts) + " |")
    lines += ["", _LEGEND, ""]
    for status, heading in (("nonconformant", "Findings"), ("inconclusive", "Inconclusive cells")):
        lines += _failures(data, status, heading)
    errors = [(t, c, cells[t["name"]][c["id"]]) for t in data["targets"] for c in columns
              if cells.get(t["name"], {}).get(c["id"], {}).get("status") == "error"]
    if errors:
        lines += ["## Cells the harness could not run", ""]
        lines += [f"- `{t['name']}` × {c['title']}: {_escape(cell.get('reason', ''))}" for t, c, cell in errors]
        lines.append("")
    unsupported = [(t, c, cells[t["name"]][c["id"]]) for t in data["targets"] for c in columns
                   if cells.get(t["name"], {}).get(c["id"], {}).get("status") == "unsupported"]
    if unsupported:
        lines += ["## Unsupported cells, and why", ""]
        for target in data["targets"]:
            why = [f"{c['title']} ({_escape(cell.get('reason', ''))})" for t, c, cell in unsupported if t is target]
            if why:
                lines.append(f"- `{target['name']}`: " + "; ".join(why))
        lines.append("")
    lines += ["## Columns", ""]
    lines += [f"- **{c['title']}** (`{c['id']}`): {c['description']}" for c in columns]
    lines += ["", "## Candidates", ""]
    lines += [f"- `{t['name']}`: {t['description']} (features: {', '.join(t['features']) or 'baseline only'}; "
              f"dtypes: {', '.join(t['dtypes'])})" for t in data["targets"]]
    return "\n".join(lines) + "\n"


def _failures(data: dict[str, Any], status: str, heading: str) -> list[str]:
    """A section with one entry per cell of ``status``: message, case link, replay command, diagnosis."""
    cells = data["cells"]
    found = [(t, c, cells[t["name"]][c["id"]]) for t in data["targets"] for c in data["columns"]
             if cells.get(t["name"], {}).get(c["id"], {}).get("status") == status]
    lines: list[str] = []
    if found:
        lines += [f"## {heading}", ""]
        for target, column, cell in found:
            lines.append(f"### `{target['name']}` × {column['title']}")
            lines.append("")
            lines.append(f"- {cell.get('kind', 'mismatch')} ({cell.get('dtype', '?')}): {_escape(cell.get('message', ''))}")
            if cell.get("case"):
                stem = cell["case"][: -len(".npz")]
                lines.append(f"- minimized case: [{cell['case']}]({cell['case']}) (values: [{stem}.json]({stem}.json))")
            if cell.get("repro_command"):
                lines.append(f"- replay: `{cell['repro_command']}`")
            if cell.get("diagnosis"):
                lines.append(f"- diagnosis: {_escape(cell['diagnosis'])}")
            if status == "inconclusive" and cell.get("reason"):
                lines.append(f"- why inconclusive: {_escape(cell['reason'])}")
            lines.append("")
    return lines
