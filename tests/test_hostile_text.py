"""Candidate text that breaks writers (issue 17, items 13-14).

A candidate's exception message may hold a lone surrogate, ANSI escapes and NUL; its
``__str__`` may raise; TF puts the real error at the end of a long message. Every report
writer and the console must cope, and report.json must keep the whole message and traceback.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

import conformance
from conformance import CheckOptions
from conformance.candidates import _protocol
from conformance.candidates._protocol import call_candidate
from conformance.report import FORMATS, build_report, print_counterexample, validate_report, write_reports
from conformance.report._view_text import clean, one_line
from conformance.spec import CandidateFault

pytest.importorskip("jsonschema", reason="schema validation needs jsonschema (dev extra)")

HOSTILE_MESSAGE = "bad \ud800 \x1b[31mred\x00 " + "x" * 500 + " REAL ERROR AT END"

_MODULE = textwrap.dedent('''
    HOSTILE_MESSAGE = "bad \\ud800 \\x1b[31mred\\x00 " + "x" * 500 + " REAL ERROR AT END"


    def hostile(case):
        raise RuntimeError(HOSTILE_MESSAGE)


    class Unprintable(Exception):
        def __str__(self):
            raise ValueError("no str for you")

        def __repr__(self):
            raise ValueError("no repr either")


    def unprintable(case):
        raise Unprintable("hidden")
''')


@pytest.fixture(scope="module")
def module_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile_candidates.py"
    path.write_text(_MODULE, encoding="utf-8")
    return path


def _run(module_file: Path, name: str, oracle):
    result = conformance.check(f"{module_file}:{name}", CheckOptions(max_examples=5, seed=0, diagnose=False),
                               oracle=oracle)
    assert result.verdict == "nonconformant", f"{name}: {result.verdict} {result.error}"
    assert result.counterexample is not None and result.counterexample.kind == "exception"
    return result


def _write_all(result, out: Path) -> dict:
    report = build_report(result, oracle_version="t")
    validate_report(report)
    paths = write_reports(report, str(out))  # raised UnicodeEncodeError (lone surrogate) before the fix
    assert set(paths) == set(FORMATS)
    for p in paths.values():
        raw = Path(p).read_bytes()
        raw.decode("utf-8")  # every file is valid UTF-8
        assert b"\x1b" not in raw and b"\x00" not in raw, f"{p} holds a raw control character"
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_surrogates_controls_and_long_messages_reach_every_writer(module_file, oracle, tmp_path):
    result = _run(module_file, "hostile", oracle)
    saved = _write_all(result, tmp_path)
    validate_report(saved)
    cx = saved["counterexample"]
    assert "REAL ERROR AT END" not in cx["message"], "the headline message stays one truncated line"
    assert "REAL ERROR AT END" in cx["full_message"], "report.json keeps the whole message"
    assert "Traceback" in cx["traceback"] and "RuntimeError" in cx["traceback"]
    assert "\\ud800" in cx["full_message"], "the lone surrogate is kept visibly, not dropped"

    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<details" in page and "REAL ERROR AT END" in page, "the full message shows collapsed in the HTML"
    assert "\\x1b" in page, "ANSI escapes show as visible \\x1b"

    out = io.StringIO()
    print_counterexample(result.counterexample, out=out, verbose=True)
    text = out.getvalue()
    text.encode("utf-8")  # printable to a UTF-8 terminal
    assert "\x1b" not in text and "\x00" not in text
    assert "REAL ERROR AT END" in text, "the console shows the last line of the full message"


def test_an_exception_whose_str_raises_is_a_fault_not_a_crash(module_file, oracle, tmp_path):
    result = _run(module_file, "unprintable", oracle)
    assert "<unprintable Unprintable>" in result.counterexample.comparison.message
    _write_all(result, tmp_path)


def test_describe_exception_falls_back_to_repr_then_a_placeholder():
    class StrRaises(Exception):
        def __str__(self):
            raise ValueError

    class BothRaise(StrRaises):
        def __repr__(self):
            raise ValueError

    describe_exception = _protocol.describe_exception
    assert describe_exception(RuntimeError("plain")) == "RuntimeError: plain"
    assert describe_exception(StrRaises("x")).startswith("StrRaises: StrRaises(")
    assert describe_exception(BothRaise("x")) == "BothRaise: <unprintable BothRaise>"


def test_call_candidate_keeps_full_message_and_traceback():
    def raiser(case):
        raise RuntimeError("head " + "y" * 400 + "\nTAIL LINE")

    from conformance.spec import Case  # noqa: F401  (a case is only handed through)

    class FakeCase:
        def arrays(self):
            return {}

        def with_arrays(self, arrays):
            return self

    with pytest.raises(CandidateFault) as info:
        call_candidate(raiser, FakeCase())  # type: ignore[arg-type]
    fault = info.value
    assert len(fault.message) <= 300 and "TAIL LINE" not in fault.message
    assert fault.full_message.endswith("TAIL LINE") or "TAIL LINE" in fault.full_message
    assert "Traceback" in fault.traceback


def test_clean_escapes_controls_and_surrogates_visibly():
    s = clean("a\ud800b\x1b[0m\x00c\td\ne")
    s.encode("utf-8")
    assert s == "a\\ud800b\\x1b[0m\\x00c\td\ne"
    assert one_line("x\x07y") == "x\\x07y"


def test_plot_title_gets_no_control_characters_or_mathtext():
    pytest.importorskip("matplotlib")
    from conformance.report._html import error_plot_svg

    svg = error_plot_svg([0.0, 1.0, 0.5], 1, 1e-6, title="cand \x1b[31m$x^\x00 \ud800 vs TF")
    assert svg is not None
    svg.encode("utf-8")
    assert "\x1b" not in svg and "\x00" not in svg and "\\x1b" in svg
