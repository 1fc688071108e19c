"""Diagnosis end to end: the runner and CLI wiring, compositions, honesty, localization, the registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conformance import CheckOptions, InvalidArgument, candidate, check, register_variant, unregister_variant
from conformance.diagnose import diagnose
from conformance.diagnose import localize
from conformance.run import minimize
from conformance.spec import Semantics
from conformance.diagnose import catalogue_markdown
from tests import wrong_impls as W
from tests.helpers import run_cli


def _ranking(result):
    return [(m.variant, m.explained_cases, m.tried_cases) for m in result.matches]


def _minimized(cell, name, changes=None, **case_kw):
    ex = W.executor_for(W.as_candidate(cell, name))
    still_fails = W.spec_fails(ex)
    case = W.dense_case(changes, seed=3, **case_kw)
    assert still_fails(case), f"{name}: agrees with the spec on the starting case"
    return ex, minimize(case, still_fails, max_evaluations=200, max_seconds=10)


# ------------------------------------------------------------------ CLI (real TF oracle)


def test_cli_seed_missing_forget_bias_is_diagnosed_with_its_fix(tmp_path):
    proc = run_cli("check", "seed-missing-forget-bias", "--max-examples", "60", "--seed", "1", "--no-long",
                   "--report-dir", str(tmp_path), "-q")
    assert proc.returncode == 1, f"exit {proc.returncode}, expected 1 (nonconformant); stderr: {proc.stderr[-2000:]}"
    assert "diagnosis: forget_bias_missing" in proc.stdout, f"first diagnosis not printed; stdout:\n{proc.stdout}"
    assert "fix: add forget_bias" in proc.stdout, f"fix not printed; stdout:\n{proc.stdout}"
    cx = json.loads((tmp_path / "report.json").read_text())["counterexample"]
    best = cx["diagnosis"][0]
    assert best["variant"] == "forget_bias_missing", f"first diagnosis {best}, all: {cx['diagnosis']}"
    assert "forget_bias is not added to the forget gate" in best["explanation"], f"explanation: {best['explanation']}"
    assert "sigmoid(f + forget_bias)" in best["fix"], f"fix: {best['fix']}"
    assert best["explained_cases"] == best["tried_cases"] > 1, f"evidence {best}"
    loc = cx["localization"]
    # Zero initial state: step 0 cannot depend on forget_bias (c_0 = 0), step 1 does.
    assert loc["first_divergent_step"] == 1, f"localization {loc}"
    assert loc["step_errors"]["outputs"][0] is not None and loc["step_errors"]["outputs"][0] < 1e-5, loc
    assert cx["diagnosed"] is True, f"diagnosed flag {cx['diagnosed']!r}"


def test_cli_state_reset_every_3_steps_is_not_explained_and_is_localized(tmp_path):
    proc = run_cli("check", "tests.wrong_impls:reset_every_3", "--max-examples", "60", "--seed", "2", "--no-long",
                   "--report-dir", str(tmp_path), "-q")
    assert proc.returncode == 1, f"exit {proc.returncode}; stderr: {proc.stderr[-2000:]}"
    assert "diagnosis: no known variant explains this" in proc.stdout, f"stdout:\n{proc.stdout}"
    cx = json.loads((tmp_path / "report.json").read_text())["counterexample"]
    assert cx["diagnosed"] is True and cx["diagnosis"] == [], f"diagnosis {cx['diagnosis']}"
    loc = cx["localization"]
    assert loc["first_divergent_step"] == 3, f"expected the first divergence at the reset (step 3): {loc}"
    assert loc["first_steps"]["c"] == 3, f"c should diverge at the reset too: {loc['first_steps']}"
    structural = {s["property"]: s for s in cx["structural"]}
    assert structural["state_carried"]["holds"] is False, f"structural {cx['structural']}"
    assert "structural property violated: state_carried" in proc.stdout, f"stdout:\n{proc.stdout}"


# ------------------------------------------------------------------ runner wiring (spec as oracle: no TF)


def _check(fn, **options):
    loaded = W.executor_for(fn).loaded
    opts = CheckOptions(max_examples=40, seed=5, long_sequences=False, dtypes=["float32"], **options)
    return check(loaded, opts, oracle=W.SpecOracle())


def test_runner_fills_diagnosis_localization_and_structure():
    result = _check(W.pytorch_raw_port)
    cx = result.counterexample
    assert cx is not None and cx.diagnosed, f"verdict {result.verdict}, counterexample {cx}"
    names = [d.variant for d in cx.diagnosis]
    assert names and names[0] == "forget_bias_missing+gate_order_ifjo", f"diagnosis {names}"
    assert cx.localization.first_divergent_step is not None, f"localization {cx.localization}"
    assert {s.property for s in cx.structural} == {"batch_rows_independent", "state_carried", "causal",
                                                      "deterministic"}, cx.structural


def test_runner_diagnoses_through_an_isolated_worker(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the worker imports tests.wrong_impls from here
    opts = CheckOptions(max_examples=30, seed=5, long_sequences=False, dtypes=["float32"], isolate=True,
                        timeout_seconds=60)
    cx = check("tests.wrong_impls:pytorch_raw_port", opts, oracle=W.SpecOracle()).counterexample
    assert cx is not None and cx.diagnosed, f"counterexample {cx}"
    names = [d.variant for d in cx.diagnosis]
    assert names and names[0] == "forget_bias_missing+gate_order_ifjo", f"diagnosis {names}"


def test_runner_diagnose_false_skips_the_analysis():
    cx = _check(W.pytorch_raw_port, diagnose=False).counterexample
    assert cx is not None and not cx.diagnosed and cx.diagnosis == () and cx.localization is None, (
        f"diagnosed={cx.diagnosed} diagnosis={cx.diagnosis} localization={cx.localization}")


def test_a_crash_is_not_diagnosed():
    def crashes_after_two_steps(case):
        if case.time > 2:
            raise RuntimeError("buffer too small")
        return W.Cell(case).run()

    fn = candidate(crashes_after_two_steps, name="crashes", features=[], dtypes=["float32"])
    cx = _check(fn).counterexample
    assert cx is not None and cx.kind == "exception", f"expected an exception counterexample, got {cx and cx.kind}"
    assert not cx.diagnosed and cx.diagnosis == (), f"a crash was diagnosed: {cx.diagnosis}"


# ------------------------------------------------------------------ search and honesty


def test_two_mistakes_are_found_as_a_composition_ranked_above_the_parts():
    ex, case = _minimized(W.PyTorchRawPort, "raw-port", initial_state=False)
    result = diagnose(case, ex.run(case), ex)
    ranking = _ranking(result)
    assert ranking[0][0] == "forget_bias_missing+gate_order_ifjo", f"ranking {ranking}"
    assert ranking[0][1] == ranking[0][2] == result.informative, f"ranking {ranking}"
    assert "gate order" in result.matches[0].explanation and "forget_bias" in result.matches[0].fix, result.matches[0]
    for name, explained, tried in ranking[1:]:
        assert explained < ranking[0][1], f"{name} explains {explained}/{tried}, as many as the composition"


class _ForgetBiasMissingOnlyForOneInput(W.Cell):
    """Drops forget_bias only when input_size == 1: a variant explains some cases, not all."""

    def forget_bias(self):
        return 0.0 if self.I == 1 else self.cfg.forget_bias


def test_a_variant_explaining_only_some_cases_is_reported_with_its_count():
    ex, case = _minimized(_ForgetBiasMissingOnlyForOneInput, "partial", {"input_size": 1}, initial_state=False)
    result = diagnose(case, ex.run(case), ex)
    ranking = _ranking(result)
    assert ranking and ranking[0][0] == "forget_bias_missing", f"ranking {ranking}"
    name, explained, tried = ranking[0]
    # The grown fresh cases have input_size 2, where the candidate is right and the variant is not.
    assert explained == result.informative < tried, (
        f"{name}: explained {explained}, tried {tried}, informative {result.informative} of {result.cases}")


def test_an_implementation_outside_the_catalogue_gets_no_variant_but_a_localization():
    k = 3
    ex, case = _minimized(W.reset_every_cell(k), "reset", time=2 * k + 1)
    got = ex.run(case)
    result = diagnose(case, got, ex)
    assert result.matches == (), f"a variant was forced onto a state reset: {_ranking(result)}"
    assert result.informative >= 1, f"no informative case among {result.cases}: skipped {result.skipped}"
    loc = localize(case, got, ex).to_dict()
    assert loc["first_divergent_step"] == k, f"first divergence {loc['first_divergent_step']}, expected {k}: {loc}"
    assert case.time == k + 1, f"minimized to T={case.time}, expected the shortest failing prefix {k + 1}"
    for name in ("c", "h", "outputs"):
        errors = loc["step_errors"][name]
        assert all(e is not None and e < 1e-5 for e in errors[:k]), f"{name} errors before step {k}: {errors}"


def test_localization_tells_c_from_h_and_outputs():
    ex, case = _minimized(W.FinalStateHC, "hc", initial_state=False)
    loc = localize(case, ex.run(case), ex).to_dict()
    assert loc["first_steps"]["outputs"] is None, f"outputs should never diverge: {loc}"
    assert loc["first_steps"]["c"] is not None and loc["first_steps"]["h"] is not None, loc
    assert "never diverges" in loc["summary"], f"summary {loc['summary']!r}"

    ex, case = _minimized(W.CellClipAfterOutput, "after", {"cell_clip": 0.3}, time=6)
    loc = localize(case, ex.run(case), ex).to_dict()
    steps = loc["first_steps"]
    # The output uses the unclipped c_t; the carried c_t is clipped as in TF, so h leads and c follows.
    assert steps["h"] is not None and steps["outputs"] == steps["h"], f"first steps {steps}"
    assert steps["c"] is None or steps["c"] > steps["h"], f"c should diverge after h: {steps}"


def test_localization_of_a_long_case_checks_a_window_of_prefixes():
    ex = W.executor_for(W.as_candidate(W.reset_every_cell(30), "reset30"))
    case = W.dense_case(time=40, batch=1)
    loc = localize(case, ex.run(case), ex, max_prefixes=8).to_dict()
    assert loc["first_divergent_step"] == 30, f"localization {loc}"
    assert loc["steps_checked"] == list(range(24, 32)), f"prefixes run: {loc['steps_checked']}"
    assert loc["step_errors"]["c"][0] is None, "steps outside the window must be None, not a number"


# ------------------------------------------------------------------ the registry


class _ForgetBiasTripled(W.Cell):
    def forget_bias(self):
        return 3.0 * self.cfg.forget_bias


def test_a_user_registered_variant_is_diagnosed():
    variant = register_variant(
        "forget_bias_tripled", explanation="forget_bias is added three times", fix="add it once",
        knobs={"forget_bias_scale": 3.0}, family="forget_bias",
    )
    try:
        ex, case = _minimized(_ForgetBiasTripled, "tripled")
        ranking = _ranking(diagnose(case, ex.run(case), ex))
        assert ranking and ranking[0][0] == "forget_bias_tripled", f"ranking {ranking}"
        assert variant.knobs == {"forget_bias_scale": 3.0}, variant.knobs
        assert "`forget_bias_tripled`" in catalogue_markdown(), "a registered variant is missing from the catalogue"
    finally:
        unregister_variant("forget_bias_tripled")
    assert "`forget_bias_tripled`" not in catalogue_markdown(), "unregister_variant left it in the catalogue"


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="Bad-Name"), "name='Bad-Name'"),
    (dict(name="forget_bias_missing"), "already registered"),
    (dict(knobs={"gate_orderr": "ifjo"}), "gate_orderr"),
    (dict(knobs={"gate_order": "ifxo"}), "gate_order='ifxo'"),
    (dict(knobs={"gate_order": "ijfo"}), "TF's own semantics"),
    (dict(knobs={}), "knobs={}"),
    (dict(needs=["peephole"]), "peephole"),
    (dict(needs="peepholes"), "needs='peepholes'"),
    (dict(explanation=""), "explanation=''"),
    (dict(family="Bad Family"), "family='Bad Family'"),
])
def test_register_variant_rejects_bad_input_naming_the_value(kwargs, message):
    args = dict(name="my_variant", explanation="x", fix="y", knobs={"bias_scale": 3.0})
    args.update(kwargs)
    with pytest.raises(InvalidArgument) as info:
        register_variant(args.pop("name"), **args)
    assert message in str(info.value), f"message {str(info.value)!r} does not name {message!r}"


def test_semantics_rejects_unknown_knob_values():
    with pytest.raises(InvalidArgument, match="cell_clip='sometimes'"):
        Semantics(cell_clip="sometimes")
    with pytest.raises(InvalidArgument, match="forget_bias_scale=nan"):
        Semantics(forget_bias_scale=float("nan"))


def test_docs_embed_the_generated_catalogue():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "diagnosis.md").read_text()
    table = catalogue_markdown()
    assert table in doc, ("docs/diagnosis.md is out of date with the registry; regenerate the table with "
                          "python -c 'from conformance.diagnose._variants import catalogue_markdown; print(catalogue_markdown())'")


def test_default_knobs_are_the_spec():
    from conformance.spec import reference

    case = W.dense_case({"use_peepholes": True, "cell_clip": 0.5, "num_proj": 2, "proj_clip": 0.4}, seed=9)
    a, b = reference(case), reference(case, semantics=Semantics())
    for name in ("outputs", "c", "h"):
        assert np.array_equal(a.arrays()[name], b.arrays()[name]), f"{name}: default Semantics differ from the spec"


class _SquareKernelTransposed(W.Cell):
    """Uses kernel.T: only runs when the kernel is square (I + P == 4H), crashes otherwise."""

    def kernel(self):
        return self.p["kernel"].T


def test_plain_transpose_of_a_square_kernel_is_the_reshaped_layout_and_crashing_cases_are_skipped():
    ex, case = _minimized(_SquareKernelTransposed, "square", {"num_units": 1, "input_size": 3})
    result = diagnose(case, ex.run(case), ex)
    ranking = _ranking(result)
    assert ranking and ranking[0][0] == "kernel_reshaped", f"ranking {ranking}"
    # The grown fresh cases are not square: the candidate raises there, and they are skipped, not counted.
    assert any("exception" in s for s in result.skipped), f"skipped {result.skipped}"
    assert ranking[0][2] == result.informative == result.cases, f"ranking {ranking}, cases {result.cases}"
