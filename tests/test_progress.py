"""The progress display: total, rate and ETA; a bar on a terminal (rich), plain lines in a log; a first
line before TensorFlow loads."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap

import pytest

from conformance.outcome import Progress
from conformance.report import ProgressPrinter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _drive(printer: ProgressPrinter, clock: Clock, steps: list[tuple[float, int]], total: int = 300) -> None:
    for t, n in steps:
        clock.now = 100.0 + t
        printer(Progress(n, t + 4.0, 0, total=total))  # elapsed counts the TF import (4 s) before the first example


def test_plain_lines_show_total_rate_and_eta_and_never_a_zero_rate():
    out, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(out, fancy=False, interval=0.0, clock=clock)
    _drive(printer, clock, [(0.0, 0), (0.5, 10), (1.0, 30), (2.0, 67), (5.0, 178)])
    printer.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "examples: 0/300", lines
    assert lines[1] == "examples: 10/300", f"no rate before a second of examples: {lines}"
    assert not any("(0/s" in line or " 0/s" in line or "0.0/s" in line for line in lines), lines
    # From the first counted example (t=0.5, 10 examples): 168 more in 4.5 s = 37/s; 122 left -> ETA 3 s.
    assert lines[4] == "examples: 178/300 (37/s, ETA 3 s)", lines
    assert lines[-1].startswith("examples: 178/300 (37/s,") and "in all" in lines[-1] and "ETA" not in lines[-1], lines


def test_plain_lines_are_periodic_not_per_report_but_the_first_failure_is_told_at_once():
    out, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(out, fancy=False, interval=5.0, clock=clock)
    _drive(printer, clock, [(t / 2, 10 * t) for t in range(25)])  # a report every half second for 12 s
    assert len(out.getvalue().splitlines()) == 3, out.getvalue()  # at 0, 5 and 10 s
    clock.now += 0.5
    printer(Progress(260, 17.0, 1, "mismatch", total=300))
    clock.now += 0.5
    printer(Progress(261, 17.5, 2, "mismatch", total=300))
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("examples: 260/300 (") \
        and lines[-1].endswith("failures: 1 (mismatch))"), lines


def test_eta_in_minutes_and_unbounded_runs_show_no_total():
    out, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(out, fancy=False, interval=0.0, clock=clock)
    _drive(printer, clock, [(0.0, 1), (10.0, 11)], total=100_000)
    assert out.getvalue().splitlines()[-1] == "examples: 11/100000 (1.0/s, ETA 27.8 h)", out.getvalue()
    out, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(out, fancy=False, interval=0.0, clock=clock)
    for t, n in [(0.0, 1), (2.0, 41)]:
        clock.now = 100.0 + t
        printer(Progress(n, t, 1, "mismatch"))
    assert out.getvalue().splitlines()[-1] == "examples: 41 (20/s, failures: 1 (mismatch))", out.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_rich_bar_with_total_and_eta():
    pytest.importorskip("rich", reason="the progress extra (rich) is not installed")
    out, clock = _Terminal(), Clock()
    printer = ProgressPrinter(out, clock=clock)
    _drive(printer, clock, [(0.0, 0), (0.5, 10), (5.0, 178)])
    printer.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "178/300" in text and "37/s, ETA 3 s" in text, text
    assert "━" in text, f"no bar drawn: {text!r}"


def test_without_rich_a_terminal_gets_plain_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # as if the extra were not installed
    out, clock = _Terminal(), Clock()
    printer = ProgressPrinter(out, interval=0.0, clock=clock)
    _drive(printer, clock, [(0.0, 1), (2.0, 75)])
    assert out.getvalue().splitlines()[-1] == "examples: 75/300 (37/s, ETA 6 s)", out.getvalue()


def test_check_prints_a_first_line_before_tensorflow_and_plain_lines_in_a_log(tmp_path):
    # The first line must be out before TensorFlow is imported: record, as it is written, whether it was.
    script = textwrap.dedent("""
        import sys
        from conformance.report import ProgressPrinter
        start = ProgressPrinter.start
        def spy(self, message):
            start(self, message + (" [tensorflow loaded]" if "tensorflow" in sys.modules else " [no tensorflow]"))
        ProgressPrinter.start = spy
        from conformance.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    proc = subprocess.run([sys.executable, "-c", script, "check", "numpy-reference", "--max-examples", "120",
                           "--seed", "1", "--report-dir", str(tmp_path), "--format", "json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith(("WARNING", "W0000", "I0000"))]
    assert lines[0].startswith("checking numpy-reference: 120 examples, in process") \
        and lines[0].endswith("[no tensorflow]"), lines
    counts = [line for line in lines if line.startswith("examples: ")]
    assert counts and all("/120" in line and "(0/s" not in line for line in counts), lines
    assert counts[-1].startswith("examples: 120/120") and "in all" in counts[-1], counts


def test_fuzz_lines_show_no_rate_until_a_second_of_searching():
    from conformance.campaign import FuzzProgress, Slice
    from conformance.cli._fuzz import fuzz_progress_printer

    out = io.StringIO()
    show = fuzz_progress_printer(out)
    sl = Slice("numpy-reference", "all", frozenset(), "float32")
    show(FuzzProgress(4.2, 60.0, sl, 1, 0, 0, 0.0))
    show(FuzzProgress(6.0, 60.0, sl, 2, 80, 0, 1.8))
    first, second = out.getvalue().splitlines()
    assert "examples: 0  findings" in first and "/s" not in first, first
    assert "examples: 80 (44/s)" in second, second


def test_the_last_line_is_written_once_with_the_totals():
    out, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(out, fancy=False, interval=5.0, clock=clock)
    _drive(printer, clock, [(0.0, 1), (6.0, 150), (12.0, 300)])
    printer.close()
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["examples: 1/300", "examples: 150/300", "examples: 300/300"], \
        lines
    assert lines[-1] == "examples: 300/300 (25/s, 16 s in all)", lines


def test_help_imports_neither_rich_nor_tensorflow():
    code = ("import sys, contextlib, io\nfrom conformance.cli import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n    main(['check', '--help'])\n"
            "print(sorted(m for m in ('rich', 'tensorflow') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr
