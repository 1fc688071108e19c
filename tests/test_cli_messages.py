"""Docs and messages agree with the code (issue 18, finding 8): --generation's help, --budget -5s,
--tolerance float32=-1, repro of a file that is not a case, accepts= shortening a run, the relative
figure beside a conformant run's largest error, --workers auto."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conformance.cli import build_parser, main
from conformance.run import SEEDED_BATCH, auto_workers


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return " ".join(sub.choices[command].format_help().split())


def test_generation_help_states_the_batch_the_code_uses():
    text = _help("check")
    assert f"seeded RNG, {SEEDED_BATCH} per Hypothesis example" in text, text


@pytest.mark.parametrize("argv, expected", [
    (["fuzz", "numpy-reference", "--budget", "-5s"], "lstm-conformance fuzz: error: --budget=-5s: "),
    (["fuzz", "numpy-reference", "--budget", "60", "--slice", "-1m"], "lstm-conformance fuzz: error: --slice=-1m: "),
    (["fuzz", "numpy-reference", "--budget", "60", "--shard", "4/3"], "lstm-conformance fuzz: error: --shard=4/3: "),
])
def test_a_negative_or_bad_value_is_one_line_naming_option_and_value(argv, expected, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(expected) and err.count("\n") == 1, err
    assert "expected one argument" not in err, err


def test_a_dash_value_does_not_swallow_a_real_option(capsys):
    from conformance.cli._main import attach_dash_values

    parser = build_parser()
    assert attach_dash_values(parser, ["fuzz", "x", "--budget", "-5s", "-q"]) == ["fuzz", "x", "--budget=-5s", "-q"]
    assert attach_dash_values(parser, ["check", "x", "--seed", "-3"]) == ["check", "x", "--seed=-3"]
    assert attach_dash_values(parser, ["check", "x", "--report-dir", "--quiet"]) == ["check", "x", "--report-dir",
                                                                                      "--quiet"]


def test_a_bad_tolerance_names_the_flag_and_the_value(capsys, tmp_path):
    code = main(["check", "numpy-reference", "--tolerance", "float32=-1", "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--tolerance" in err and "float32=-1" in err and err.count("\n") == 1, err


def test_repro_of_a_pickle_npz_names_the_file_and_never_suggests_pickles(tmp_path, capsys):
    path = tmp_path / "shared.npz"
    np.savez(path, inputs=np.array([{"a": 1}], dtype=object))
    code = main(["repro", str(path), "numpy-reference"])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and "expected a counterexample .npz" in err, err
    assert "allow_pickle" not in err and err.count("\n") == 1, err


def test_auto_workers_start_workers_only_when_they_pay_back_their_start_up():
    # Measured (conformance/run/_parallel.py): on 2 cores two workers pay back their start-up from ~1,000 examples.
    assert [auto_workers(n, cpus=2) for n in (200, 1999, 2000, 100_000)] == [1, 1, 2, 2]
    assert auto_workers(300, cpus=16) == 1
    assert auto_workers(5_000, cpus=16) == 5
    assert auto_workers(100_000, cpus=64) == 8, "each worker holds its own TensorFlow: at most 8"
    assert auto_workers(100_000, cpus=1) == 1
    assert build_parser().parse_args(["check", "x"]).workers == "auto"
    assert build_parser().parse_args(["check", "x", "--workers", "3"]).workers == 3


#: A candidate that turns down about half the cases drawn for it (odd num_units).
ACCEPTS_HALF = textwrap.dedent('''
    from conformance import candidate
    from conformance.candidates import BUILTINS
    import importlib

    _module, _, _attr = BUILTINS["numpy-reference"].target.partition(":")
    _reference = getattr(importlib.import_module(_module), _attr)


    @candidate(features=[], dtypes=["float32"], accepts=lambda case: case.config.num_units % 2 == 0)
    def even_units(case):
        return _reference(case)
''')


def test_accepts_shortening_a_run_is_said_in_console_and_report(tmp_path):
    (tmp_path / "picky.py").write_text(ACCEPTS_HALF)
    proc = subprocess.run([sys.executable, "-m", "conformance", "check", "picky:even_units", "--max-examples", "64",
                           "--seed", "5", "--report-dir", "reports", "--format", "json", "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    ran, rejected = report["examples"], report["rejected_by_accepts"]
    assert report["examples_asked"] == 64 and ran < 64 and rejected > 0 and ran + rejected >= 64, report
    note = f"note: {ran} of the 64 examples asked ran; the candidate's accepts= turned down {rejected} drawn case(s)"
    assert note in proc.stdout, proc.stdout
    # Beside the largest abs error: it relative to its example's values, and error / allowed (<= 1: conformant).
    assert 0 < report["max_abs_error_relative"] < 1 and 0 < report["max_error_over_allowed"] <= 1, report
    assert "largest error: " in proc.stdout and "x the allowed error" in proc.stdout, proc.stdout


def test_a_conformant_report_puts_a_relative_figure_beside_a_huge_abs_error():
    from conformance.candidates import CandidateInfo
    from conformance.outcome import CheckResult
    from conformance.report import build_report, validate_report

    result = CheckResult("conformant", "numpy-reference", CandidateInfo(), 300, 1.0, 0, max_abs_error=4.1e11,
                         max_abs_error_relative=2.2e-8, max_score=0.4, examples_asked=300)
    report = build_report(result)
    assert (report["max_abs_error"], report["max_abs_error_relative"], report["max_error_over_allowed"]) == \
        (4.1e11, 2.2e-8, 0.4), report
    validate_report(report)


def test_a_score_below_one_never_prints_as_one():
    """A conformant run's largest error / allowed error of 0.996 read "1x the allowed error", as if at the limit."""
    from conformance.cli._check import below_one

    assert [below_one(x) for x in (0.996, 0.9996, 0.5, 0.123456, 1.0, 2.345, 1 - 1e-12)] == [
        "0.996", "0.9996", "0.5", "0.12", "1", "2.3", "<1"]
