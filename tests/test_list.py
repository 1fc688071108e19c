"""``lstm-conformance list``: every candidate, available or not and why, without importing a framework."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conformance.cli import main
from conformance.candidates import BUILTINS, Builtin
from tests.helpers import run_cli
from conformance.candidates.adapters._torch import TORCH_LSTM_FEATURES as TORCH_FEATURES  # torch itself is imported lazily

HEAVY = ("tensorflow", "torch", "jax", "keras", "onnxruntime", "flax")


def test_list_prints_one_line_per_builtin(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names[: len(BUILTINS)] == list(BUILTINS), f"list order/names: {names}"
    for line in lines:
        status = line.split()[1]
        assert status in ("available", "unavailable"), f"line without a status: {line!r}"


def test_list_json_has_the_documented_fields(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for row in rows:
        missing = {"name", "available", "features", "dtypes", "reason"} - set(row)
        assert not missing, f"row {row.get('name')!r} lacks {missing}"
        assert isinstance(row["available"], bool), f"{row['name']}: available={row['available']!r}"
        assert row["dtypes"], f"{row['name']}: no dtypes listed"
        assert row["available"] == (row["reason"] == ""), f"{row['name']}: available with a reason, or vice versa"
    torch_row = next(r for r in rows if r["name"] == "torch-lstm")
    assert torch_row["features"] == TORCH_FEATURES, torch_row


def test_a_missing_package_is_reported_without_importing(capsys, monkeypatch):
    fake = Builtin("conformance.candidates.adapters._torch:torch_lstm", ("torch", "no_such_package_xyz"), "fake")
    monkeypatch.setitem(BUILTINS, "needs-a-missing-package", fake)
    assert main(["list", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "needs-a-missing-package")
    assert row["available"] is False, row
    assert "no_such_package_xyz" in row["reason"] and "not installed" in row["reason"], row["reason"]
    # What it would declare is still shown: adapter modules import their framework only when called.
    assert row["features"] == TORCH_FEATURES, row
    assert main(["list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("needs-a-missing-package"))
    assert "unavailable" in line and "no_such_package_xyz" in line, line


def test_checking_an_unavailable_builtin_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(BUILTINS, "needs-a-missing-package",
                        Builtin("conformance.candidates._numpy:numpy_reference", ("no_such_package_xyz",)))
    assert main(["check", "needs-a-missing-package", "--max-examples", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_package_xyz" in err[0], f"stderr: {err}"


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["list", "--json"], ["matrix", "--help"]])
def test_help_and_list_import_no_framework(argv):
    code = (
        "import sys\n"
        "from conformance.cli._main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in proc.stdout, f"{argv} imported {proc.stdout.splitlines()[-1:]} {proc.stderr[-500:]}"


def test_list_through_the_console_script():
    proc = run_cli("list", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "numpy-reference" in proc.stdout and "tf-blocklstm" in proc.stdout, proc.stdout
