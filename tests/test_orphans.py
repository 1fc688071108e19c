"""Nothing the harness starts outlives it (issue 17 item 9).

Workers die with a SIGKILLed harness even while the candidate holds the GIL in C (PR_SET_PDEATHSIG, not a
Python thread); an ``exec:`` program that hangs is killed with its children, its temporary directory removed;
what a candidate spawns is killed with its worker's session; ``check --workers`` children die with their parent.
Linux only (/proc and prctl).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from conformance import CandidateFault
from conformance.candidates._isolation import SubprocessExecutor
from tests import fault_candidates as fc
from tests.test_isolation import alive, make_case, wait_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(b")") + 2 :].split()[1]), []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return {p for p in out if alive(p)}


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def kill_all(pids) -> None:
    """Clean up after a failed test: nothing of it may leak into the next."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def read_pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_worker_holding_the_gil_in_c_dies_with_a_sigkilled_harness(tmp_path):
    marker = tmp_path / "worker.pid"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {REPO!r})
        from conformance.candidates._isolation import SubprocessExecutor
        from tests.test_isolation import make_case
        from tests import fault_candidates as fc
        SubprocessExecutor(fc.target("holds_gil_in_c")).run(make_case())  # blocks in C, GIL held
    """)
    harness = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, LSTM_CONFORMANCE_TEST_MARKER=str(marker)))
    started: set[int] = set()
    try:
        worker = wait_for(lambda: read_pids(marker), 60, "the candidate to block")[0]
        time.sleep(0.3)
        started = descendants(harness.pid)
        assert worker in started and alive(worker)
        harness.kill()
        harness.wait()
        assert wait_gone(sorted(started), 10) == [], f"{started} outlived the SIGKILLed harness by 10 s"
    finally:
        harness.kill()
        kill_all(started)


def hanging_program(tmp_path: Path, marker: Path) -> str:
    """An exec: target that answers the describe request, then hangs on cases with a child of its own
    (appending both pids to ``marker``)."""
    program = tmp_path / "hang.sh"
    program.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        {sys.executable} -c "import numpy as np, sys; sys.exit(0 if int(np.load(sys.argv[1])['describe']) else 1)" \\
            "$1" && exit 0
        echo $$ >> {marker}
        sleep 300 &
        echo $! >> {marker}
        wait
    """))
    program.chmod(0o755)
    return f"exec:{program}"


def test_a_hanging_exec_program_dies_with_a_sigkilled_harness(tmp_path):
    marker = tmp_path / "pids"
    target = hanging_program(tmp_path, marker)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {REPO!r})
        from conformance.candidates._isolation import SubprocessExecutor
        from tests.test_isolation import make_case
        SubprocessExecutor({target!r}, timeout_seconds=600).run(make_case())
    """)
    harness = subprocess.Popen([sys.executable, "-c", script])
    started: set[int] = set()
    try:
        wait_for(lambda: len(read_pids(marker)) == 2, 60, "the program and its child to start")
        started = descendants(harness.pid)
        assert set(read_pids(marker)) <= started, (read_pids(marker), started)
        harness.kill()
        harness.wait()
        assert wait_gone(sorted(started), 10) == [], f"{started} outlived the SIGKILLed harness by 10 s"
    finally:
        harness.kill()
        kill_all(started)


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "isolated"])
def test_a_hanging_exec_program_and_its_children_are_killed_and_its_directory_removed(tmp_path, monkeypatch,
                                                                                       isolated):
    marker = tmp_path / "pids"
    target = hanging_program(tmp_path, marker)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    if isolated:
        ex = SubprocessExecutor(target, timeout_seconds=1.5)
    else:
        monkeypatch.setenv("LSTM_CONFORMANCE_EXEC_TIMEOUT", "1.5")
        from conformance.candidates import InProcessExecutor, resolve

        ex = InProcessExecutor(resolve(target))
    try:
        with pytest.raises(CandidateFault) as info:
            ex.run(make_case())
        assert info.value.kind == "hang", info.value.message
        pids = read_pids(marker)
        assert len(pids) == 2, pids
        assert wait_gone(pids, 5) == [], f"the hanging program or its child {pids} survived the timeout"
        left = [p.name for p in scratch.rglob("lstm-conformance-exec-*")]
        assert left == [], f"temporary directories left behind: {left}"
    finally:
        ex.close()


def test_what_a_candidate_spawns_does_not_outlive_the_run(tmp_path, monkeypatch):
    marker = tmp_path / "children"
    monkeypatch.setenv("LSTM_CONFORMANCE_TEST_MARKER", str(marker))
    ex = SubprocessExecutor(fc.target("spawns_child"))
    try:
        ex.run(make_case())
        ex.run(make_case(batch=2))
    finally:
        ex.close()
    pids = read_pids(marker)
    assert len(pids) == 4, pids
    assert wait_gone(pids, 5) == [], f"the candidate's children {pids} outlived the run"


def test_check_workers_die_with_a_sigkilled_harness(tmp_path):
    harness = subprocess.Popen(
        [sys.executable, "-m", "conformance", "check", fc.target("slow_correct"), "--workers", "2", "--isolate",
         "--max-examples", "100000", "--report-dir", str(tmp_path), "-q"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    started: set[int] = set()
    try:
        def isolated_workers() -> set[int]:
            procs = descendants(harness.pid)
            found = {p for p in procs if b"conformance.candidates._worker" in cmdline(p)}
            return procs if len(found) >= 2 else set()

        started = wait_for(isolated_workers, 90, "two isolated workers under two --workers processes")
        time.sleep(0.5)
        started = descendants(harness.pid) | started
        harness.kill()
        harness.wait()
        assert wait_gone(sorted(started), 10) == [], f"{started} outlived the SIGKILLed `check --workers 2`"
    finally:
        if harness.poll() is None:
            harness.kill()
        kill_all(started)
