"""Reports: one real check run writes every format; each writer renders the same facts, escaped; the schema holds."""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.report import (
    FORMATS,
    ReportSchemaError,
    _view,
    parse_formats,
    report_from_matrix,
    validate_report,
    write_reports,
)
from conformance.report._html import PLOT_NEEDS_MATPLOTLIB, render_html
from conformance.report._junit import render_junit
from conformance.report._markdown import render_markdown
from conformance.spec import ConformanceError, InvalidArgument
from tests.helpers import run_cli
from tests.report_helpers import assert_valid_report, validate_report_file

pytest.importorskip("jsonschema", reason="schema validation needs jsonschema (dev extra)")

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory) -> tuple[Path, dict]:
    """One real ``check seed-missing-forget-bias`` run with default formats (all of them)."""
    out = tmp_path_factory.mktemp("seed")
    proc = run_cli("check", "seed-missing-forget-bias", "--max-examples", "40", "--seed", "3", "-q",
                   "--report-dir", str(out))
    assert proc.returncode == 1, f"seed candidate must be nonconformant (exit 1), got {proc.returncode}:\n{proc.stderr}"
    return out, validate_report_file(out / "report.json")


def _junit_cases(xml_text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml_text)
    return {f"{tc.get('classname')}::{tc.get('name')}": tc for tc in root.iter("testcase")}


