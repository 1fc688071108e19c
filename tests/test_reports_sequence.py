"""Every report shows a counterexample's row lengths and layout (issue 13): console, HTML, Markdown, JUnit, JSON.

One real ``check`` of a candidate that ignores ``sequence_length`` on time-major inputs (and is right
on batch-major ones, so the minimized case keeps both) writes every format; the printout, the page
in headless Chromium, summary.md and junit.xml must name the lengths and the layout, report.json
must validate and carry them, and the page's Python snippet must rebuild the saved case exactly.
Padding marks (inputs at steps t >= L[b]) are checked on a hand-made case with noise there.
"""

from __future__ import annotations

import contextlib
import copy
import html
import io
import json
import re
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conformance import Case, InitialState, LSTMConfig, LSTMParams
from conformance.report import print_case
from conformance.report._console import print_step_errors
from conformance.report._html import render_html
from conformance.report._junit import render_junit
from conformance.report._markdown import render_markdown
from tests.helpers import run_cli
from tests.report_helpers import assert_valid_report, validate_report_file

WRONG = textwrap.dedent('''
    """Right on batch-major inputs; on time-major ones it runs every row all T steps."""
    from conformance import candidate, reference

    @candidate(features=["sequence_length", "time_major"], dtypes=["float32"], name="tm-ignores-lengths")
    def tm_ignores_lengths(case):
        run = case.with_sequence_length(None) if case.config.time_major else case
        r = reference(run).astype(case.config.np_dtype)  # batch-major outputs [B, T, P]
        outputs = r.outputs.transpose(1, 0, 2) if case.config.time_major else r.outputs
        return outputs, (r.c, r.h)
''')


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(report dir, CompletedProcess, report.json) of one nonconformant check with both features."""
    root = tmp_path_factory.mktemp("seq-report")
    (root / "tm_wrong.py").write_text(WRONG)
    out = root / "report"
    proc = run_cli("check", f"{root / 'tm_wrong.py'}:tm_ignores_lengths", "--feature", "sequence_length",
                   "--feature", "time_major", "--max-examples", "30", "--seed", "1", "-q", "--report-dir", str(out))
    assert proc.returncode == 1, f"exit {proc.returncode}, expected 1\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    return out, proc, validate_report_file(out / "report.json")


def _lengths(out: Path) -> list[int]:
    case = Case.load_npz(str(out / "counterexample.npz"))
    assert case.config.time_major and case.sequence_length is not None, (
        f"the minimized case should stay time-major with lengths: time_major={case.config.time_major}, "
        f"sequence_length={case.sequence_length}")
    return [int(n) for n in case.sequence_length]


def test_console_shows_the_layout_and_each_rows_length(run):
    out, proc, _ = run
    lengths = _lengths(out)
    assert "layout: time-major, inputs [T, B, I]" in proc.stdout, f"no layout line in the printout:\n{proc.stdout}"
    assert f"sequence_length: {lengths} (" in proc.stdout, f"no line with the lengths {lengths}:\n{proc.stdout}"


def test_report_json_validates_and_carries_lengths_and_layout(run):
    out, _, report = run
    cx = report["counterexample"]
    assert cx["time_major"] is True and cx["config"]["time_major"] is True, {k: cx.get(k) for k in ("time_major",)}
    assert cx["sequence_length"] == _lengths(out), f"report.json lengths {cx['sequence_length']}"
    assert {"sequence_length", "time_major"} <= set(cx["features"]), cx["features"]
    saved = json.loads((out / "counterexample.json").read_text())
    assert saved["sequence_length"] == cx["sequence_length"] and saved["time_major"] is True


def test_markdown_and_junit_name_lengths_and_layout(run):
    out, _, report = run
    lengths = _lengths(out)
    md = (out / "summary.md").read_text()
    assert "**layout:** time-major" in md, f"summary.md lacks the layout:\n{md}"
    want = "**sequence\\_length:** \\[" + ", ".join(map(str, lengths)) + "\\]"
    assert want in md, f"summary.md lacks {want!r}:\n{md}"
    root = ET.fromstring((out / "junit.xml").read_text())
    failures = [f for f in root.iter("failure")]
    assert failures, "junit.xml has no failure"
    for f in failures:
        assert f"(case: time-major; sequence_length {lengths})" in f.get("message", ""), f.get("message")
        assert "layout: time-major" in (f.text or "") and f"sequence_length: {lengths}" in (f.text or ""), f.text


def _snippet(page: str) -> str:
    m = re.search(r'<pre class="snippet">(.*?)</pre>', page, re.S)
    assert m, "report.html has no Python snippet"
    return html.unescape(m.group(1))


def test_html_snippet_rebuilds_the_saved_case(run):
    out, _, _ = run
    snippet = _snippet((out / "report.html").read_text())
    assert "case.config.time_major is True" in snippet and "case.sequence_length.tolist() ==" in snippet, snippet
    scope: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(snippet, "report.html snippet", "exec"), scope)  # noqa: S102 - our own report's code
    saved = Case.load_npz(str(out / "counterexample.npz"))
    case = scope["case"]
    assert case.config == saved.config and np.array_equal(case.sequence_length, saved.sequence_length)
    for name, a in saved.arrays().items():
        assert np.array_equal(case.arrays()[name], a), f"the snippet's {name} differs from the .npz"
    outputs = scope["outputs"]
    assert outputs.shape == (saved.time, saved.batch, saved.config.output_size), (
        f"a time-major candidate's outputs are [T, B, P], the snippet got {outputs.shape}")
    assert "TensorFlow LSTMCell gives" in printed.getvalue(), printed.getvalue()


def _padded_case() -> Case:
    cfg = LSTMConfig(num_units=1, input_size=1, dtype="float32", time_major=True)
    z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    x = z(3, 2, 1)
    x[0, 0, 0], x[2, 0, 0], x[0, 1, 0] = 0.5, 2.0, 3.0  # [t, b, i]: row 0 runs 2 steps, row 1 none
    return Case(cfg, LSTMParams(z(2, 4), z(4)), x, InitialState(z(2, 1), z(2, 1)),
                np.array([2, 0], np.int32)).validate()


def test_console_marks_padded_inputs_and_steps():
    buf = io.StringIO()
    print_case(_padded_case(), buf)
    print_step_errors([0.0, 0.1, 0.3], 1, buf, lengths=[2, 0])
    text = buf.getvalue()
    assert "sequence_length: [2, 0] (row 1 empty" in text and "inputs indexed [t, b, i]" in text, text
    lines = {line.split(" =")[0].strip(): line for line in text.splitlines() if line.strip().startswith("inputs[")}
    assert "padding" not in lines["inputs[0, 0, 0]"], lines
    assert "padding" in lines["inputs[2, 0, 0]"] and "padding" in lines["inputs[0, 1, 0]"], lines
    assert "(padding in every row)" in text and "(padding in row 1)" in text, text


@pytest.fixture
def padded_report(run):
    """The run's report with its counterexample replaced by the hand-made padded case."""
    report = copy.deepcopy(run[2])
    case = _padded_case()
    cx = report["counterexample"]
    cx.update(case.describe(), values=case.nonzero_entries(), step_errors=[0.0, 0.1, 0.3], first_divergent_step=1,
              worst={"array": "outputs", "index": [0, 2, 0], "got": 1.0, "expected": 0.0, "step": 2})
    assert_valid_report(report)
    return report


