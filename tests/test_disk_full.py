"""A full disk at the end of a run: the verdict is printed, nothing half-written is left (issue 17 item 11).

A full disk is simulated without root or a small file system: the CLI runs in a child
under ``RLIMIT_FSIZE`` (with SIGXFSZ ignored, so a write past the limit fails with EFBIG
like ENOSPC instead of killing the process), and ``--history`` alone is made full by
pointing it at ``/dev/full``.  Permissions cannot be used: the tests may run as root.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

from conformance.campaign import append, read

#: Bytes a file may grow to in the "full" child: the reports and cases are all larger.
FULL_AT = 256


def _fill_disk() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited through exec: EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (FULL_AT, FULL_AT))


def run_cli(*args: str, cwd: Path, full: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True, text=True, timeout=240,
                          cwd=cwd, preexec_fn=_fill_disk if full else None)


def leftovers(*directories: Path) -> list[str]:
    """Temporary or empty files left behind: what a non-atomic write leaves on a full disk."""
    return [str(p) for d in directories if d.exists() for p in d.rglob("*")
            if p.is_file() and (p.name.endswith(".tmp") or p.stat().st_size == 0)]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "could not write" in line]


def test_conformant_check_on_a_full_disk_prints_its_verdict_and_exits_0(tmp_path):
    reports = tmp_path / "reports"
    proc = run_cli("check", "numpy-reference", "--max-examples", "3", "--no-long", "--seed", "1", "--dtype", "float32",
                   "--report-dir", str(reports), "--format", "json,markdown", "-q", cwd=tmp_path)
    # Before the fix: exit 2, "error: could not write report.json ...", and no verdict on stdout.
    assert "numpy-reference: CONFORMANT" in proc.stdout, f"no verdict printed:\n{proc.stdout}\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0, f"exit {proc.returncode}: the status is the verdict's\n{proc.stderr[-2000:]}"
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "report.json" in lines[0], f"expected one line naming report.json:\n{proc.stderr}"
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not leftovers(reports), f"half-written files: {leftovers(reports)}"


def test_fuzz_with_full_report_dir_corpus_and_history_prints_its_verdict(tmp_path):
    reports, corpus, history = tmp_path / "reports", tmp_path / "corpus", tmp_path / "history.jsonl"
    proc = run_cli("fuzz", "seed-missing-forget-bias", "--budget", "60s", "--db", "none", "--no-isolate",
                   "--dtype", "float32", "--seed", "1", "--no-long", "--corpus", str(corpus), "--history", str(history),
                   "--report-dir", str(reports), "--format", "json", "-q", cwd=tmp_path)
    # Before the fix: "internal error: OSError", exit 2, nothing printed or written.
    assert "fuzz: NONCONFORMANT" in proc.stdout, f"no verdict printed:\n{proc.stdout}\n{proc.stderr[-2000:]}"
    assert proc.returncode == 1, f"exit {proc.returncode}: the status is the verdict's\n{proc.stderr[-2000:]}"
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, f"expected one line naming what could not be written:\n{proc.stderr}"
    for name in ("report.json", str(corpus), "--history"):
        assert name in lines[0], f"{name} is not named in {lines[0]!r}"
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not leftovers(reports, corpus), f"half-written files: {leftovers(reports, corpus)}"


def test_fuzz_with_only_the_history_full_writes_everything_else(tmp_path):
    reports, history = tmp_path / "reports", tmp_path / "history.jsonl"
    history.symlink_to("/dev/full")  # every write: ENOSPC
    proc = run_cli("fuzz", "seed-missing-forget-bias", "--budget", "60s", "--db", "none", "--no-isolate",
                   "--dtype", "float32", "--seed", "2", "--no-long", "--history", str(history),
                   "--report-dir", str(reports), "--format", "json", "-q", cwd=tmp_path, full=False)
    assert proc.returncode == 1 and "fuzz: NONCONFORMANT" in proc.stdout, \
        f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-2000:]}"
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and str(history) in lines[0] and "No space left on device" in lines[0], proc.stderr
    report = json.loads((reports / "report.json").read_text())
    assert report["verdict"] == "nonconformant" and (reports / "counterexample.npz").exists(), report["verdict"]


def test_history_append_after_a_cut_line_starts_a_fresh_one(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_text('{"run": "a", "target": "t", "feature": "all", "dtype": "float32"}\n{"run": "b", "tar')
    append(str(history), [{"run": "c", "target": "t", "feature": "all", "dtype": "float32"}])
    warnings: list[str] = []
    records = read(str(history), warn=warnings.append)
    assert [r["run"] for r in records] == ["a", "c"], f"records read back: {records}; warnings: {warnings}"
    assert len(warnings) == 1, warnings
