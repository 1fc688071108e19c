"""Ctrl-C and SIGTERM in the middle of a run: a partial report, a consistent database, exit 130/143, no orphans.

Each test starts the real CLI in a fresh interpreter, waits until the run is where the
test wants it (examples done, a failure being shrunk, a worker stuck in a hang), sends
the signal and then inspects what is left on disk and in the process table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conformance.report import validate_report
from tests import fault_candidates as fc


class Running:
    """``lstm-conformance ARGS`` in a subprocess, its stderr collected as it comes."""

    def __init__(self, *args: str, env: dict | None = None, cwd: Path | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "conformance", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        # Each pipe has one reader (communicate() would read stderr too and take lines from self.stderr).
        self.stderr = ""
        self._out: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._out_reader = threading.Thread(target=lambda: self._out.extend(self.proc.stdout), daemon=True)
        self._out_reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.stderr += line

    def stdout(self) -> str:
        self._out_reader.join(5)
        return "".join(self._out)

    def wait_for(self, predicate, what: str, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.proc.kill()
        self.proc.wait()
        pytest.fail(f"never saw {what} (exit {self.proc.poll()}); stdout:\n{self.stdout()}\n"
                    f"stderr:\n{self.stderr[-3000:]}")

    def examples_seen(self) -> int:
        counts = re.findall(r"examples: (\d+)", self.stderr)
        return int(counts[-1]) if counts else 0

    def signal_and_wait(self, signum: int, timeout: float = 60.0) -> tuple[int, str, float]:
        """Send ``signum``; return (exit status, stdout, seconds from the signal to the exit)."""
        sent = time.monotonic()
        self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"still running {timeout} s after signal {signum}; stderr:\n{self.stderr[-3000:]}")
        elapsed = time.monotonic() - sent
        self._reader.join(5)
        return self.proc.returncode, self.stdout(), elapsed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def private_candidates(tmp_path) -> Path:
    """A copy of fault_candidates.py under a path no other test uses, so its workers can be found by name."""
    path = tmp_path / "my_faults.py"
    shutil.copy(fc.HERE, path)
    return path


def processes_mentioning(text: str) -> list[str]:
    """Live (non-zombie) processes whose command line contains ``text``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(f"{pid}: {cmd}")
    return found


