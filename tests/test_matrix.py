"""The conformance matrix: every column really forces its behaviour; cells, files and exit status."""

from __future__ import annotations

import dataclasses

import json

import numpy as np
import pytest
from hypothesis import given, settings

from conformance.campaign._matrix import (
    COLUMNS,
    LONG_MIN_TIME,
    SATURATING_SCALES,
    MatrixSettings,
    column_options,
    run_matrix,
    unsupported_reason,
)
from conformance.run import cases_for
from conformance.spec import Case
from conformance.candidates import resolve
from tests.helpers import run_cli

EVERYTHING = resolve("numpy-reference").info  # declares every feature and dtype


def _exercises(column, case: Case) -> str | None:
    """Why ``case`` does not exercise ``column`` (None when it does)."""
    if column.feature and column.feature not in case.features():
        return f"feature {column.feature} not used (case uses {sorted(case.features())})"
    if column.feature is None and case.features():
        return f"baseline-only column drew features {sorted(case.features())}"
    if column.dtype and case.config.dtype != column.dtype:
        return f"dtype {case.config.dtype}"
    if column.long and case.time < LONG_MIN_TIME:
        return f"T={case.time} < {LONG_MIN_TIME}"
    if column.saturating and float(np.max(np.abs(case.params.kernel.astype(np.float64)))) < min(SATURATING_SCALES):
        return f"max |kernel| {np.max(np.abs(case.params.kernel.astype(np.float64)))} below the saturating scale"
    return None


@pytest.mark.parametrize("generation", ["seeded", "choices"])
@pytest.mark.parametrize("column", COLUMNS, ids=[c.id for c in COLUMNS])
def test_every_drawn_case_exercises_its_column(column, generation):
    options = dataclasses.replace(column_options(EVERYTHING, column, MatrixSettings()), generation=generation)
    strategy = cases_for(EVERYTHING, options)

    @settings(max_examples=25 if generation == "choices" else 4, database=None, deadline=None)
    @given(strategy)
    def body(batch):
        assert batch, f"column {column.id}: an empty batch of cases"
        for case in batch:
            why = _exercises(column, case)
            assert why is None, f"column {column.id} ({generation}): a drawn case does not exercise it: {why}"

    body()


def test_unsupported_cells_name_what_is_missing():
    info = resolve("seed-missing-forget-bias").info  # baseline only, every dtype
    reasons = {c.id: unsupported_reason(info, c) for c in COLUMNS}
    assert reasons["baseline"] is None and reasons["float16"] is None and reasons["long"] is None, reasons
    assert reasons["peepholes"] == "does not declare peepholes", reasons
    assert reasons["proj_clip"] == "does not declare projection, proj_clip", reasons


def test_matrix_cells_and_files(tmp_path, oracle):
    targets = [resolve("numpy-reference"), resolve("seed-missing-forget-bias")]
    settings_ = MatrixSettings(max_examples=8, seed=1, columns=("baseline", "forget_bias", "float64"),
                               minimize_seconds=10, diagnose_seconds=5, cell_seconds=60)
    matrix, interrupted = run_matrix(targets, settings_, str(tmp_path))
    assert interrupted is None
    data = json.loads((tmp_path / "matrix.json").read_text())
    cells = data["cells"]
    assert cells["numpy-reference"]["baseline"]["status"] == "conformant", cells["numpy-reference"]
    assert cells["numpy-reference"]["float64"]["status"] == "conformant", cells["numpy-reference"]
    assert cells["seed-missing-forget-bias"]["forget_bias"]["status"] == "unsupported", cells
    bad = cells["seed-missing-forget-bias"]["baseline"]
    assert bad["status"] == "nonconformant" and bad["kind"] == "mismatch", bad
    case = Case.load_npz(str(tmp_path / bad["case"]))
    assert case.time == 2 and case.nonzero_values() == 1, f"minimized case: T={case.time}, {case.nonzero_values()} values"
    assert data["summary"] == {"conformant": 3, "nonconformant": 2, "inconclusive": 0, "unsupported": 1,
                               "error": 0}, data["summary"]
    md = (tmp_path / "matrix.md").read_text()
    row = next(l for l in md.splitlines() if l.startswith("| `seed-missing-forget-bias`"))
    assert f"✗ [" in row and bad["case"] in row and "—" in row, row
    assert "## Findings" in md and bad["repro_command"] in md, md


def test_matrix_cli_exit_status_and_bad_input(tmp_path):
    ok = run_cli("matrix", "numpy-reference", "--column", "baseline", "--max-examples", "5", "--report-dir",
                 str(tmp_path / "ok"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (tmp_path / "ok" / "matrix.md").exists() and (tmp_path / "ok" / "matrix.json").exists()
    bad = run_cli("matrix", "seed-missing-forget-bias", "--column", "baseline", "--max-examples", "20",
                  "--report-dir", str(tmp_path / "bad"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    for argv, word in ((["--column", "wormholes"], "wormholes"), (["no-such-candidate"], "no-such-candidate")):
        proc = run_cli("matrix", *argv, "--report-dir", str(tmp_path / "x"), timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and word in lines[0], (argv, proc.returncode, lines)
        assert not (tmp_path / "x" / "matrix.json").exists(), "nothing must run before the arguments are checked"


def test_a_cell_that_ran_no_example_is_an_error_not_conformant(tmp_path):
    """A broken candidate must never read CONFORMANT because the cell's time went on TensorFlow's start-up."""
    out = tmp_path / "m"
    proc = run_cli("matrix", "seed-missing-forget-bias", "--column", "baseline", "--max-examples", "8",
                   "--cell-seconds", "0.001", "-q", "--report-dir", str(out))
    cell = json.loads((out / "matrix.json").read_text())["cells"]["seed-missing-forget-bias"]["baseline"]
    assert cell["status"] in ("error", "nonconformant"), cell
    if cell["status"] == "error":
        assert "no example ran" in cell["reason"] and proc.returncode == 2, (cell, proc.returncode)
