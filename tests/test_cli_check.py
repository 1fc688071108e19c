"""``lstm-conformance check`` end to end, in fresh interpreters, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import Case
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


def load_report(directory: Path) -> dict:
    return json.loads((directory / "report.json").read_text())


@pytest.mark.parametrize("generation", ["seeded", "choices"])
def test_seed_missing_forget_bias_is_caught_and_minimized(tmp_path, generation):
    proc = run_cli("check", "seed-missing-forget-bias", "--seed", "0", "--report-dir", str(tmp_path), "-q",
                   "--generation", generation)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = load_report(tmp_path)
    cx = report["counterexample"]
    assert report["verdict"] == "nonconformant" and report["candidate"]["name"] == "seed-missing-forget-bias"
    assert report["oracle"]["tensorflow"], report["oracle"]
    shape = (cx["batch"], cx["input_size"], cx["num_units"])
    assert shape == (1, 1, 1), f"minimized (batch, input_size, num_units) = {shape}, expected (1, 1, 1)"
    assert cx["time"] <= 2, f"minimized time {cx['time']} > 2"
    assert cx["nonzero_values"] <= 3, f"{cx['nonzero_values']} non-zero numbers: {cx['values']}"
    assert cx["first_divergent_step"] == 1, cx["first_divergent_step"]
    assert cx["max_abs_error"] > 0.01, cx["max_abs_error"]
    case = Case.load_npz(cx["repro"])
    assert case.nonzero_values() == cx["nonzero_values"]
    out = proc.stdout
    assert "NONCONFORMANT" in out and "minimized counterexample" in out, out
    assert "replay: lstm-conformance repro" in out and "first divergence" in out, out
    for entry in cx["values"]:
        assert f"{entry['array']}[{', '.join(map(str, entry['index']))}]" in out, f"{entry} not printed:\n{out}"
    assert "Traceback" not in proc.stderr


def test_repro_replays_the_saved_case(tmp_path):
    run_cli("check", "seed-missing-forget-bias", "--seed", "0", "--report-dir", str(tmp_path), "-q")
    proc = run_cli("repro", str(tmp_path / "counterexample.npz"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "NONCONFORMANT" in proc.stdout and "oracle" in proc.stdout, proc.stdout
    proc = run_cli("repro", str(tmp_path / "counterexample.npz"), "numpy-reference")
    assert proc.returncode == 0 and "verdict: CONFORMANT" in proc.stdout, proc.stdout + proc.stderr


def test_numpy_reference_is_conformant(tmp_path):
    proc = run_cli("check", "numpy-reference", "--max-examples", "40", "--seed", "3", "--report-dir", str(tmp_path), "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = load_report(tmp_path)
    assert report["verdict"] == "conformant" and report["counterexample"] is None
    assert report["examples"] >= 40, report["examples"]
    assert set(report["coverage"]["dtypes"]) == {"float16", "bfloat16", "float32", "float64"}


@pytest.mark.slow
def test_numpy_reference_300_examples_full_option_space(tmp_path):
    proc = run_cli("check", "numpy-reference", "--max-examples", "300", "--report-dir", str(tmp_path), "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    example = next(b for b in blocks if "def my_lstm" in b)
    return example


def test_readme_example_plugs_in_by_module_attr(tmp_path):
    (tmp_path / "my_lstm.py").write_text(readme_example())
    proc = run_cli("check", "my_lstm:my_lstm", "--max-examples", "30", "--seed", "1", "--report-dir",
                   str(tmp_path / "r"), "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = load_report(tmp_path / "r")
    assert report["coverage"]["features"] == ["forget_bias", "initial_state"], report["coverage"]


@pytest.mark.parametrize(
    "target, message",
    [
        ("not_a_module_at_all:fn", "cannot import module 'not_a_module_at_all'"),
        ("tests.user_candidates.misc:NOT_CALLABLE", "not a candidate"),
        ("nope", "unknown candidate 'nope'"),
    ],
)
def test_unloadable_targets_exit_2_in_one_line(tmp_path, target, message):
    proc = run_cli("check", target, "--report-dir", str(tmp_path), cwd=ROOT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-examples", "0"], "--max-examples: '0' must be >= 1"),
        (["--dtype", "int8"], "--dtype 'int8'"),
        (["--feature", "wings"], "--feature 'wings'"),
        (["--tolerance", "float16=abc"], "'abc' is not a number"),
        (["--seed", "x"], "--seed: invalid int value: 'x'"),
    ],
)
def test_bad_options_exit_2_naming_the_value(tmp_path, args, message):
    proc = run_cli("check", "numpy-reference", "--report-dir", str(tmp_path), *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize(
    "attr, kind, message",
    [
        ("raises", "exception", "ValueError: cannot handle time=2"),
        ("wrong_shape", "wrong_shape", "outputs has shape"),
        ("wrong_dtype", "wrong_dtype", "expected float32"),
        ("returns_garbage", "wrong_shape", "expected a tuple (outputs, (c, h))"),
    ],
)
def test_misbehaving_candidates_are_nonconformant_with_a_one_line_cause(tmp_path, attr, kind, message):
    proc = run_cli("check", f"tests.user_candidates.misc:{attr}", "--seed", "0", "--max-examples", "30",
                   "--report-dir", str(tmp_path), "-q", cwd=ROOT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    cx = load_report(tmp_path)["counterexample"]
    assert cx["kind"] == kind and message in cx["message"], cx["message"]
    assert "\n" not in cx["message"] and "Traceback" not in proc.stdout + proc.stderr
    if attr == "raises":
        assert cx["time"] == 2 and (cx["batch"], cx["num_units"], cx["input_size"]) == (1, 1, 1), cx


def test_verbose_shows_the_candidates_traceback(tmp_path):
    proc = run_cli("check", "tests.user_candidates.misc:raises", "--seed", "0", "--max-examples", "20",
                   "--report-dir", str(tmp_path), "-q", "--verbose", cwd=ROOT)
    assert proc.returncode == 1 and "Traceback" in proc.stdout, proc.stdout


def test_help_and_numpy_candidates_do_not_import_frameworks():
    code = (
        "import sys, contextlib, io\n"
        "from conformance.cli._main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['check', '--help'])\n"
        "    except SystemExit: pass\n"
        "import conformance, strategies\n"
        "from conformance import resolve, reference\n"
        "from tests.test_spec import small_case\n"
        "case = small_case()\n"
        "resolve('numpy-reference').fn(case); resolve('seed-missing-forget-bias').fn(case)\n"
        "heavy = [m for m in ('tensorflow', 'torch', 'jax', 'keras', 'tf_keras') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"imported: {proc.stdout}"


def test_report_dir_that_cannot_be_written_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("check", "numpy-reference", "--report-dir", str(blocker / "sub"))
    assert proc.returncode == 2 and "--report-dir" in proc.stderr, proc.stderr


FIRST_CALL_PROBE = '''
import json, os
from conformance.candidates import candidate, resolve
from conformance.oracle import _preload, _tf

reference = resolve("numpy-reference")


@candidate(features=sorted(reference.info.features), dtypes=sorted(reference.info.dtypes))
def port(case):
    out = os.environ["PROBE_OUT"]
    if not os.path.exists(out):
        with open(out, "w") as f:
            json.dump({"tf_imported": _tf.tf_imported(), "importing": _preload.preloading()}, f)
    return reference.fn(case)
'''


def test_tensorflow_imports_in_the_background_while_the_candidate_starts(tmp_path):
    """The first candidate call does not wait for TF's ~4 s import (conformance/oracle/_preload.py), the
    verdict is the usual one, and TF's C++ start-up chatter stays off stderr while the run's own lines pass."""
    (tmp_path / "probe_port.py").write_text(FIRST_CALL_PROBE)
    out = tmp_path / "first.json"
    env = {**os.environ, "PROBE_OUT": str(out)}
    proc = run_cli("check", "probe_port.py:port", "--max-examples", "32", "--seed", "1", "--report-dir",
                   str(tmp_path / "r"), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = json.loads(out.read_text())
    assert first == {"tf_imported": False, "importing": True}, (
        f"at the candidate's first call TensorFlow should be importing in the background: {first}")
    assert "CONFORMANT" in proc.stdout, proc.stdout
    chatter = [line for line in proc.stderr.splitlines()
               if "absl::InitializeLog" in line or re.match(r"^[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\]", line)]
    assert not chatter, f"TF's import chatter reached stderr: {chatter}"
