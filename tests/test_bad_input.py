"""Bad input to the tool: one clear line naming the bad value, exit 2, and nothing computed is lost.

Targets, option values and case files are rejected before any work (most of these
never import TensorFlow).  A corrupt example database or corpus file is survived; a
report directory that becomes unwritable during a run still gets the results printed
and saved somewhere that can be written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conformance import Case, LSTMConfig, LSTMParams, zero_state
from conformance.report import validate_report
from tests import fault_candidates as fc
from tests.helpers import run_cli


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, nothing on stdout, one stderr line holding every fragment, no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, f"exit {proc.returncode}, expected 2; stderr:\n{proc.stderr}\nstdout:\n{proc.stdout}"
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not named in the error line: {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def bad_target_files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("targets")
    (d / "raises.py").write_text("raise RuntimeError('cannot find liblstm.so')\n")
    (d / "klass.py").write_text("class Cell:\n    def __call__(self, case):\n        return None\n")
    (d / "two_args.py").write_text("def fn(case, extra):\n    return None\n")
    return d


@pytest.mark.parametrize(
    "target, fragments",
    [
        ("", ("target=''", "numpy-reference")),
        ("   ", ("target='   '",)),
        ("no-such-candidate", ("'no-such-candidate'", "numpy-reference")),
        ("foo:", ("'foo:'", "module:attr")),
        ("exec:", ("'exec:'", "no command")),
        ("no_such_module_xyz:fn", ("'no_such_module_xyz'",)),
        ("os:path", ("'os:path'", "not a candidate")),
        ("conformance:no_such_attr", ("no_such_attr",)),
        ("/nonexistent/dir/model.py:fn", ("/nonexistent/dir/model.py",)),
        ("{dir}/raises.py:fn", ("raises.py", "RuntimeError", "liblstm.so")),
        ("{dir}/klass.py:Cell", ("klass.py:Cell", "class")),
        ("{dir}/two_args.py:fn", ("two_args.py:fn", "(case, extra)")),
    ],
)
def test_malformed_targets(target, fragments, bad_target_files, tmp_path):
    target = target.replace("{dir}", str(bad_target_files))
    proc = run_cli("check", target, "--report-dir", str(tmp_path), timeout=120)
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "report.json").exists(), "a report was written for a target that never loaded"


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--max-examples", "-1"], ("--max-examples", "'-1'")),
        (["--max-examples", "abc"], ("--max-examples", "'abc'")),
        (["--max-examples", "0"], ("--max-examples", "'0'")),
        (["--max-time", "-3"], ("--max-time", "'-3'")),
        (["--seed", "x"], ("--seed", "'x'")),
        (["--dtype", "float8"], ("--dtype", "'float8'", "float32")),
        (["--feature", "wings"], ("--feature", "'wings'", "peepholes")),
        (["--tolerance", "float32=abc"], ("--tolerance", "'abc'")),
        (["--tolerance", "float99=1e-3"], ("--tolerance", "float99")),
        (["--tolerance", "float32=-1"], ("atol=-1",)),
        (["--timeout", "0"], ("--timeout", "'0'")),
        (["--timeout", "-2"], ("--timeout", "'-2'")),
        (["--timeout", "nan"], ("--timeout", "'nan'")),
        (["--timeout", "soon"], ("--timeout", "'soon'")),
        (["--memory-limit", "-5"], ("--memory-limit", "'-5'")),
        (["--memory-limit", "1.5"], ("--memory-limit", "'1.5'")),
        (["--no-isolate", "--timeout", "3"], ("--timeout", "--no-isolate")),
        (["--format", "pdf"], ("pdf",)),
    ],
)
def test_invalid_check_options(args, fragments, tmp_path):
    proc = run_cli("check", "numpy-reference", *args, "--report-dir", str(tmp_path), timeout=120)
    assert_one_line_error(proc, *fragments)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--budget", "abc"], ("--budget", "'abc'")),
        (["--budget", "-5"], ("--budget", "'-5'")),
        (["--budget", "0"], ("--budget", "'0'")),
        (["--budget", "60", "--slice", "zz"], ("--slice", "'zz'")),
        (["--budget", "60", "--timeout", "0"], ("--timeout", "'0'")),
    ],
)
def test_invalid_fuzz_options(args, fragments, tmp_path):
    proc = run_cli("fuzz", "numpy-reference", *args, "--report-dir", str(tmp_path), timeout=120)
    assert_one_line_error(proc, *fragments)


def test_report_dir_that_is_a_file_is_rejected_before_work(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("occupied")
    proc = run_cli("check", "numpy-reference", "--report-dir", str(blocker), timeout=120)
    assert_one_line_error(proc, "--report-dir", str(blocker))


# --- case files ------------------------------------------------------------------------------


def small_case(**config) -> Case:
    cfg = LSTMConfig(num_units=2, input_size=1, **config)
    rng = np.random.default_rng(5)
    npd = cfg.np_dtype
    params = LSTMParams(kernel=rng.normal(size=(1 + cfg.output_size, 8)).astype(npd), bias=np.zeros(8, npd),
                        proj_kernel=rng.normal(size=(2, cfg.num_proj)).astype(npd) if cfg.num_proj else None)
    return Case(cfg, params, rng.normal(size=(1, 3, 1)).astype(npd), zero_state(cfg, 1))


def write_npz_with_config(path: Path, config: dict, case: Case | None = None) -> None:
    """An .npz like save_npz writes, but with a hand-edited config."""
    case = case or small_case()
    arrays = {k: v for k, v in case.arrays().items()}
    np.savez(path, config=np.array(json.dumps(config)), **arrays)


@pytest.mark.parametrize(
    "make, fragments",
    [
        ("garbage", ("garbage.npz", "not a readable case file")),
        ("truncated", ("truncated.npz", "not a readable case file")),
        ("empty", ("empty.npz", "not a readable case file")),
        ("proj_clip_without_num_proj", ("proj_clip=0.5", "num_proj")),
        ("unknown_dtype", ("dtype='float8'",)),
        ("negative_units", ("num_units=-2",)),
        ("unknown_field", ("unknown field", "wings")),
        ("missing_array", ("missing array", "kernel")),
        ("wrong_shape", ("inputs", "shape")),
        ("pickled", ("pickled.npz", "not a readable case file")),
    ],
)
def test_bad_case_files_for_repro(make, fragments, tmp_path):
    path = tmp_path / f"{make}.npz"
    good = tmp_path / "good.npz"
    small_case().save_npz(good)
    base = small_case().config.to_dict()
    if make == "garbage":
        path.write_bytes(os.urandom(300))
    elif make == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif make == "empty":
        path.write_bytes(b"")
    elif make == "proj_clip_without_num_proj":
        write_npz_with_config(path, {**base, "proj_clip": 0.5})
    elif make == "unknown_dtype":
        write_npz_with_config(path, {**base, "dtype": "float8"})
    elif make == "negative_units":
        write_npz_with_config(path, {**base, "num_units": -2})
    elif make == "unknown_field":
        write_npz_with_config(path, {**base, "wings": 2})
    elif make == "missing_array":
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
            for item in src.infolist():
                if item.filename != "kernel.npy":
                    dst.writestr(item, src.read(item.filename))
    elif make == "wrong_shape":
        arrays = dict(np.load(good))
        arrays["inputs"] = np.zeros((1, 3, 4), np.float32)
        np.savez(path, **arrays)
    elif make == "pickled":
        np.savez(path, config=np.array([{"num_units": 1}], dtype=object))
    proc = run_cli("repro", str(path), "numpy-reference", timeout=120)
    assert_one_line_error(proc, *fragments)


def test_repro_without_a_target_or_file(tmp_path):
    proc = run_cli("repro", str(tmp_path / "absent.npz"), "numpy-reference", timeout=120)
    assert_one_line_error(proc, "absent.npz")
    small_case().save_npz(tmp_path / "lonely.npz")
    proc = run_cli("repro", str(tmp_path / "lonely.npz"), timeout=120)
    assert_one_line_error(proc, "lonely.npz", "TARGET")


# --- corrupt stores: the example database and the corpus ---------------------------------------


def test_corrupt_database_entries_are_survived(tmp_path):
    """Garbage where Hypothesis keeps examples: the run goes on, finds the bug, and exits 1 (not 2)."""
    db, target = tmp_path / "db", fc.target("raise_on_wide_input")
    common = ["--seed", "0", "--db", str(db), "--format", "json", "-q", "--no-long", "--max-examples", "30"]
    first = run_cli("check", target, *common, "--report-dir", str(tmp_path / "r1"), timeout=600)
    assert first.returncode == 1, first.stdout + first.stderr
    entries = [p for p in db.rglob("*") if p.is_file()]
    assert entries, f"the first run stored nothing in {db}"
    for i, p in enumerate(entries):  # every stored example becomes garbage of varying length
        p.write_bytes(os.urandom(i % 7 * 13))
    keydir = next(p for p in db.iterdir() if p.is_dir())
    (keydir / "zz-garbage").write_bytes(b"\xff" * 4096)
    (keydir / "a-directory-where-a-value-should-be").mkdir()
    (db / "stray-file").write_text("not a key")
    again = run_cli("check", target, *common, "--report-dir", str(tmp_path / "r2"), timeout=600)
    assert again.returncode == 1, f"exit {again.returncode} with a corrupt database\n{again.stdout}\n{again.stderr}"
    assert "Traceback" not in again.stderr, again.stderr
    report = json.loads((tmp_path / "r2" / "report.json").read_text())
    assert report["counterexample"]["kind"] == "exception", report["counterexample"]["kind"]


def test_a_corrupt_corpus_file_is_skipped_with_one_warning(tmp_path):
    from conformance.run import load_corpus

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    small_case().save_npz(corpus / "a-good-case.npz")
    (corpus / "b-not-a-zip.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    good = (corpus / "a-good-case.npz").read_bytes()
    (corpus / "c-truncated.npz").write_bytes(good[: len(good) // 2])
    write_npz_with_config(corpus / "d-proj-clip.npz", {**small_case().config.to_dict(), "proj_clip": 0.5})
    warnings: list[str] = []
    entries = load_corpus(str(corpus), warn=warnings.append)
    assert [os.path.basename(e.path) for e in entries] == ["a-good-case.npz"], [e.path for e in entries]
    assert len(warnings) == 3, f"expected one warning per bad file, got {warnings}"
    for name, warning in zip(("b-not-a-zip.npz", "c-truncated.npz", "d-proj-clip.npz"), warnings):
        assert name in warning and "\n" not in warning, f"warning does not name {name} on one line: {warning!r}"
    assert "proj_clip=0.5" in warnings[2], warnings[2]


@pytest.mark.slow
def test_fuzz_skips_a_corrupt_corpus_file_and_runs_on(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    small_case().save_npz(corpus / "good-case.npz")
    (corpus / "broken-case.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    proc = run_cli("fuzz", "numpy-reference", "--budget", "90", "--corpus", str(corpus), "--db", "none",
                   "--dtype", "float32", "--no-long", "--report-dir", str(tmp_path / "r"), "--format", "json", "-q",
                   timeout=600)
    warnings = [line for line in proc.stderr.splitlines() if "broken-case.npz" in line]
    assert len(warnings) == 1 and "warning" in warnings[0], f"expected one warning naming the file:\n{proc.stderr}"
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    validate_report(json.loads((tmp_path / "r" / "report.json").read_text()))
    assert (corpus / "broken-case.npz").exists(), "the corrupt corpus file was deleted instead of left for a human"


# --- a report directory lost during the run --------------------------------------------------


def test_report_dir_lost_at_the_end_still_prints_and_saves_the_results(tmp_path):
    """The directory is replaced by a file mid-run: summary and counterexample reach stdout, files go elsewhere."""
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "check", fc.target("slow_wrong_on_batch"), "--max-examples", "200",
         "--seed", "1", "--no-long", "--report-dir", str(reports), "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # check_report_dir creates (and probes) it before any work; replace it once the run is under way.
        deadline = time.monotonic() + 120
        while not reports.is_dir() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert proc.poll() is None, f"the run ended before its report directory could be taken away: {proc.returncode}"
        shutil.rmtree(reports)
        reports.write_text("the report directory is gone")
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, f"exit {proc.returncode}\n{out}\n{err}"
    assert "NONCONFORMANT" in out and "minimized counterexample" in out, f"results not printed:\n{out}"
    line = [l for l in err.splitlines() if "could not write reports" in l]
    assert line and str(reports) in line[0], f"no error line naming the directory:\n{err}"
    m = re.search(r"wrote them to (\S+) instead", line[0])
    assert m, f"the error line does not say where the reports went: {line[0]!r}"
    fallback = Path(m.group(1))
    try:
        report = json.loads((fallback / "report.json").read_text())
        validate_report(report)
        assert report["verdict"] == "nonconformant" and report["counterexample"]["kind"] == "mismatch", report["verdict"]
        case = Case.load_npz(fallback / "counterexample.npz")
        assert case.batch >= 2, f"saved counterexample has batch {case.batch}; the candidate fails only for >= 2"
        assert f"repro {fallback / 'counterexample.npz'}" in out, f"the replay line does not point at the saved case:\n{out}"
    finally:
        shutil.rmtree(fallback, ignore_errors=True)


def _main_in_process(capsys, *argv: str) -> tuple[int, str, str]:
    """``conformance.cli.main(argv)`` in this process: exit status, stdout, stderr (argparse exits count too)."""
    from conformance.cli import main

    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return rc, out, err


def _one_error_line(rc: int, err: str, *fragments: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, f"exit {rc}; stderr:\n{err}"
    assert len(lines) == 1, err
    assert "internal error" not in lines[0] and "Traceback" not in err, err
    assert lines[0].startswith("lstm-conformance"), lines[0]
    assert ": error: " in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not named in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize("command", ["python3 x.py 'x", 'python3 "x.py', "python3 x.py \\"])
def test_exec_command_with_bad_quoting_is_a_one_line_error(capsys, command):
    rc, _, err = _main_in_process(capsys, "check", f"exec:{command}", "--quiet")
    line = _one_error_line(rc, err, f"exec:{command}")
    assert "quot" in line or "escape" in line, line


@pytest.mark.parametrize(
    "option, value",
    [
        ("--max-time", "1000000000"),
        ("--max-time", "100001"),
        ("--memory-limit", "100000000000000"),
        ("--memory-limit", str(2**63)),
        ("--timeout", "1e300"),
    ],
)
def test_absurd_size_options_are_rejected_in_one_line(capsys, tmp_path, option, value):
    rc, out, err = _main_in_process(capsys, "check", "numpy-reference", option, value, "--quiet", "--max-examples",
                                    "1", "--report-dir", str(tmp_path))
    _one_error_line(rc, err, option, value)
    assert not out, out


def test_check_options_bound_the_sizes():
    from conformance.run import CheckOptions
    from conformance.spec import InvalidArgument

    for kwargs in ({"max_time": 10**9}, {"min_time": 10**9}, {"max_units": 10**9}, {"max_batch": 10**9},
                   {"max_input_size": 10**9}, {"memory_limit_mb": 10**14}, {"timeout_seconds": 1e300}):
        with pytest.raises(InvalidArgument, match=next(iter(kwargs))):
            CheckOptions(**kwargs)
    CheckOptions(max_time=100_000, memory_limit_mb=2**42, timeout_seconds=1e6)  # the bounds themselves are fine
