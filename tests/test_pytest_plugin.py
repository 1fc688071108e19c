"""The pytest plugin: ``pytest --lstm-candidate=TARGET`` collects conformance tests; xdist and JUnit work natively."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = textwrap.dedent("""
    from hypothesis import settings
    settings.register_profile("tiny", max_examples=3, database=None)
""")


def _project(tmp_path: Path) -> Path:
    """A user's project: no tests of its own, one Hypothesis profile."""
    (tmp_path / "conftest.py").write_text(CONFTEST)
    return tmp_path


def _pytest(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_registered_as_pytest11_entry_point():
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert "conformance.pytest_plugin" in declared.values(), f"pyproject pytest11 entry points: {declared}"
    installed = {ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert "conformance.pytest_plugin" in installed, \
        f"installed pytest11 entry points {sorted(installed)}: reinstall the package (pip install -e .)"


def test_collection_is_tensorflow_free(tmp_path):
    """Loading the plugin and collecting its tests must not import TensorFlow."""
    script = textwrap.dedent("""
        import sys, pytest
        rc = pytest.main(["--co", "-q", "-p", "no:cacheprovider", "--lstm-candidate=numpy-reference",
                          "--lstm-dtype=float32"])
        print("RC", int(rc))
        print("TF", "tensorflow" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=_project(tmp_path), capture_output=True, text=True,
                          timeout=300)
    lines = proc.stdout.splitlines()
    assert "RC 0" in lines, f"collection failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "TF False" in lines, f"collecting imported TensorFlow:\n{proc.stdout[-2000:]}"
    ids = [line for line in lines if line.startswith("lstm-conformance[")]
    expected = [f"lstm-conformance[numpy-reference]::{g}[float32]" for g in
                ("baseline", "forget_bias", "initial_state", "peepholes", "cell_clip", "projection", "proj_clip",
                 "activation", "sequence_length", "time_major", "stacked", "bidirectional")]
    assert ids == expected, f"collected:\n{ids}\nexpected:\n{expected}"


def test_inert_without_the_option(tmp_path):
    proc = _pytest(_project(tmp_path), "--co", "-q")
    assert "lstm-conformance[" not in proc.stdout, f"tests collected without --lstm-candidate:\n{proc.stdout}"


def test_bad_options_are_usage_errors(tmp_path):
    proc = _pytest(_project(tmp_path), "--co", "-q", "--lstm-candidate=numpy-reference", "--lstm-dtype=float8")
    assert proc.returncode == 4, f"exit {proc.returncode}, expected pytest's usage error 4:\n{proc.stderr[-1000:]}"
    assert "float8" in proc.stderr, f"the error should name 'float8':\n{proc.stderr[-1000:]}"
    proc = _pytest(_project(tmp_path), "--co", "-q", "--lstm-candidate=no-such-candidate-xyz")
    assert proc.returncode == 4 and "no-such-candidate-xyz" in proc.stderr, \
        f"exit {proc.returncode}; stderr:\n{proc.stderr[-1000:]}"


def test_xdist_junit_and_hypothesis_options(tmp_path):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    junit = tmp_path / "junit.xml"
    proc = _pytest(_project(tmp_path), "-n", "2", "--lstm-candidate=numpy-reference",
                   "--lstm-candidate=seed-missing-forget-bias", "--lstm-dtype=float32", "--lstm-feature=baseline",
                   "--hypothesis-profile=tiny", "--hypothesis-seed=0", f"--junitxml={junit}")
    assert proc.returncode == 1, f"exit {proc.returncode}, expected 1 (one failing test):\n{proc.stdout[-3000:]}"
    assert "1 failed, 1 passed" in proc.stdout, f"summary:\n{proc.stdout[-1500:]}"
    assert "gw0" in proc.stdout or "gw1" in proc.stdout, f"xdist workers did not run the tests:\n{proc.stdout[-1500:]}"
    cases = {tc.get("classname") + "::" + tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    ok = "lstm-conformance[numpy-reference]::baseline[float32]"
    bad = "lstm-conformance[seed-missing-forget-bias]::baseline[float32]"
    assert set(cases) == {ok, bad}, f"junit test cases: {sorted(cases)}"
    assert cases[ok].find("failure") is None, f"{ok} failed in junit: {ET.tostring(cases[ok])[:500]!r}"
    failure = cases[bad].find("failure")
    assert failure is not None, f"{bad} has no <failure> in junit"
    text = (failure.get("message") or "") + (failure.text or "")
    for needle in ("NONCONFORMANT", "minimized counterexample", "mismatch"):
        assert needle in text, f"junit failure text lacks {needle!r}:\n{text[:1500]}"
    examples = [p.get("value") for p in cases[ok].iter("property") if p.get("name") == "examples"]
    assert examples and 1 <= int(examples[0]) <= 10, \
        f"the 'tiny' profile (max_examples=3) should bound a passing test's examples, recorded {examples}"
