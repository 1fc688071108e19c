"""The pytest plugin: ``pytest --lstm-candidate=TARGET`` collects conformance tests; xdist and JUnit work natively."""

from __future__ import annotations

import importlib.metadata
import json
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


# --- issue 18 item 5: forced features, saved cases, re-runnable node ids, junit credit ----------------------
PORTS = textwrap.dedent('''
    import dataclasses
    import json
    import os

    from conformance import candidate
    from conformance.candidates import resolve

    _ref = resolve("numpy-reference").fn
    CELL = ["forget_bias", "initial_state", "peepholes", "cell_clip", "projection", "proj_clip", "activation"]


    @candidate(features=CELL, dtypes=["float32"])
    def clip_bug(case):
        """Clips the cell state at twice the configured bound."""
        cfg = case.config
        if cfg.cell_clip is not None:
            case = dataclasses.replace(case, config=cfg.replace(cell_clip=cfg.cell_clip * 2))
        return _ref(case)


    @candidate(features=CELL, dtypes=["float32"])
    def recorder(case):
        """numpy-reference, logging the features of every case it is handed."""
        with open(os.environ["FEATURE_LOG"], "a") as fh:
            fh.write(json.dumps(sorted(case.features())) + "\\n")
        return _ref(case)
''')


def _ports(tmp_path: Path) -> Path:
    project = _project(tmp_path)
    (project / "ports.py").write_text(PORTS)
    return project


def _pytest_env(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def test_a_cell_clip_bug_fails_only_the_cell_clip_test_and_saves_its_case(tmp_path):
    project = _ports(tmp_path)
    proc = _pytest_env(project, "--lstm-candidate=ports.py:clip_bug", "--lstm-max-examples=25",
                       "--hypothesis-seed=0", "-p", "no:randomly", "-rA")
    out = proc.stdout
    assert proc.returncode == 1, f"exit {proc.returncode}:\n{out[-4000:]}\n{proc.stderr[-2000:]}"
    failed = sorted(line.split()[1] for line in out.splitlines() if line.startswith("FAILED "))
    node = "lstm-conformance[ports.py:clip_bug]::cell_clip[float32]"
    assert failed == [node], f"failed tests: {failed}\n{out[-4000:]}"
    assert "7 passed" in out, out[-1500:]  # baseline and the six other features
    saved = project / ".pytest_cache" / "d" / "lstm-conformance" / "ports.py_clip_bug--cell_clip_float32.npz"
    assert saved.is_file(), f"no saved case at {saved}: {sorted(p.name for p in saved.parent.glob('*'))}"
    assert f"replay: lstm-conformance repro {saved} {project / 'ports.py'}:clip_bug" in out, out[-4000:]
    assert f"rerun: pytest '{node}'" in out, out[-4000:]

    # The node id as printed runs that one test again (pytest alone would take it for a path).
    again = _pytest_env(project, node, "--lstm-max-examples=25", "--hypothesis-seed=0", "-v")
    assert again.returncode == 1 and "1 failed" in again.stdout, again.stdout[-3000:] + again.stderr[-2000:]
    assert f"{node} FAILED" in again.stdout, again.stdout[-3000:]


def test_a_pasted_node_id_selects_its_test_and_every_case_forces_its_feature(tmp_path):
    project = _ports(tmp_path)
    log = tmp_path / "features.log"
    node = "lstm-conformance[ports.py:recorder]::proj_clip[float32]"
    proc = _pytest_env(project, node, "--lstm-max-examples=3", "-p", "no:cacheprovider", "-v",
                       env={"FEATURE_LOG": str(log)})
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{node} PASSED" in proc.stdout, proc.stdout[-3000:]
    seen = [set(json.loads(line)) for line in log.read_text().splitlines()]
    assert len(seen) >= 3, f"{len(seen)} cases"
    assert all(features == {"projection", "proj_clip"} for features in seen), \
        f"a proj_clip test drew cases without proj_clip, or with another feature: {[sorted(f) for f in seen[:20]]}"
    # A collector's id selects all of its tests.
    listed = _pytest_env(project, "lstm-conformance[numpy-reference]", "--lstm-dtype=float32", "--co", "-q",
                         "-p", "no:cacheprovider")
    ids = [line for line in listed.stdout.splitlines() if line.startswith("lstm-conformance[")]
    assert len(ids) == 12 and all(i.startswith("lstm-conformance[numpy-reference]::") for i in ids), listed.stdout


def test_junit_charges_the_features_a_complete_diagnosis_needs(tmp_path):
    """check's junit.xml: a failure fails the feature cases of its minimized case, narrowed by a diagnosis that
    explains every case to the features its variant needs (a cell-clip bug is no forget_bias failure)."""
    from conformance import CheckOptions, check
    from conformance.report import build_report
    from conformance.report._junit import render_junit
    from tests import wrong_impls as W

    clip_ignored = W.as_candidate(W.CellClipIgnored, "cell-clip-ignored", dtypes=("float32",))
    result = check(clip_ignored, CheckOptions(max_examples=30, seed=0, features=["cell_clip", "forget_bias",
                                                                               "initial_state"]))
    assert result.verdict == "nonconformant" and result.counterexample is not None, str(result)
    report = build_report(result)
    cx = report["counterexample"]
    best = cx["diagnosis"][0]
    assert best["variant"] == "cell_clip_ignored" and best["explained_cases"] == best["tried_cases"], best

    def failing(rep: dict) -> set[str]:
        cases = _junit_cases(render_junit(rep))
        return {name for name, tc in cases.items() if tc.find("failure") is not None and name.startswith("feature:")}

    assert failing(report) == {"feature:cell_clip"}, failing(report)
    cx["features"] = sorted(set(cx["features"]) | {"forget_bias", "initial_state"})  # a case that needed them
    assert failing(report) == {"feature:cell_clip"}, failing(report)
    cx["diagnosis"] = [dict(best, explained_cases=best["tried_cases"] - 1)]  # no longer a complete explanation
    assert failing(report) == {f"feature:{f}" for f in cx["features"]}, failing(report)
    cx["diagnosis"] = []
    assert failing(report) == {f"feature:{f}" for f in cx["features"]}, failing(report)


def _junit_cases(xml_text: str) -> dict[str, ET.Element]:
    return {tc.get("name"): tc for tc in ET.fromstring(xml_text).iter("testcase")}
