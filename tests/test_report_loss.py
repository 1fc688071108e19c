"""Signals at the end of a run: the reports are written whole and say ``interrupted`` (issue 17 item 10).

Each test runs the real CLI in a fresh interpreter through a small driver that wraps one
end-of-run step (saving the counterexample, the findings of a fuzz run, rendering the HTML)
so that the process sends SIGTERM to itself at exactly that point.  The signal is delivered
to the main thread at the next bytecode boundary, inside the wrapped step, so the moment
is deterministic; no debugging hook is needed in the harness.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: Wraps the end-of-run step named by argv[1] so that it SIGTERMs its own process, then runs the CLI on argv[2:].
DRIVER = textwrap.dedent("""
    import os, signal, sys
    import conformance.campaign as campaign
    import conformance.report as report
    import conformance.report._html as html

    def terminate_self():
        os.kill(os.getpid(), signal.SIGTERM)

    point = sys.argv[1]
    if point == "after-counterexample":
        saved = report.save_counterexample
        def save_then_signal(*args, **kwargs):
            out = saved(*args, **kwargs)
            terminate_self()
            return out
        report.save_counterexample = save_then_signal
    elif point == "html":
        render = html.render_html
        def signal_then_render(rep):
            terminate_self()
            return render(rep)
        html.render_html = signal_then_render
    elif point == "after-findings":
        save_findings = campaign.save_findings
        def save_findings_then_signal(*args, **kwargs):
            out = save_findings(*args, **kwargs)
            terminate_self()
            return out
        campaign.save_findings = save_findings_then_signal
    else:
        raise SystemExit(f"unknown point {point!r}")
    from conformance.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def run_signalled(point: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DRIVER, point, *args], capture_output=True, text=True,
                          timeout=240, cwd=cwd, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def read_report(directory: Path, proc: subprocess.CompletedProcess) -> dict:
    path = directory / "report.json"
    assert path.exists(), f"no report.json (exit {proc.returncode});\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-2000:]}"
    return json.loads(path.read_text())


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_after_the_counterexample_is_saved_still_writes_the_report(tmp_path, workers):
    reports = tmp_path / "reports"
    proc = run_signalled("after-counterexample", "check", "seed-missing-forget-bias", "--max-examples", "30",
                         "--no-long", "--seed", "1", "--workers", workers, "--report-dir", str(reports),
                         "--format", "json", "-q", cwd=tmp_path)
    report = read_report(reports, proc)  # before the fix: exit 143 and no report.json at all
    assert proc.returncode == 143, f"exit {proc.returncode}, expected 143 (SIGTERM)\n{proc.stderr[-2000:]}"
    assert report["interrupted"] is True and report["verdict"] == "nonconformant", \
        (report["interrupted"], report["verdict"])
    assert report["counterexample"] is not None and (reports / "counterexample.npz").exists()
    assert "NONCONFORMANT" in proc.stdout and "(interrupted; partial report)" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_sigterm_while_the_html_is_written_writes_every_report_marked_interrupted(tmp_path):
    reports = tmp_path / "reports"
    proc = run_signalled("html", "check", "numpy-reference", "--max-examples", "3", "--no-long", "--seed", "1",
                         "--dtype", "float32", "--report-dir", str(reports), "--format", "json,html", "-q",
                         cwd=tmp_path)
    report = read_report(reports, proc)
    assert (reports / "report.html").exists(), \
        f"report.html was not written (before the fix only report.json was);\n{proc.stderr[-2000:]}"
    assert report["interrupted"] is True, "report.json must say interrupted: a SIGTERM came while it was written"
    assert "interrupted" in (reports / "report.html").read_text().lower(), "the HTML must say so as well"
    assert proc.returncode == 143, f"exit {proc.returncode}, expected 143\n{proc.stderr[-2000:]}"
    assert "CONFORMANT" in proc.stdout and "report:" in proc.stdout, proc.stdout


def test_sigterm_after_a_fuzz_run_saved_its_findings_still_writes_the_report(tmp_path):
    reports, corpus = tmp_path / "reports", tmp_path / "corpus"
    proc = run_signalled("after-findings", "fuzz", "seed-missing-forget-bias", "--budget", "60s", "--db", "none",
                         "--no-isolate", "--dtype", "float32", "--seed", "1", "--no-long", "--corpus", str(corpus),
                         "--report-dir", str(reports), "--format", "json", "-q", cwd=tmp_path)
    report = read_report(reports, proc)  # before the fix: exit 143, no report
    assert proc.returncode == 143, f"exit {proc.returncode}, expected 143\n{proc.stderr[-2000:]}"
    assert report["command"] == "fuzz" and report["interrupted"] is True and report["verdict"] == "nonconformant", \
        (report["command"], report["interrupted"], report["verdict"])
    assert list(corpus.glob("*.npz")) and (reports / "counterexample.npz").exists(), "the findings must be saved"
    assert "fuzz: NONCONFORMANT" in proc.stdout, proc.stdout