def test_one_check_run_writes_every_format(seed_run):
    out, report = seed_run
    for name, filename in FORMATS.items():
        assert (out / filename).is_file(), f"--format default should write {filename} ({name}); dir has {sorted(p.name for p in out.iterdir())}"
    assert (out / "counterexample.npz").is_file() and (out / "counterexample.json").is_file(), "replayable case missing"
    cx = report["counterexample"]
    assert cx["target"] == "seed-missing-forget-bias", f"counterexample target: {cx['target']!r}"

    page = (out / "report.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page, "HTML lacks the no-network CSP meta"
    assert "<script" not in page.lower(), "the HTML report must not carry scripts"
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?(?!#|data:)[^"'\s>]+""", page)
    assert not remote, f"HTML references external resources: {remote[:5]}"
    assert page.count("<svg") == 1, f"expected one inline SVG plot, found {page.count('<svg')}"
    assert "NONCONFORMANT" in page and cx["repro_command"] in page, "HTML lacks the verdict or the replay command"

    cases = _junit_cases((out / "junit.xml").read_text())
    base = cases["seed-missing-forget-bias::feature:baseline"]
    failure = base.find("failure")
    assert failure is not None, f"feature:baseline should fail; testcases: {sorted(cases)}"
    assert cx["message"] in failure.get("message"), f"failure message {failure.get('message')!r} lacks the cause"
    dtype = cx["config"]["dtype"]
    assert cases[f"seed-missing-forget-bias::dtype:{dtype}"].find("failure") is not None, f"dtype:{dtype} should fail"
    covered = {f"dtype:{d}" for d in report["coverage"]["dtypes"]} | {"feature:baseline"}
    assert {k.split("::")[1] for k in cases} == covered, f"testcases {sorted(cases)} != one per covered feature/dtype"

    summary = (out / "summary.md").read_text()
    assert summary.startswith("## ❌ NONCONFORMANT"), f"summary.md starts {summary[:60]!r}"
    assert cx["repro_command"] in summary and "allow_pickle=False" in summary, "summary lacks replay command/snippet"


def test_repro_of_the_saved_case_reproduces_the_failure(seed_run):
    out, report = seed_run
    cx = report["counterexample"]
    proc = run_cli("repro", str(out / "counterexample.npz"))  # target taken from the .json beside it
    assert proc.returncode == 1, f"repro should exit 1 (nonconformant), got {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    worst = cx["worst"]
    element = f"outputs[{worst['index'][0]}, {worst['index'][1]}, {worst['index'][2]}]"
    lines = [l for l in proc.stdout.splitlines() if "first divergence" in l]
    assert len(lines) == 1 and element in lines[0], f"repro should mark {element} as first divergence: {lines}"
    assert "verdict: NONCONFORMANT (mismatch" in proc.stdout, f"verdict line missing:\n{proc.stdout[-800:]}"
    assert "oracle (TF LSTMCell)" in proc.stdout and "candidate (seed-missing-forget-bias)" in proc.stdout


def test_snippet_reproduces_with_numpy_and_the_candidate_only(seed_run, tmp_path):
    _, report = seed_run
    cx = report["counterexample"]
    snippet = _view.replay_snippet(cx, report)
    assert "allow_pickle=False" in snippet, f"snippet must load without pickles:\n{snippet}"
    # Any import of TensorFlow by the snippet would fail loudly.
    script = "import sys\nsys.modules['tensorflow'] = None\n" + snippet
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, f"snippet failed:\n{snippet}\n{proc.stderr[-2000:]}"
    got, _, expected = proc.stdout.partition("TensorFlow LSTMCell gives")
    assert abs(float(got) - cx["worst"]["got"]) < 1e-6, f"snippet printed candidate {got!r}, report has {cx['worst']['got']}"
    assert abs(float(expected) - cx["worst"]["expected"]) < 1e-6, f"snippet's TF value {expected!r} != report"


def test_conformant_run_and_format_selection(tmp_path, capsys):
    # In-process through the CLI's main (TensorFlow is imported once per test process).
    code = main(["check", "numpy-reference", "--max-examples", "8", "--seed", "1", "-q", "--no-long",
                 "--format", "html,junit", "--format", "json", "--report-dir", str(tmp_path)])
    assert code == 0, f"numpy-reference should conform (exit 0), got {code}: {capsys.readouterr()}"
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["junit.xml", "report.html", "report.json"], f"--format html,junit --format json wrote {written}"
    report = validate_report_file(tmp_path / "report.json")
    assert report["verdict"] == "conformant"
    page = (tmp_path / "report.html").read_text()
    assert 'class="banner conformant"' in page and "no difference found" in page, "conformant banner missing"
    root = ET.fromstring((tmp_path / "junit.xml").read_text())
    assert root.get("failures") == "0" and int(root.get("tests")) == 1 + len(report["coverage"]["features"]) + len(
        report["coverage"]["dtypes"]), f"junit counts: tests={root.get('tests')} failures={root.get('failures')}"


def test_bad_format_is_one_line_exit_2_before_any_work():
    proc = run_cli("check", "seed-missing-forget-bias", "--format", "json,xml", timeout=60)
    assert proc.returncode == 2, f"--format xml: exit {proc.returncode}, expected 2"
    err = proc.stderr.strip()
    assert "\n" not in err and "'xml'" in err and "markdown" in err, f"error should be one line naming 'xml': {err!r}"


# --- unit tests on report dicts ---------------------------------------------------------------------------

def test_parse_formats():
    assert parse_formats(None) == tuple(FORMATS), "no --format means every format"
    assert parse_formats(["markdown,json", "junit"]) == ("json", "junit", "markdown"), "order follows FORMATS"
    assert parse_formats(["all"]) == tuple(FORMATS)
    with pytest.raises(InvalidArgument, match="'pdf'"):
        parse_formats(["json, pdf"])


def test_matrix_and_several_counterexamples_render_everywhere(seed_run):
    _, seed = seed_run
    report = copy.deepcopy(seed)
    report["command"] = "matrix"
    cx1 = dict(report["counterexample"], candidate="alpha", target="alpha")
    cx2 = dict(report["counterexample"], candidate="beta", target="mod:beta")
    report["counterexamples"] = [cx1, cx2]
    report["matrix"] = {
        "features": ["baseline", "forget_bias", "peepholes"],
        "rows": [
            {"candidate": "alpha", "cells": {"baseline": "fail", "forget_bias": {"status": "pass", "examples": 9},
                                             "peepholes": "unsupported"}},
            {"candidate": "beta", "cells": {"baseline": "pass", "forget_bias": {"status": "fail", "message": "off by fb",
                                                                                "counterexample": 1},
                                            "peepholes": "pass"}},
        ],
    }
    assert_valid_report(report, where="matrix report")

    page = render_html(report)
    assert page.count('<section class="cx"') == 2 and page.count("<svg") == 2, "one section and plot per counterexample"
    ids = re.findall(r'\bid="([^"]+)"', page)
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"two plots in one page must not share element ids: {dupes[:5]}"
    assert 'class="cell-fail" title="off by fb"' in page and page.count('class="cell-unsupported"') == 1, \
        "matrix cells should carry status class and message"

    cases = _junit_cases(render_junit(report))
    assert len(cases) == 6, f"one testcase per candidate x feature, got {sorted(cases)}"
    assert cases["beta::feature:forget_bias"].find("failure").get("message") == "off by fb"
    assert cases["alpha::feature:peepholes"].find("skipped") is not None, "unsupported cells are skipped"
    assert cases["alpha::feature:forget_bias"].find("failure") is None

    summary = render_markdown(report)
    assert "| alpha | ❌ | ✅ | — |" in summary, f"matrix row of alpha missing:\n{summary}"
    assert "### Counterexample 2 (beta)" in summary, f"each counterexample gets its heading:\n{summary}"


def test_a_real_matrix_json_becomes_a_full_report(tmp_path):
    out = tmp_path / "matrix"
    code = main(["matrix", "seed-missing-forget-bias", "numpy-reference", "--column", "baseline", "--column",
                 "forget_bias", "--max-examples", "5", "--minimize-seconds", "5", "-q", "--report-dir", str(out)])
    assert code == 1, f"matrix with the seed candidate: exit {code}"
    report = report_from_matrix(json.loads((out / "matrix.json").read_text()), str(out))
    assert_valid_report(report, where="report_from_matrix(matrix.json)")
    assert report["verdict"] == "nonconformant" and len(report["counterexamples"]) == 1, (
        f"verdict {report['verdict']}, {len(report['counterexamples'])} counterexamples")
    paths = write_reports(report, str(tmp_path / "out"))
    cases = _junit_cases(Path(paths["junit"]).read_text())
    status = {k: ("fail" if tc.find("failure") is not None else "skipped" if tc.find("skipped") is not None
                  else "error" if tc.find("error") is not None else "pass") for k, tc in cases.items()}
    assert status == {"seed-missing-forget-bias::feature:baseline": "fail",
                      "seed-missing-forget-bias::feature:forget_bias": "skipped",
                      "numpy-reference::feature:baseline": "pass",
                      "numpy-reference::feature:forget_bias": "pass"}, status
    page = Path(paths["html"]).read_text()
    assert page.count("<svg") == 1 and 'id="matrix"' in page, "matrix table and one counterexample plot expected"
    assert "| seed-missing-forget-bias | ❌ | — |" in Path(paths["markdown"]).read_text()


def test_fuzz_runs_become_testcases_per_slice(seed_run):
    _, seed = seed_run
    report = copy.deepcopy(seed)
    report["command"] = "fuzz"
    report["runs"] = [
        {"candidate": "seed", "feature": "baseline", "dtype": "float32", "verdict": "nonconformant", "examples": 7,
         "elapsed_s": 1.5, "seed": 1, "message": "mismatch: x", "counterexample_index": 0},
        {"candidate": "seed", "feature": "baseline", "dtype": "float32", "verdict": "conformant", "examples": 9,
         "elapsed_s": 1.0, "seed": 2, "message": None},
        {"candidate": "seed", "feature": "baseline", "dtype": "float64", "verdict": "conformant", "examples": 9,
         "elapsed_s": 1.0, "seed": 3, "message": None},
    ]
    assert_valid_report(report, where="fuzz report")
    cases = _junit_cases(render_junit(report))
    assert sorted(cases) == ["seed::feature:baseline dtype:float32", "seed::feature:baseline dtype:float64"], cases
    assert cases["seed::feature:baseline dtype:float32"].find("failure").get("message") == "mismatch: x", \
        "a slice that failed in any round fails"
    runs_html = render_html(report).split('<section id="runs">', 1)[1].split("</section>", 1)[0]
    assert runs_html.count("<tr>") == 1 + 3, f"runs table should have a header and 3 rows: {runs_html[:300]}"
    assert "| seed | baseline | float32 | nonconformant |" in render_markdown(report)


@pytest.mark.parametrize("diagnosed, diagnosis, expected", [
    (False, [], "Diagnosis did not run"),
    (True, [], "no known variant explains this"),
    (True, [{"variant": "forget_bias_missing", "explanation": "forget_bias is never added",
             "explained_cases": 5, "tried_cases": 5}], "forget_bias is never added"),
])
def test_diagnosis_states(seed_run, diagnosed, diagnosis, expected):
    _, seed = seed_run
    report = copy.deepcopy(seed)
    report["counterexample"].update(diagnosed=diagnosed, diagnosis=diagnosis,
                                    localization={"gate": "f", "first_step": 1, "evidence": {"ratio": [1.0, 2.5]}})
    assert_valid_report(report)
    page = render_html(report)
    assert expected in page, f"diagnosed={diagnosed}, diagnosis={diagnosis}: HTML should say {expected!r}"
    assert "evidence.ratio" in page and "1, 2.5" in page, "localization should be rendered as key/value rows"
    if diagnosis:
        assert "explains 5/5 cases" in render_markdown(report), "Markdown 'Why' should carry the best variant"


def test_missing_matplotlib_says_so_instead_of_plotting(seed_run, monkeypatch):
    _, report = seed_run
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    page = render_html(report)
    assert "<svg" not in page, "no plot can be drawn without matplotlib"
    assert html.escape(PLOT_NEEDS_MATPLOTLIB) in page, "the page should say the plot needs matplotlib"


def test_long_sequence_plot_and_step_table(seed_run):
    _, seed = seed_run
    report = copy.deepcopy(seed)
    cx = report["counterexample"]
    cx["time"] = 150
    cx["step_errors"] = [0.0] * 120 + [1e-7 * 10 ** (k / 6) for k in range(30)]
    cx["step_errors"][130] = None  # non-finite steps are null in report.json
    cx["first_divergent_step"] = 121
    assert_valid_report(report)
    page = render_html(report)
    assert page.count("<svg") == 1, "plot missing for a long sequence"
    rows = _view.step_error_rows(cx)
    shown = [r[0] for r in rows]
    assert "..." in shown and "121" in shown and "149" in shown and len(rows) < 60, f"step table rows: {shown}"


def test_untrusted_text_is_escaped_in_every_format(seed_run):
    _, seed = seed_run
    report = copy.deepcopy(seed)
    evil_msg = "ValueError: <img src=x onerror=alert(2)> | *bold* [link](javascript:alert(3)) \x00\x1b[31m"
    report["candidate"].update(name=HOSTILE, description="<b>docstring</b> & more")
    report["counterexample"].update(message=evil_msg, kind="exception", worst=None)
    assert_valid_report(report)

    page = render_html(report)
    body = page.split("</style>", 1)[1]
    assert "<script" not in body and "<img" not in body and "<b>" not in body, "markup from the report became HTML"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "&lt;img src=x onerror=alert(2)&gt;" in body
    assert "\x00" not in page and "\x1b" not in page, "control characters must not reach the page"

    summary = render_markdown(report)
    assert "<script" not in summary and "<img" not in summary and "<b>" not in summary, "raw HTML in summary.md"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in summary
    assert "\\[link\\](javascript:alert(3))" in summary and "\\*bold\\*" in summary, "Markdown syntax must be escaped"

    xml_text = render_junit(report)
    root = ET.fromstring(xml_text)  # control characters would make this raise
    failure = next(tc.find("failure") for tc in root.iter("testcase") if tc.find("failure") is not None)
    assert "<img src=x onerror=alert(2)>" in failure.get("message"), "JUnit keeps the text, XML-escaped"
    assert {tc.get("classname") for tc in root.iter("testcase")} == {HOSTILE}


def test_schema_rejects_what_it_should(seed_run):
    _, seed = seed_run
    validate_report(seed)  # the real report passes
    bad = copy.deepcopy(seed)
    del bad["verdict"]
    bad["coverage"]["dtypes"] = ["float8"]
    with pytest.raises(ReportSchemaError) as info:
        validate_report(bad)
    text = str(info.value)
    assert "'verdict' is a required property" in text and "$.coverage.dtypes[0]" in text, text
    bad = copy.deepcopy(seed)
    bad["counterexample"]["config"]["num_units"] = 0
    with pytest.raises(ReportSchemaError, match=r"\$\.counterexample\.config\.num_units"):
        validate_report(bad)
    # full_message and traceback are optional strings (a candidate's whole exception text)
    ok = copy.deepcopy(seed)
    ok["counterexample"].update(full_message="RuntimeError: " + "x" * 900 + " REAL ERROR", traceback="Traceback ...")
    validate_report(ok)
    bad = copy.deepcopy(ok)
    bad["counterexample"]["traceback"] = ["not", "a", "string"]
    with pytest.raises(ReportSchemaError, match=r"\$\.counterexample\.traceback"):
        validate_report(bad)


def test_a_failing_writer_does_not_lose_the_others(seed_run, tmp_path, monkeypatch):
    _, report = seed_run
    import conformance.report._html as html_writer

    def broken(_report):
        raise RuntimeError("boom")

    monkeypatch.setattr(html_writer, "render_html", broken)
    with pytest.raises(ConformanceError, match=r"report\.html: RuntimeError: boom"):
        write_reports(report, str(tmp_path))
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["junit.xml", "report.json", "summary.md"], f"the other formats should still be written: {written}"
    assert json.loads((tmp_path / "report.json").read_text()) == report, "report.json round-trips"


def test_error_and_interrupted_runs_are_reported_as_such(seed_run):
    _, seed = seed_run
    report = copy.deepcopy(seed)
    report.update(verdict="error", error="worker could not start: <boom>", counterexample=None, interrupted=True)
    assert_valid_report(report)
    page = render_html(report)
    assert 'class="banner error"' in page and "ERROR (interrupted: partial report)" in page, "error banner missing"
    assert "worker could not start: &lt;boom&gt;" in page, "the error should be shown, escaped"
    root = ET.fromstring(render_junit(report))
    kinds = {tc.get("name"): [c.tag for c in tc] for tc in root.iter("testcase")}
    assert all(tags == ["error"] for tags in kinds.values()), f"every case of a harness error is an error: {kinds}"
    assert root.get("errors") == str(len(kinds)), f"errors={root.get('errors')} for {len(kinds)} cases"
    assert render_markdown(report).startswith("## ⚠️ ERROR (interrupted: partial report)")
