"""The Python API (issue 18 item 1): check/fuzz/matrix take callables, modules and target strings; results
print a summary (text and a notebook's HTML) and write the command line's reports; the README's example runs."""

from __future__ import annotations

import functools
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

import conformance
from conformance import CandidateLoadError, Case, CheckOptions, candidate
from conformance.candidates import LoadedCandidate, make_executor, resolve
from conformance.report import validate_report

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = resolve("numpy-reference").fn
MISSING_BIAS = resolve("seed-missing-forget-bias").fn

PORTS = textwrap.dedent('''
    from conformance import candidate
    from conformance.candidates import resolve

    _ref = resolve("numpy-reference").fn


    @candidate(dtypes=["float32"])
    def port(case):
        """A port declared with @candidate."""
        return _ref(case)


    def plain(case):
        return _ref(case)


    class Callable:
        def __call__(self, case):
            return _ref(case)


    instance = Callable()
''')


@pytest.fixture
def ports(tmp_path, monkeypatch):
    """An importable user module ``user_ports`` (and the same text as a file ``ports_file.py``)."""
    (tmp_path / "user_ports.py").write_text(PORTS)
    (tmp_path / "ports_file.py").write_text(PORTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "user_ports", raising=False)
    import user_ports

    return user_ports


def test_functions_modules_and_objects_resolve_to_a_target_that_imports_them_again(ports, tmp_path):
    for obj, target in [(ports.port, "user_ports:port"), (ports.plain, "user_ports:plain"),
                        (ports.instance, "user_ports:instance"), (ports, "user_ports:port")]:
        loaded = resolve(obj)
        assert loaded.target == target and loaded.importable, (obj, loaded)
        assert loaded.fn is (ports.port if obj is ports else obj)
        assert resolve(loaded.target).fn is loaded.fn, f"{target} does not import the same object again"
    assert resolve(ports.port).info.dtypes == frozenset({"float32"}), "the @candidate declaration is kept"
    # A file without :attr: the file's one @candidate function.
    by_file = resolve(str(tmp_path / "ports_file.py"))
    assert by_file.fn.__name__ == "port" and by_file.info.dtypes == frozenset({"float32"})
    loaded = resolve(resolve(ports.port))  # a LoadedCandidate comes back as it is
    assert isinstance(loaded, LoadedCandidate) and loaded.target == "user_ports:port"


def test_objects_no_other_process_can_import_run_in_this_process_only(ports):
    for obj, name in [(lambda case: REFERENCE(case), "<lambda>"), (functools.partial(REFERENCE), None),
                      (ports.Callable(), "Callable()")]:
        loaded = resolve(obj)
        assert loaded.target.startswith("python:") and not loaded.importable, loaded
        if name:
            assert loaded.name == name, loaded.name
        with pytest.raises(CandidateLoadError, match=r"only this process holds .* isolation cannot import it"):
            make_executor(loaded, isolate=True)
        with pytest.raises(CandidateLoadError, match="names a Python object that only the process"):
            resolve(loaded.target)
    with pytest.raises(CandidateLoadError, match="workers cannot import it"):
        conformance.check_parallel(lambda case: REFERENCE(case), CheckOptions(max_examples=4), workers=2)


def test_what_is_not_a_candidate_is_named_in_one_line(ports, tmp_path):
    cases = [(3, "target=3 is a int, not a candidate"), (ports.Callable, "is a class, not a candidate"),
             (lambda: None, r"cannot be called as fn\(case\)")]
    empty = tmp_path / "empty_mod.py"
    empty.write_text("def helper(case):\n    return case\n")
    two = tmp_path / "two_mod.py"
    two.write_text("from conformance import candidate\n@candidate\ndef a(case): ...\n@candidate\ndef b(case): ...\n")
    cases += [(str(empty), r"holds no @candidate function.*helper"), (str(two), r"several @candidate functions \(a, b\)")]
    for obj, message in cases:
        with pytest.raises(CandidateLoadError, match=message) as info:
            resolve(obj)
        assert "\n" not in str(info.value)


