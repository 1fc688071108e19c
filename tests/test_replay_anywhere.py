"""Replay from anywhere: the printed replay command carries absolute paths and what the target needs.

A user's own port (``my_port:lstm``, imported from the directory the run started in) fails;
the replay command ``check`` prints must work, pasted as printed, from another directory.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.report import replay_context, repro_command

#: A plain numpy LSTMCell with the classic bug: forget_bias (TF's default 1.0) never added.
MY_PORT = textwrap.dedent('''
    import numpy as np
    from conformance import candidate


    def _sigmoid(v):
        return 1.0 / (1.0 + np.exp(-v))


    @candidate(features=[], dtypes=["float32"])
    def lstm(case):
        p = case.params
        x = case.inputs.astype(np.float64)
        c = case.initial_state.c.astype(np.float64)
        h = case.initial_state.h.astype(np.float64)
        outs = []
        for t in range(x.shape[1]):
            z = np.concatenate([x[:, t], h], axis=1) @ p.kernel.astype(np.float64) + p.bias.astype(np.float64)
            i, j, f, o = np.split(z, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(j)
            h = _sigmoid(o) * np.tanh(c)
            outs.append(h)
        return np.stack(outs, 1).astype(np.float32), (c.astype(np.float32), h.astype(np.float32))
''')


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # The user's shell: the harness importable (as installed), nothing of the project's directory on the path.
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def _replay_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("replay: ")]
    assert lines, f"no replay line printed:\n{out}"
    return lines[0][len("replay: "):]


@pytest.fixture
def project(tmp_path) -> Path:
    """A user's directory holding the port, and a report directory given relative to it."""
    d = tmp_path / "project"
    d.mkdir()
    (d / "my_port.py").write_text(MY_PORT)
    return d


def test_replay_command_printed_by_check_works_from_another_directory(project, tmp_path):
    proc = _cli("check", "my_port:lstm", "--max-examples", "64", "--seed", "3", "--report-dir", "reports",
                "--format", "json", "--quiet", "--no-diagnose", cwd=project)
    assert proc.returncode == 1, f"exit {proc.returncode}, expected 1:\n{proc.stdout}\n{proc.stderr}"
    command = _replay_line(proc.stdout)
    words = shlex.split(command)
    npz = str(project / "reports" / "counterexample.npz")
    assert words[:4] == ["lstm-conformance", "repro", npz, "my_port:lstm"], command
    assert words[4:] == ["--path", str(project)], f"the import path of my_port is not in the command: {command}"
    recorded = json.loads((project / "reports" / "counterexample.json").read_text())
    assert recorded["replay"] == {"import_path": str(project)}, recorded.get("replay")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    replay = _cli(*words[1:], cwd=elsewhere)  # exactly as printed, minus the console-script name
    assert replay.returncode == 1, f"replay from {elsewhere} exit {replay.returncode}:\n{replay.stdout}\n{replay.stderr}"
    assert "verdict: NONCONFORMANT" in replay.stdout, replay.stdout

    # Without the recorded import path, the same command fails there: the test can tell.
    bare = _cli("repro", npz, "my_port:lstm", cwd=elsewhere)
    assert bare.returncode == 2 and "cannot import module 'my_port'" in bare.stderr, bare.stderr

    # The recorded target and its import path are used when no TARGET is given (with --run-recorded).
    recorded_run = _cli("repro", npz, "--run-recorded", cwd=elsewhere)
    assert recorded_run.returncode == 1, f"exit {recorded_run.returncode}:\n{recorded_run.stderr}"


def test_file_and_exec_targets_get_absolute_paths_and_a_working_directory(project, monkeypatch):
    monkeypatch.chdir(project)
    command = shlex.split(repro_command("reports/c.npz", "my_port.py:lstm"))
    assert command[2:] == [str(project / "reports" / "c.npz"), f"{project / 'my_port.py'}:lstm"], command
    command = shlex.split(repro_command("c.npz", "exec:./a.out --fast"))
    assert command[3:] == ["exec:./a.out --fast", "--cwd", str(project)], command


def test_named_and_installed_targets_need_nothing(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert replay_context("numpy-reference") == {}
    import json as stdlib_module  # imported from the stdlib: every interpreter finds it

    assert stdlib_module is not None
    assert replay_context("json:loads") == {}
    assert os.path.isabs(shlex.split(repro_command("c.npz", "numpy-reference"))[2])


def test_repro_path_and_cwd_must_be_directories(tmp_path, capsys):
    from conformance.cli import main
    from tests.test_repro import forget_bias_case

    case = tmp_path / "c.npz"
    forget_bias_case().save_npz(case)
    for flag in ("--path", "--cwd"):
        code = main(["repro", str(case), "numpy-reference", flag, str(tmp_path / "nope")])
        err = capsys.readouterr().err
        assert code == 2 and f"{flag} " in err and "nope" in err and "not a directory" in err, err
