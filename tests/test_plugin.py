"""Plugins: a third-party package registering candidates in group ``lstm_conformance.candidates``.

The example package in tests/plugin_pkg is pip-installed (``--target`` a temporary
directory, put on PYTHONPATH) and then driven through the real CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import run_cli

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(os.path.join(HERE, "plugin_pkg"), source)  # keep build leftovers out of the tree
    target = work / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip install of the example plugin failed: {proc.stderr[-2000:]}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    return env


def test_plugin_is_listed(plugin_env):
    proc = run_cli("list", "--json", env=plugin_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    import json

    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    for name in ("example-plugin-lstm", "example-plugin-no-forget-bias"):
        assert name in rows, f"{name} not listed; names: {sorted(rows)}"
        assert rows[name]["available"], rows[name]
    assert rows["example-plugin-lstm"]["features"] == ["forget_bias", "initial_state"], rows["example-plugin-lstm"]
    assert rows["example-plugin-lstm"]["dtypes"] == ["float32", "float64"], rows["example-plugin-lstm"]


def test_plugin_candidates_are_checked_by_name(plugin_env, tmp_path):
    good = run_cli("check", "example-plugin-lstm", "--max-examples", "15", "--seed", "2", "--no-long", "-q",
                   "--report-dir", str(tmp_path / "good"), env=plugin_env)
    assert good.returncode == 0, f"correct plugin: exit {good.returncode}\n{good.stdout[-2000:]}{good.stderr[-2000:]}"
    bad = run_cli("check", "example-plugin-no-forget-bias", "--max-examples", "40", "--seed", "2", "--no-long", "-q",
                  "--report-dir", str(tmp_path / "bad"), env=plugin_env)
    assert bad.returncode == 1, f"buggy plugin: exit {bad.returncode}\n{bad.stdout[-2000:]}{bad.stderr[-2000:]}"
    assert "NONCONFORMANT" in bad.stdout and (tmp_path / "bad" / "counterexample.npz").exists(), bad.stdout
