"""report.html reads at a glance (issue 18 item 8): localization and structural sections in sentences and
tables, not key dumps; plots that read for T = 1, 2 and 500; tolerances of the covered dtypes only."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from conformance.report._html import render_html

LOCALIZATION = {
    "case": "minimized counterexample",
    "diagnosis_evidence": {"cases": 13, "informative_cases": 13, "seconds": 0.218, "skipped_cases": [],
                           "variants_tried": 275},
    "first_divergent": ["outputs"], "first_divergent_step": 1, "first_steps": {"c": None, "h": None, "outputs": 1},
    "non_finite": [], "note": None,
    "rows": [{"final_state_differs": False, "first_output_step": 1, "length": 1, "padded_only": True, "row": 0}],
    "step_errors": {"c": [0.0, 0.0], "h": [1.49e-08, 1.49e-08], "outputs": [1.49e-08, 0.18169975]},
    "steps_checked": [0, 1],
    "summary": "the output diverges first at time step 1 (of 2, counted from 0); c and h never diverge; "
               "row 0 diverges only at padded steps t >= L[0] = 1",
}
STRUCTURAL = [
    {"holds": True, "message": "each of the 3 rows equals the row run alone", "property": "batch_rows_independent"},
    {"holds": False, "message": "running steps 2..3 from the state returned after the first 2 steps differs",
     "property": "state_carried"},
    {"holds": None, "message": "the candidate is not deterministic", "property": "causal"},
]


class _Sections(HTMLParser):
    """The text of each element with a class, by class (nested ones included), and every table's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: dict[str, str] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.table: list[str] = []
        self.cell: list[str] | None = None
        self.row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        self.stack.append(cls)
        if tag == "table":
            self.table.append(cls)
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        self.stack.pop()
        if tag == "table":
            self.table.pop()
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None and self.table:
            self.rows.setdefault(self.table[-1], []).append(self.row)
            self.row = None

    def handle_data(self, data):
        for cls in self.stack:
            if cls:
                self.text[cls] = self.text.get(cls, "") + data
        if self.cell is not None:
            self.cell.append(data)


def _parse(page: str) -> _Sections:
    p = _Sections()
    p.feed(page)
    return p


def _report(**cx_changes) -> dict:
    cx = {"kind": "mismatch", "message": "outputs[0, 1, 0] ...", "batch": 1, "time": 2, "input_size": 1,
          "num_units": 1, "output_size": 1, "config": {"dtype": "float32", "num_units": 1, "input_size": 1},
          "step_errors": [1.49e-08, 0.18169975], "first_divergent_step": 1, "first_divergent_array": "outputs",
          "localization": LOCALIZATION, "structural": STRUCTURAL, **cx_changes}
    return {"verdict": "nonconformant", "candidate": {"name": "port", "target": "m:f"}, "examples": 3, "seed": 7,
            "coverage": {"features": ["forget_bias"], "dtypes": ["float32"]},
            "tolerances": {d: {"atol": 1e-5, "rtol": 1e-5} for d in ("float16", "bfloat16", "float32", "float64")},
            "counterexample": cx}


def test_localization_is_sentences_and_a_table_not_a_key_dump():
    page = _parse(render_html(_report()))
    text = page.text["localization"]
    for raw in ("first_steps", "diagnosis_evidence", "variants_tried", "non_finite", "note", "n/a", "steps_checked"):
        assert raw not in text, f"raw key {raw!r} in the localization section: {text!r}"
    assert "The output diverges first at time step 1" in text
    assert "The diagnosis tried 275 convention variant(s) on 13 case(s), 13 of which tell the variants apart" in text
    assert "steps 0-1" in text
    rows = page.rows["loc-steps"]
    assert rows[0] == ["t", "max abs error of c", "max abs error of h", "max abs error of outputs", ""]
    assert rows[2] == ["1", "0", "1.49e-08", "0.182", "first divergence"], rows


def test_an_empty_or_unknown_localization_field_is_shown_only_when_it_says_something():
    loc = {**LOCALIZATION, "non_finite": ["h"], "note": "stopped after 48 prefixes", "future_field": {"x": 1}}
    page = _parse(render_html(_report(localization=loc)))
    text = page.text["localization"]
    assert "Non-finite values (NaN or Inf) where the spec is finite, in: h." in text
    assert "Note: stopped after 48 prefixes" in text
    assert page.rows["loc-other"][1] == ["future_field.x", "1"]


def test_structural_properties_read_holds_violated_not_checked():
    page = _parse(render_html(_report()))
    rows = page.rows["structural"]
    assert rows[0] == ["property", "result", "what was seen"]
    assert [r[:2] for r in rows[1:]] == [["batch rows independent", "holds"], ["state carried", "VIOLATED"],
                                         ["causal", "not checked"]]


def test_tolerances_are_listed_for_the_covered_dtypes_only():
    page = render_html(_report())
    facts = re.search(r"<th>tolerances</th><td>(.*?)</td>", page)
    assert facts and facts.group(1) == "float32: atol 1e-05, rtol 1e-05", facts and facts.group(1)


def test_the_seed_line_never_reads_n_a_for_a_recorded_seed():
    assert "seed 7" in _parse(render_html(_report())).text["summary"]


pytest.importorskip("matplotlib")


def _figure(errors, first, atol=1e-5, lengths=None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from conformance.report._html_plots import error_figure

    fig = error_figure(errors, first, atol, title="port vs TensorFlow LSTMCell (float32)", lengths=lengths)
    FigureCanvasAgg(fig).draw()
    return fig


def _tick_labels(fig) -> list[str]:
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    return [t.get_text() for t, v in zip(ax.get_yticklabels(), ax.get_yticks()) if lo <= v <= hi and t.get_text()]


def test_a_one_step_plot_keeps_its_bar_clear_of_the_legend():
    fig = _figure([0.18], 0)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    bar = ax.patches[0].get_window_extent(renderer)
    assert not legend.overlaps(bar), f"legend {legend} covers the only bar {bar}"
    assert bar.width < 0.3 * ax.get_window_extent(renderer).width, "one bar should not fill the axes"


@pytest.mark.parametrize("errors", [[1.49e-08, 0.18], [0.0, 0.18], [0.0, 2e-10]])
def test_a_two_step_log_axis_labels_several_decades(errors):
    labels = _tick_labels(_figure(errors, 1))
    assert len(labels) >= 4, f"y tick labels of a T = 2 plot of {errors}: {labels}"


def test_a_500_step_plot_is_a_line_with_labelled_axes():
    errors = [0.0] * 200 + [1e-7 * i for i in range(299)] + [0.3]
    fig = _figure(errors, 250)
    assert len(fig.axes[0].lines) >= 2 and not fig.axes[0].patches[:1], "T = 500 should be a line, not 500 bars"
    assert len(_tick_labels(fig)) >= 4
