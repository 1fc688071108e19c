"""Resolving targets and declaring candidates: one place, clear one-line failures that list the options."""

from __future__ import annotations

import pytest

from conformance import CandidateLoadError, InvalidArgument, candidate, resolve
from conformance.candidates import info_of
from conformance.spec import DEFAULT_FEATURES, DTYPES, FEATURES


def test_builtin_names_resolve_with_their_declarations():
    seed = resolve("seed-missing-forget-bias")
    assert seed.source == "builtin" and seed.info.features == frozenset(), seed.info
    ref = resolve("numpy-reference")
    assert ref.info.features == frozenset(FEATURES) and ref.info.dtypes == frozenset(DTYPES), ref.info


def test_module_attr_and_file_targets(tmp_path):
    loaded = resolve("tests.user_candidates.misc:undeclared")
    assert loaded.source == "module" and loaded.info.features == frozenset(DEFAULT_FEATURES)
    path = tmp_path / "mine.py"
    path.write_text("def lstm(case):\n    raise NotImplementedError\n")
    assert resolve(f"{path}:lstm").source == "file"


@pytest.mark.parametrize(
    "target, message",
    [
        ("no-such-candidate", "unknown candidate 'no-such-candidate'; built-in/plugin names:"),
        ("not_a_module_xyz:fn", "cannot import module 'not_a_module_xyz'"),
        ("tests.user_candidates.misc:missing", "has no attribute 'missing'"),
        ("tests.user_candidates.misc:NOT_CALLABLE", "is a int, not a candidate"),
        ("tests.user_candidates.misc:NotAnInstance", "is a class, not a candidate"),
        ("tests.user_candidates.misc:two_args", "cannot be called as fn(case)"),
        ("/nonexistent/file.py:fn", "no such file"),
        ("", "is empty"),
        ("exec:", "has no command"),
    ],
)
def test_bad_targets_fail_in_one_line(target, message):
    with pytest.raises(CandidateLoadError) as info:
        resolve(target)
    text = str(info.value)
    assert message in text and "\n" not in text, text
    if target == "no-such-candidate":
        assert "numpy-reference" in text and "module:attr" in text, text


def test_decorator_returns_the_function_itself_and_checks_names():
    def f(case):
        """First line is the description."""

    assert candidate(f) is f
    assert info_of(f).description == "First line is the description."
    with pytest.raises(InvalidArgument, match="unknown \\['wings'\\]"):
        candidate(features=["wings"])(f)
    with pytest.raises(InvalidArgument, match="dtypes="):
        candidate(dtypes=["int4"])(f)
    with pytest.raises(InvalidArgument, match="dtypes=\\[\\]"):
        candidate(dtypes=[])(f)
