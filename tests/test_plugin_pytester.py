"""conformance/pytest_plugin.py through pytest's own ``pytester``: outcomes, failure text, inertness.

Each test runs a nested pytest in a subprocess (so the installed ``pytest11`` entry point loads
the plugin as it would for a user) with a handful of examples; e2e by tests/conftest.py.
"""

from __future__ import annotations

import textwrap
from glob import escape

import pytest

from conformance.candidates import resolve
from conformance.spec import DTYPES, FEATURES

# A user's project: its own conftest with a quiet Hypothesis profile (no example database on disk).
CONFTEST = textwrap.dedent("""
    from hypothesis import settings
    settings.register_profile("pytester", database=None, deadline=None)
    settings.load_profile("pytester")
""")

COMMON = ("--lstm-max-examples=5", "--lstm-dtype=float32", "--hypothesis-seed=0", "-p", "no:cacheprovider")
TIMEOUT = 300  # seconds per nested run: a cold TensorFlow import on a busy machine takes a while


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    return pytester


def expected_items(target: str, dtypes: tuple[str, ...]) -> list[str]:
    """The plugin's test ids: the baseline group plus one group per declared feature, times dtypes."""
    info = resolve(target).info
    groups = ["baseline"] + [f for f in FEATURES if f in info.features]
    return [f"lstm-conformance[{target}]::{g}[{d}]" for g in groups for d in DTYPES
            if d in info.dtypes and d in dtypes]


def test_conformant_candidate_passes_one_test_per_feature_group_and_dtype(project: pytest.Pytester):
    ids = expected_items("numpy-reference", ("float32",))
    assert len(ids) == 1 + len(resolve("numpy-reference").info.features & set(FEATURES)), ids
    result = project.runpytest_subprocess("--lstm-candidate=numpy-reference", *COMMON, "-v", timeout=TIMEOUT)
    result.assert_outcomes(passed=len(ids))
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*{escape(i)} PASSED*" for i in ids], consecutive=False)


def test_nonconformant_candidate_fails_with_its_counterexample(project: pytest.Pytester):
    target = "seed-missing-forget-bias"
    result = project.runpytest_subprocess(f"--lstm-candidate={target}", "--lstm-feature=baseline", *COMMON,
                                          timeout=TIMEOUT)
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # What conformance/pytest_plugin.py's _describe prints: verdict, mismatch, the minimized case.
    result.stdout.fnmatch_lines([
        f"{target}: NONCONFORMANT after * examples",
        "mismatch:*",
        "minimized counterexample:",
        "*config: num_units=*",
        f"FAILED {escape(f'lstm-conformance[{target}]::baseline[float32]')}*",
    ])
    result.stdout.no_fnmatch_line("*Traceback*")  # the counterexample, not a stack trace


def test_without_the_option_the_plugin_adds_nothing_and_never_imports_tensorflow(project: pytest.Pytester):
    project.makepyfile(test_user=textwrap.dedent("""
        import sys

        def test_plugin_loaded_but_tensorflow_not_imported(request):
            assert request.config.pluginmanager.hasplugin("lstm_conformance"), "the pytest11 entry point did not load"
            assert "tensorflow" not in sys.modules, "loading the plugin imported TensorFlow"
    """))
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=TIMEOUT)
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*lstm-conformance[[]*")