def test_check_takes_a_function_and_its_result_prints_and_writes_reports(tmp_path, oracle):
    @candidate(features=["forget_bias"], dtypes=["float32"])
    def forgets_the_bias(case):
        return MISSING_BIAS(case)

    good = conformance.check(lambda case: REFERENCE(case), CheckOptions(max_examples=3, seed=1, dtypes=["float32"]),
                             oracle=oracle)
    assert good.verdict == "conformant", str(good)
    assert str(good).startswith("python:<lambda>: CONFORMANT after 3 examples"), str(good)
    assert "&lt;lambda&gt;" in good._repr_html_() and "<lambda>" not in good._repr_html_()

    bad = conformance.check(forgets_the_bias, CheckOptions(max_examples=20, seed=1), oracle=oracle)
    assert bad.verdict == "nonconformant" and bad.counterexample is not None
    text = str(bad)
    assert text.splitlines()[0].startswith("python:forgets_the_bias: NONCONFORMANT"), text
    assert re.search(r"mismatch: outputs\[.*time step .*got .* expected .* allowed", text), text
    assert "features used: none (baseline)" in text and "diagnosis: forget_bias_missing" in text, text
    assert "NONCONFORMANT" in bad._repr_html_()

    paths = bad.write_reports(str(tmp_path / "reports"))
    assert set(paths) == {"json", "html", "junit", "markdown", "case"}, paths
    report = json.loads(Path(paths["json"]).read_text())
    validate_report(report)  # the JSON Schema holds for a python: target too
    assert report["verdict"] == "nonconformant" and report["counterexample"]["repro"] == paths["case"]
    assert Case.load_npz(paths["case"]).config == bad.counterexample.case.config
    only = good.write_reports(str(tmp_path / "json-only"), ["json"])
    assert list(only) == ["json"] and json.loads(Path(only["json"]).read_text())["verdict"] == "conformant"


def test_isolation_imports_a_module_level_function_by_its_target(ports, oracle):
    result = conformance.check(ports.plain, CheckOptions(max_examples=2, seed=0, dtypes=["float32"], isolate=True),
                               oracle=oracle)
    assert result.verdict == "conformant" and result.target == "user_ports:plain", str(result)


def test_fuzz_and_matrix_take_callables(tmp_path, oracle):
    fuzzed = conformance.fuzz(lambda case: MISSING_BIAS(case), conformance.FuzzOptions(
        budget_seconds=8, slice_seconds=3, check=CheckOptions(seed=0, dtypes=["float32"], features=["forget_bias"],
                                                              minimize_seconds=2, diagnose=False)), oracle=oracle)
    assert fuzzed.verdict == "nonconformant", str(fuzzed)
    assert str(fuzzed).startswith("fuzz: NONCONFORMANT") and "python:<lambda>" in str(fuzzed), str(fuzzed)
    written = fuzzed.write_reports(str(tmp_path / "fuzz"))
    assert json.loads(Path(written["json"]).read_text())["verdict"] == "nonconformant"

    forgets = candidate(name="forgets", features=["forget_bias"], dtypes=["float32"])(lambda case: MISSING_BIAS(case))
    m = conformance.matrix([forgets, "numpy-reference"], conformance.MatrixSettings(
        max_examples=3, columns=("baseline", "forget_bias"), minimize_seconds=2, diagnose_seconds=1))
    statuses = {name: {c: cell.status for c, cell in row.items()} for name, row in m.cells.items()}
    assert statuses == {"forgets": {"baseline": "nonconformant", "forget_bias": "nonconformant"},
                        "numpy-reference": {"baseline": "conformant", "forget_bias": "conformant"}}, statuses
    text = str(m)
    assert "FAIL" in text and "forget_bias" in text and m.report_dir and m.report_dir in text, text
    assert "<table>" in m._repr_html_()
    copied = m.write_reports(str(tmp_path / "matrix"))
    data = json.loads(Path(copied["json"]).read_text())
    case = data["cells"]["forgets"]["forget_bias"]["case"]
    assert (tmp_path / "matrix" / case).is_file(), f"the failing cell's case {case} was not copied along"
    assert "forgets" in Path(copied["html"]).read_text(), "matrix.html is written from Python too"


def _readme_block(after: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(after)
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_the_readme_from_python_example_runs(tmp_path, monkeypatch, oracle):
    monkeypatch.chdir(tmp_path)
    code = _readme_block("## From Python")
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.verdict == "conformant" and result.examples == 50, str(result)
    assert Path(namespace["paths"]["html"]).is_file() and (tmp_path / "reports/my_lstm/report.json").is_file()


def test_a_check_that_ran_no_example_is_an_error_never_conformant():
    """A budget spent before the first example (TensorFlow's start-up on a loaded machine took a matrix cell's
    whole time) or a candidate whose accepts= turns every case down has shown nothing: verdict "error", exit 2."""
    reference = resolve("numpy-reference").fn
    timed_out = conformance.check(candidate(name="ref")(lambda case: reference(case)),
                                  CheckOptions(max_examples=20, budget_seconds=1e-9))
    assert (timed_out.verdict, timed_out.examples, timed_out.exit_code) == ("error", 0, 2), str(timed_out)
    assert "no example ran" in (timed_out.error or "") and "budget" in timed_out.error, timed_out.error
    refuses = candidate(name="refuses", accepts=lambda case: False)(lambda case: reference(case))
    refused = conformance.check(refuses, CheckOptions(max_examples=5))
    assert (refused.verdict, refused.examples) == ("error", 0), str(refused)
    assert "accepts=" in (refused.error or ""), refused.error