def assert_no_orphans(marker: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while processes_mentioning(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = processes_mentioning(marker)
    assert not left, f"processes left behind after the run ended: {left}"


def read_report(directory: Path) -> dict:
    report = json.loads((directory / "report.json").read_text())
    validate_report(report)
    return report


def test_sigterm_mid_run_writes_a_partial_report_and_exits_143(tmp_path, private_candidates):
    reports = tmp_path / "reports"
    run = Running("check", f"{private_candidates}:slow_correct", "--isolate", "--max-examples", "5000",
                  "--report-dir", str(reports), "--format", "json", "--no-long")
    try:
        run.wait_for(lambda: run.examples_seen() >= 3, "3 examples done")
        status, out, took = run.signal_and_wait(signal.SIGTERM)
    finally:
        run.kill()
    assert status == 143, f"exit {status} after SIGTERM, expected 143; stderr:\n{run.stderr[-2000:]}"
    assert took < 30, f"{took:.1f} s from SIGTERM to exit"
    report = read_report(reports)
    assert report["interrupted"] is True and report["verdict"] == "conformant", (report["interrupted"], report["verdict"])
    assert report["examples"] >= 3, f"report counts {report['examples']} examples; at least 3 had run"
    assert "(interrupted; partial report)" in out and "report:" in out, out
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert_no_orphans(str(private_candidates))


def test_ctrl_c_in_process_exits_130_with_the_report(tmp_path, private_candidates):
    reports = tmp_path / "reports"
    run = Running("check", f"{private_candidates}:slow_correct", "--max-examples", "5000",
                  "--report-dir", str(reports), "--format", "json", "--no-long")
    try:
        run.wait_for(lambda: run.examples_seen() >= 3, "3 examples done")
        status, out, _ = run.signal_and_wait(signal.SIGINT)
    finally:
        run.kill()
    assert status == 130, f"exit {status} after SIGINT, expected 130; stderr:\n{run.stderr[-2000:]}"
    report = read_report(reports)
    assert report["interrupted"] is True and report["examples"] >= 3, (report["interrupted"], report["examples"])
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


def test_sigterm_while_the_worker_hangs_ends_promptly_and_kills_it(tmp_path, private_candidates):
    reports, marker = tmp_path / "reports", tmp_path / "hanging.pid"
    env = dict(os.environ, LSTM_CONFORMANCE_TEST_MARKER=str(marker))
    run = Running("check", f"{private_candidates}:hang_after_marker", "--timeout", "300", "--max-examples", "50",
                  "--report-dir", str(reports), "--format", "json", "--no-long", env=env)
    try:
        run.wait_for(marker.exists, "the candidate entering its hang")
        worker = int(marker.read_text())
        status, out, took = run.signal_and_wait(signal.SIGTERM)
    finally:
        run.kill()
    assert status == 143, f"exit {status}; stderr:\n{run.stderr[-2000:]}"
    assert took < 20, f"{took:.1f} s from SIGTERM to exit while the worker hung (its timeout was 300 s)"
    assert not os.path.exists(f"/proc/{worker}") or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2], \
        f"the hanging worker {worker} is still alive"
    report = read_report(reports)
    assert report["interrupted"] is True, report
    assert_no_orphans(str(private_candidates))


def test_sigterm_while_shrinking_keeps_the_failure_and_the_database(tmp_path, private_candidates):
    reports, db = tmp_path / "reports", tmp_path / "db"
    target = f"{private_candidates}:slow_wrong_on_batch"
    run = Running("check", target, "--isolate", "--max-examples", "500", "--db", str(db), "--seed", "2",
                  "--report-dir", str(reports), "--format", "json", "--no-long")
    try:
        run.wait_for(lambda: re.search(r"failures: [1-9]", run.stderr), "the first failure")
        time.sleep(1.0)  # into the shrinking
        status, out, _ = run.signal_and_wait(signal.SIGTERM)
    finally:
        run.kill()
    assert status == 143, f"exit {status}; stderr:\n{run.stderr[-2000:]}"
    report = read_report(reports)
    cx = report["counterexample"]
    assert report["interrupted"] is True and report["verdict"] == "nonconformant", report["verdict"]
    assert cx is not None and cx["kind"] == "mismatch" and cx["batch"] >= 2, cx and (cx["kind"], cx["batch"])
    assert (reports / "counterexample.npz").exists(), "the counterexample .npz was not saved"
    leftovers = [p.name for p in db.rglob("*") if p.is_file() and ("tmp" in p.name or p.stat().st_size == 0)]
    assert not leftovers, f"half-written database entries: {leftovers}"
    # The database still works and remembers the failure: the next run fails on a replayed example at once.
    again = subprocess.run([sys.executable, "-m", "conformance", "check", target, "--isolate", "--max-examples", "3",
                            "--db", str(db), "--report-dir", str(tmp_path / "again"), "--format", "json", "-q",
                            "--no-long"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 1, f"re-run with the database: exit {again.returncode}\n{again.stdout}\n{again.stderr}"
    assert_no_orphans(str(private_candidates))


def test_sigterm_mid_fuzz_leaves_a_readable_partial_report(tmp_path, private_candidates):
    reports = tmp_path / "reports"
    run = Running("fuzz", f"{private_candidates}:slow_correct", "--budget", "600", "--db", "none",
                  "--report-dir", str(reports), "--format", "json", "--no-long")
    try:
        run.wait_for(lambda: run.examples_seen() >= 1, "fuzz examples running")
        time.sleep(1.0)
        status, out, took = run.signal_and_wait(signal.SIGTERM)
    finally:
        run.kill()
    assert status == 143, f"exit {status}; stdout:\n{out}\nstderr:\n{run.stderr[-2000:]}"
    assert took < 30, f"{took:.1f} s from SIGTERM to exit"
    report = read_report(reports)
    assert report["interrupted"] is True and report["command"] == "fuzz", (report["interrupted"], report["command"])
    assert report["examples"] >= 1, report["examples"]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert_no_orphans(str(private_candidates))


def test_an_example_interrupted_before_it_finishes_is_not_counted():
    """Ctrl-C inside an example (here: the candidate's first call, while TensorFlow may still be importing in
    the background) ends the run with the examples that finished: none, so the verdict is "error", never
    "conformant after 1 example"."""
    from conformance.candidates import candidate
    from conformance.run import CheckOptions, check

    @candidate(features=[], dtypes=["float32"])
    def interrupted(case):
        raise KeyboardInterrupt

    result = check(interrupted, CheckOptions(max_examples=10, seed=1))
    assert result.interrupted and result.examples == 0, (result.interrupted, result.examples)
    assert result.verdict == "error", f"verdict {result.verdict!r} for a run in which no example finished"
