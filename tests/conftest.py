"""Shared fixtures: one TF oracle per test process, Hypothesis profiles with small example counts.

Also the unit/e2e split (docs/testing.md): every test item is marked ``e2e`` or ``unit`` here,
by module, so ``pytest -m unit`` is a quick, TensorFlow-free run without a marker in each file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# tests/test_plugin_pytester.py drives conformance/pytest_plugin.py with the ``pytester`` fixture.
pytest_plugins = ["pytester"]

settings.register_profile(
    "tests", max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
settings.register_profile(
    "nightly", max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
settings.load_profile(os.environ.get("LSTM_CONFORMANCE_PROFILE", "tests"))


@pytest.fixture(scope="session")
def oracle():
    from conformance.oracle import default_oracle

    return default_oracle()


# ---------------------------------------------------------------------------------------- unit / e2e
#: Test modules whose every test is end-to-end: it starts a subprocess (the CLI, isolation
#: workers, exec: candidates, pip, redis-server, chromium, a nested pytest), imports TensorFlow
#: (the ``oracle`` fixture or the oracle package) or another ML framework, or checks wall-clock
#: budgets. Every other module under tests/ is ``unit``. A new module that does any of that
#: belongs here; the guard below fails a ``unit`` test that imports TensorFlow.
E2E_MODULES = frozenset({
    "test_adapters",            # torch/jax/onnx/keras/TF adapters against the TF oracle; keras in a subprocess
    "test_adapters_sequence",   # the adapters with row lengths and time-major cases against the TF oracle
    "test_adapters_network",    # the adapters with stacked and bidirectional cases against the TF oracle
    "test_bad_input",           # the CLI via subprocess
    "test_browser",             # headless chromium
    "test_cli_check",           # the CLI via subprocess, TF oracle
    "test_converters",          # TFLite and tf2onnx converters, TFLite and onnxruntime, the TF oracle
    "test_corpus",              # `fuzz` via the CLI
    "test_diagnose",            # the CLI with the real TF oracle, isolated workers
    "test_diagnose_lengths",    # the CLI and check() with the real TF oracle (row lengths, time-major)
    "test_diagnose_network",    # check() with the real TF oracle (stacked and bidirectional networks)
    "test_diagnose_libraries",  # drives real torch and onnxruntime
    "test_exec",                # gcc and exec: candidates
    "test_hostile_returns",     # the CLI, in process and isolated
    "test_in_process_guard",    # the CLI, and check() with the TF oracle
    "test_tf_candidates",       # candidates built on TF itself, through the CLI
    "test_margins_nightly",     # the TF oracle on thousands of long 16-bit cases (nightly marker)
    "test_exec_sequence",       # exec: candidates with lengths and time-major inputs, the CLI
    "test_faults",              # isolation workers, TF oracle, a fuzz wall-clock budget
    "test_fuzz",                # `fuzz` via the CLI, wall-clock budgets
    "test_pinned_params",       # check --params via the CLI and check(), TF oracle
    "test_model_candidates",    # torch/ONNX/TFLite/Keras models as candidates, TF oracle
    "test_fuzz_merge",          # `merge` via the CLI
    "test_size_tail_e2e",       # threshold mistakes against the TF oracle; the CLI's check and fuzz (slow)
    "test_hang_budget",         # isolation workers, timeouts, a fuzz wall-clock budget
    "test_input_mutation",      # TF oracle, isolation workers
    "test_interrupt",           # signals to CLI subprocesses
    "test_isolation",           # isolation worker processes, timeouts
    "test_list",                # the CLI via subprocess
    "test_matrix",              # TF oracle
    "test_oracle_cache",        # TF oracle graphs written to and imported from a graph cache
    "test_oracle",              # TF oracle
    "test_oracle_perf",         # TF oracle
    "test_oracle_sequence",     # TF oracle (dynamic_rnn), eager TF
    "test_oracle_network",      # TF oracle (MultiRNNCell, bidirectional_dynamic_rnn)
    "test_orphans",             # kill -9 of CLI and harness subprocesses, isolation workers
    "test_parallel",            # worker processes, TF oracle
    "test_plugin",              # pip install in a subprocess, the CLI
    "test_plugin_pytester",     # nested pytest in a subprocess running the TF oracle
    "test_pytest_plugin",       # nested pytest in a subprocess running the TF oracle
    "test_redis",               # redis-server, fuzz workers
    "test_regressions",         # TF oracle
    "test_reports",             # the CLI via subprocess
    "test_reports_sequence",    # the CLI via subprocess, headless chromium
    "test_repro",               # the CLI via subprocess
    "test_report_loss",         # signals to CLI subprocesses at the end of a run
    "test_disk_full",           # the CLI via subprocess under a file-size limit
    "test_redis_outage",        # redis-server killed and restarted under a fuzz run
    "test_python_api",          # check/fuzz/matrix from Python with the TF oracle, an isolation worker
    "test_testing",             # assert_conformant and the Oracle (TF), a nested pytest with the plugin
    "test_diagnosis_catalogue", # dozens of minimize + diagnose runs on hand-written wrong implementations
    "test_replay_anywhere",     # check and repro via subprocesses in different directories, TF oracle
    "test_progress",            # the CLI via subprocess (progress lines before and during a run)
    "test_shards",              # fuzz --shard via the CLI against a real redis-server, merge
    "test_cli_messages",        # the CLI via subprocess (accepts notice, relative error, workers)
})

_TESTS_DIR = Path(__file__).resolve().parent

#: What a unit test must not import (TensorFlow above all: it alone takes seconds).
HEAVY_MODULES = ("tensorflow", "tf_keras", "torch", "jax", "onnxruntime")


def _is_e2e(item: pytest.Item) -> bool:
    return item.path.stem in E2E_MODULES or "oracle" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = getattr(item, "path", None)
        if path is None or _TESTS_DIR not in Path(path).resolve().parents:
            continue  # not one of ours (e.g. an item generated by --lstm-candidate)
        item.add_marker(pytest.mark.e2e if _is_e2e(item) else pytest.mark.unit)


def _heavy_loaded() -> set[str]:
    return {name for name in HEAVY_MODULES if name in sys.modules}


#: Heavy modules this process already knows of: imported by an e2e test, or reported once.
_accounted: set[str] = set()


def _unit_guard(item: pytest.Item, phase: str):
    """Wraps a test's setup or call: a ``unit`` test that imports a heavy module fails, naming it."""
    if item.get_closest_marker("unit") is None:
        try:
            return (yield)
        finally:
            _accounted.update(_heavy_loaded())
    before = _heavy_loaded()
    result = yield
    preloaded, new = before - _accounted, _heavy_loaded() - before
    _accounted.update(preloaded, new)
    if new:
        pytest.fail(f"this unit test imported {', '.join(sorted(new))} during {phase}: "
                    f"add {item.path.stem!r} to E2E_MODULES in tests/conftest.py (docs/testing.md)", pytrace=False)
    if preloaded:
        pytest.fail(f"{', '.join(sorted(preloaded))} imported before any e2e test ran: a test module, helper or "
                    "conftest imports it at import time (tests/conftest.py, docs/testing.md)", pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    return (yield from _unit_guard(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    return (yield from _unit_guard(item, "the test"))
