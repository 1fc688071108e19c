"""``lstm-conformance repro FILE [TARGET]``: both results, error per step, verdict; exit 0/1/2."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conformance import Case, InitialState, LSTMConfig, LSTMParams
from conformance.cli import main
from conformance.report import repro_command
from tests.helpers import run_cli


def forget_bias_case() -> Case:
    """The minimal "forget_bias never added" case: T=2, B=I=H=1, only bias[1] (gate j) non-zero."""
    cfg = LSTMConfig(num_units=1, input_size=1)
    bias = np.zeros(4, np.float32)
    bias[1] = -1.0
    params = LSTMParams(kernel=np.zeros((2, 4), np.float32), bias=bias)
    return Case(cfg, params, np.zeros((1, 2, 1), np.float32),
                InitialState(np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32))).validate()


@pytest.fixture
def saved_case(tmp_path) -> Path:
    """A case .npz with the .json check writes beside it (recording the target)."""
    path = tmp_path / "counterexample.npz"
    forget_bias_case().save_npz(path)
    meta = {"kind": "mismatch", "message": "outputs[0, 1, 0] (time step 1): recorded", "target": "seed-missing-forget-bias",
            "repro_command": repro_command(str(path), "seed-missing-forget-bias")}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def test_reproduces_the_failure_with_the_recorded_target(saved_case):
    proc = run_cli("repro", str(saved_case))
    assert proc.returncode == 1, f"exit {proc.returncode}, expected 1 (nonconformant):\n{proc.stdout}\n{proc.stderr}"
    out = proc.stdout
    for expected in ("oracle (TF LSTMCell):", "candidate (seed-missing-forget-bias):", "error per time step",
                     "bias[1] = -1", "final c: max |err|", "recorded when saved",
                     "verdict: NONCONFORMANT (mismatch: outputs[0, 1, 0] (time step 1)"):
        assert expected in out, f"repro output lacks {expected!r}:\n{out}"
    step_lines = {int(l.split()[0]): l for l in out.splitlines()
                  if l.strip() and l.split()[0].isdigit() and "outputs[" in l}
    assert sorted(step_lines) == [0, 1], f"one row per time step expected, got {sorted(step_lines)}"
    assert "first divergence" in step_lines[1] and "first divergence" not in step_lines[0], step_lines
    # Step 0 agrees: forget_bias does not matter while c_0 = 0.
    assert float(step_lines[0].split()[1]) == 0.0, f"step 0 error should be 0: {step_lines[0]}"


# In-process from here on (the CLI's main, TensorFlow imported once per test process); the test above
# covers the console script end to end.

def test_conformant_candidate_exits_0(saved_case, capsys):
    code = main(["repro", str(saved_case), "numpy-reference"])
    out = capsys.readouterr().out
    assert code == 0, f"numpy-reference on the case: exit {code}\n{out}"
    assert "verdict: CONFORMANT on this case" in out, out[-500:]


def test_raising_candidate_is_a_finding_not_a_crash(saved_case, tmp_path, monkeypatch, capsys):
    (tmp_path / "repro_boom_mod.py").write_text("def boom(case):\n    raise RuntimeError('kaput')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code = main(["repro", str(saved_case), "repro_boom_mod:boom"])
    out = capsys.readouterr().out
    assert code == 1, f"a raising candidate is nonconformant (exit 1), got {code}\n{out}"
    assert "no result (exception: RuntimeError: kaput" in out, out[-600:]


def _truncated(tmp_path: Path, good: Path) -> Path:
    p = tmp_path / "truncated.npz"
    data = good.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _garbage(tmp_path: Path, good: Path) -> Path:
    p = tmp_path / "garbage.npz"
    p.write_bytes(b"\x00not a zip at all" * 10)
    return p


def _missing_kernel(tmp_path: Path, good: Path) -> Path:
    p = tmp_path / "nokernel.npz"
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k != "kernel"}
    np.savez(p, **arrays)
    return p


def _pickled(tmp_path: Path, good: Path) -> Path:
    p = tmp_path / "pickled.npz"
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["inputs"] = np.array([{"evil": 1}], dtype=object)  # needs pickle to load: must be refused
    np.savez(p, **arrays)
    return p


def _corrupt_member(tmp_path: Path, good: Path) -> Path:
    p = tmp_path / "badmember.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(p, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            zout.writestr(item, data[:20] if item.filename == "bias.npy" else data)
    return p


@pytest.mark.parametrize("make", [_truncated, _garbage, _missing_kernel, _pickled, _corrupt_member],
                         ids=lambda f: f.__name__.strip("_"))
def test_unreadable_case_file_is_one_line_exit_2(saved_case, tmp_path, make):
    bad = make(tmp_path, saved_case)
    proc = run_cli("repro", str(bad), "seed-missing-forget-bias", timeout=120)
    err = proc.stderr.strip()
    assert proc.returncode == 2, f"{bad.name}: exit {proc.returncode}, expected 2\n{proc.stdout}\n{err}"
    assert len(err.splitlines()) == 1 and bad.name in err, f"{bad.name}: want one line naming the file, got {err!r}"
    assert not proc.stdout.strip(), f"{bad.name}: nothing should be printed on stdout, got {proc.stdout[:300]!r}"


def test_missing_file_and_unknown_target_are_exit_2(saved_case, tmp_path):
    proc = run_cli("repro", str(tmp_path / "nope.npz"), "seed-missing-forget-bias", timeout=120)
    assert proc.returncode == 2 and "nope.npz" in proc.stderr, f"missing file: {proc.returncode} {proc.stderr!r}"
    lone = tmp_path / "lone.npz"
    forget_bias_case().save_npz(lone)  # no .json beside it: no recorded target
    proc = run_cli("repro", str(lone), timeout=120)
    assert proc.returncode == 2 and "no TARGET given" in proc.stderr, f"no target: {proc.returncode} {proc.stderr!r}"
    proc = run_cli("repro", str(saved_case), "no-such-candidate", timeout=120)
    assert proc.returncode == 2 and "no-such-candidate" in proc.stderr, f"bad target: {proc.returncode} {proc.stderr!r}"


def test_a_recorded_command_is_never_run_unless_asked(saved_case, tmp_path, capsys):
    """A shared counterexample's .json must not run code: exec:/module/file targets need the user's word."""
    marker = tmp_path / "ran"
    meta = json.loads(saved_case.with_suffix(".json").read_text())
    meta["target"] = f"exec:touch {marker}"
    saved_case.with_suffix(".json").write_text(json.dumps(meta))
    code = main(["repro", str(saved_case)])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists(), f"exit {code}, marker created: {marker.exists()}; stderr {err!r}"
    assert "--run-recorded" in err and "exec:touch" in err and len(err.strip().splitlines()) == 1, err
    proc = run_cli("repro", str(saved_case), "--run-recorded", timeout=120)
    assert marker.exists(), f"--run-recorded did not run the recorded target:\n{proc.stdout}\n{proc.stderr}"