def test_html_and_markdown_mark_padded_inputs_and_steps(padded_report):
    page = render_html(padded_report)
    rows = re.findall(r"<tr><td>(inputs\[[^<]*)</td>.*?</tr>", page)
    assert rows == ["inputs[0, 0, 0]", "inputs[0, 1, 0]", "inputs[2, 0, 0]"], rows
    assert "batch 1, time step 0, feature 0 (padding: t &gt;= L[1] = 0, must be ignored)" in page
    assert "batch 0, time step 2, feature 0 (padding: t &gt;= L[0] = 2, must be ignored)" in page
    assert "batch 0, time step 0, feature 0</td><td></td>" in page, "inputs[0, 0, 0] is no padding"
    assert "first divergence; padding in row 1" in page and "padding in every row" in page
    assert "padding in some row (t &gt;= min(L) = 0)" in page or "<svg" not in page, "the plot shades padded steps"
    snippet = _snippet(page)
    assert "print(outputs[2, 0, 0]" in snippet, f"a time-major worst index must be [t, b, p] in the snippet:\n{snippet}"
    md = render_markdown(padded_report)
    assert "(padding: t &gt;= L\\[1\\] = 0, must be ignored) | padding |" in md, md
    assert "t=1: 0.1 ← (padding)" in md, md
    assert "sequence_length [2, 0]" in render_junit(padded_report)


def test_page_in_chromium_shows_lengths_layout_and_padding(run, padded_report, tmp_path):
    pytest.importorskip("websocket", reason="websocket-client (dev extra) drives Chromium")
    from tests.test_browser import CHROMIUM, Browser

    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    out, _, _ = run
    lengths = _lengths(out)
    extra = tmp_path / "padded.html"
    extra.write_text(render_html(padded_report))
    with contextlib.ExitStack() as stack:
        profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="chromium-profile-"))
        browser = Browser(profile)
        stack.callback(browser.close)
        query = """(() => ({
            layout: document.querySelector('section.cx p.layout')?.innerText,
            lengths: document.querySelector('section.cx p.sequence_length')?.innerText,
            steps: [...document.querySelectorAll('table.steps tbody tr')].map(r => r.innerText),
            values: [...document.querySelectorAll('table.values tbody tr')].map(r => r.innerText),
            findings: document.querySelector('dl.findings')?.innerText,
        }))()"""
        page = out / "report.html"
        browser.open(page)
        assert not browser.problems(page.resolve().as_uri()), browser.problems(page.resolve().as_uri())
        facts = browser.evaluate(query)
        assert (facts["layout"] or "").startswith("layout: time-major, inputs [T, B, I]"), facts["layout"]
        assert f"sequence_length: {lengths} (" in (facts["lengths"] or ""), facts["lengths"]
        assert f"sequence_length {lengths}" in (facts["findings"] or ""), facts["findings"]
        padded = [t for t in range(len(facts["steps"])) if t >= min(lengths)]
        assert all("padding in" in facts["steps"][t] for t in padded), facts["steps"]

        browser.open(extra)
        assert not browser.problems(extra.resolve().as_uri()), browser.problems(extra.resolve().as_uri())
        facts = browser.evaluate(query)
        marked = [row.split("\t")[0] for row in facts["values"] if row.rstrip().endswith("padding")]
        assert marked == ["inputs[0, 1, 0]", "inputs[2, 0, 0]"], facts["values"]
        assert facts["lengths"].startswith("sequence_length: [2, 0] (row 1 empty"), facts["lengths"]
