"""The regression corpus: saved as .npz + .json, replayed first by check and fuzz, corrupt files skipped."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conformance.candidates import resolve
from conformance.judge import Comparison, Evaluation
from conformance.outcome import Counterexample
from conformance.run import CheckOptions, add_to_corpus, entry_stem, load_corpus, replay_cases, select
from conformance.spec import Case, InitialState, InvalidArgument, LSTMConfig, LSTMParams
from tests.helpers import run_cli


def _case(dtype: str = "float32", *, peepholes: bool = False, bias_j: float = -1.0) -> Case:
    """T=2, B=1, I=1, H=1 with one non-zero number (bias of gate j): fails a candidate missing forget_bias."""
    cfg = LSTMConfig(num_units=1, input_size=1, use_peepholes=peepholes, dtype=dtype)
    npd = cfg.np_dtype
    bias = np.zeros(4, npd)
    bias[1] = bias_j
    diag = np.zeros(1, npd) if peepholes else None
    params = LSTMParams(kernel=np.zeros((2, 4), npd), bias=bias, w_i_diag=diag, w_f_diag=diag, w_o_diag=diag)
    return Case(cfg, params, np.zeros((1, 2, 1), npd), InitialState(np.zeros((1, 1), npd), np.zeros((1, 1), npd)))


def _counterexample(case: Case, target: str = "seed-missing-forget-bias") -> Counterexample:
    cmp = Comparison(passed=False, kind="mismatch", message="outputs[0, 1, 0] differs", max_abs_error=0.03)
    return Counterexample(case=case, evaluation=Evaluation(case, cmp, None, None), shrunk_case=case, target=target)


def _assert_same_case(got: Case, expected: Case, label: str) -> None:
    assert got.config == expected.config, f"{label}: config {got.config} != {expected.config}"
    for name, array in expected.arrays().items():
        other = got.arrays()[name]
        assert other.dtype == array.dtype and np.array_equal(other, array), \
            f"{label}: array {name} got {other!r}, expected {array!r}"


def test_add_then_load_round_trips_and_deduplicates(tmp_path):
    case = _case()
    cx = _counterexample(case)
    cx = cx.with_repro("reports/counterexample.npz")
    path = add_to_corpus(cx, str(tmp_path))
    assert path is not None and path.endswith(entry_stem(cx.target, case) + ".npz"), f"saved as {path}"
    assert cx.repro == "reports/counterexample.npz", f"add_to_corpus must not move the report's repro: {cx.repro}"
    meta = json.loads((tmp_path / (entry_stem(cx.target, case) + ".json")).read_text())
    assert meta["target"] == "seed-missing-forget-bias" and meta["kind"] == "mismatch", f"corpus .json: {meta}"
    assert add_to_corpus(_counterexample(_case()), str(tmp_path)) is None, "an equal case must not be added twice"
    assert add_to_corpus(_counterexample(_case(bias_j=-2.0)), str(tmp_path)) is not None, "a different case is new"

    entries = load_corpus(str(tmp_path))
    assert len(entries) == 2, f"{len(entries)} corpus entries, expected 2: {[e.path for e in entries]}"
    loaded = next(e for e in entries if e.case.params.bias[1] == -1.0)
    _assert_same_case(loaded.case, case, "corpus case")
    assert loaded.target == "seed-missing-forget-bias", f"recorded target {loaded.target!r}"


def test_corrupt_files_are_skipped_with_one_warning_each(tmp_path):
    add_to_corpus(_counterexample(_case()), str(tmp_path))
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    np.savez(tmp_path / "no-config.npz", inputs=np.zeros((1, 1, 1)))
    warnings: list[str] = []
    entries = load_corpus(str(tmp_path), warn=warnings.append)
    assert len(entries) == 1, f"{len(entries)} entries loaded, expected the 1 good one"
    assert len(warnings) == 2, f"expected 2 warnings, got {warnings}"
    for name, line in zip(("garbage.npz", "no-config.npz"), warnings):
        assert name in line and "\n" not in line, f"warning should name {name} on one line: {line!r}"


def test_missing_directory_is_empty_and_a_file_is_an_error(tmp_path):
    assert load_corpus(str(tmp_path / "not-yet")) == [], "a corpus that does not exist yet is empty"
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidArgument, match="is not a directory"):
        load_corpus(str(tmp_path / "f"))


def test_select_keeps_what_the_candidate_and_slice_cover(tmp_path):
    for case in (_case("float32"), _case("float16"), _case("float32", peepholes=True)):
        add_to_corpus(_counterexample(case), str(tmp_path))
    entries = load_corpus(str(tmp_path))
    seed = resolve("seed-missing-forget-bias").info  # declares no optional feature
    got = select(entries, seed, frozenset(), {"float32"})
    assert [(c.config.dtype, c.config.use_peepholes) for c in got] == [("float32", False)], \
        f"seed candidate, float32 slice replays {[(c.config.dtype, c.config.use_peepholes) for c in got]}"
    ref = resolve("numpy-reference").info
    got = select(entries, ref, frozenset({"peepholes"}), {"float32", "float16"})
    assert len(got) == 3, f"numpy-reference with peepholes replays {len(got)} of 3 cases"
    options = CheckOptions(dtypes=["float16"])
    got = replay_cases(str(tmp_path), resolve("numpy-reference"), options)
    assert [c.config.dtype for c in got] == ["float16"], f"--dtype float16 replays {[c.config.dtype for c in got]}"


def test_check_replays_the_corpus_first_and_saves_new_findings(tmp_path):
    corpus = tmp_path / "corpus"
    add_to_corpus(_counterexample(_case()), str(corpus))
    (corpus / "broken.npz").write_bytes(b"junk")
    proc = run_cli("check", "seed-missing-forget-bias", "--corpus", str(corpus), "--report-dir", str(tmp_path / "r"),
                   "--format", "json", "--dtype", "float32", "-q", cwd=tmp_path, timeout=300)
    assert proc.returncode == 1, f"exit {proc.returncode}; stderr: {proc.stderr[-800:]}"
    warnings = [line for line in proc.stderr.splitlines() if "broken.npz" in line]
    assert len(warnings) == 1, f"the corrupt file should be one warning line: {proc.stderr[-800:]}"
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    cx = report["counterexample"]
    assert cx["source"] == "replay", f"the corpus case should fail first (source {cx['source']!r})"
    assert report["examples"] <= 2, f"{report['examples']} examples ran before the corpus case failed"
    assert len([n for n in os.listdir(corpus) if n.endswith(".npz")]) == 2, \
        f"corpus after the run: {sorted(os.listdir(corpus))} (the replayed case is already there)"


def test_fuzz_replays_the_corpus_before_generating(tmp_path):
    corpus = tmp_path / "corpus"
    add_to_corpus(_counterexample(_case("float16")), str(corpus))
    proc = run_cli("fuzz", "seed-missing-forget-bias", "--budget", "60s", "--corpus", str(corpus), "--db", "none",
                   "--no-isolate", "--report-dir", str(tmp_path / "r"), "--format", "json", "-q", cwd=tmp_path,
                   timeout=300)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert proc.returncode == 1, f"exit {proc.returncode}; stderr: {proc.stderr[-800:]}"
    first = report["runs"][0]
    assert first["dtype"] == "float16", f"the slice with a corpus case (float16) should run first, ran {first}"
    assert first["corpus_replayed"] == 1 and first["first_failure_example"] == 1, \
        f"the corpus case should be replayed, and fail, first: {first}"
    cx = report["counterexamples"][first["counterexample_index"]]
    assert cx["source"] == "replay" and cx["from_database"] is False, f"counterexample source {cx['source']!r}"
    assert sum(r["corpus_replayed"] for r in report["runs"]) == 1, "a corpus case is replayed once per target"


def test_an_empty_file_with_the_entry_name_is_rewritten(tmp_path):
    """ENOSPC once left a 0-byte .npz: it is no case, so the next add_to_corpus must write it again."""
    cx = _counterexample(_case())
    planted = tmp_path / (entry_stem(cx.target, cx.case) + ".npz")
    planted.write_bytes(b"")
    path = add_to_corpus(cx, str(tmp_path))
    assert path == str(planted), f"add_to_corpus returned {path!r}: the 0-byte entry was taken as present"
    _assert_same_case(Case.load_npz(path), cx.case, "rewritten entry")
    assert add_to_corpus(cx, str(tmp_path)) is None, "a readable entry is present: nothing to add"


def test_save_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cx = _counterexample(_case())
    link = corpus / (entry_stem(cx.target, cx.case) + ".npz")
    link.symlink_to(outside)
    path = add_to_corpus(cx, str(corpus))
    assert path == str(link)
    assert outside.read_text() == "precious", "the save wrote through the planted symlink"
    assert not link.is_symlink(), "the entry should be a regular file now"
    _assert_same_case(Case.load_npz(path), cx.case, "saved entry")


def test_save_npz_leaves_no_partial_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "case.npz"
    target.write_bytes(b"old")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError):
        _case().save_npz(str(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.npz"], "a temporary file was left behind"
    assert target.read_bytes() == b"old", "a failed save must not truncate the existing file"
