"""The numeric libraries' thread pools during a run (conformance/run/_threads.py): capped beside the oracle's
thread, put back afterwards, left alone where the user set a count; one thread per worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info

from conformance.run import THREAD_VARIABLES, CheckOptions, check, pools_beside_the_oracle
from conformance.run._threads import one_thread_per_worker


def _pools() -> dict[str, int]:
    return {p["filepath"]: p["num_threads"] for p in threadpool_info()}


@pytest.fixture
def no_user_counts(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_pools_are_capped_for_the_run_and_put_back(no_user_counts):
    before = _pools()
    assert before, "numpy's BLAS should be a pool threadpoolctl sees"
    with pools_beside_the_oracle(cores=2):
        inside = _pools()
        assert all(n == 1 for n in inside.values()), f"two cores leave the pools one thread: {inside}"
        with pools_beside_the_oracle(cores=4):  # (a nested run caps anew and puts back the outer cap)
            assert all(n <= 3 for n in _pools().values()), _pools()
        assert _pools() == inside
    assert _pools() == before, f"the pools were not put back: {_pools()} after, {before} before"


def test_a_count_the_user_set_is_left_alone(no_user_counts, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    before = _pools()
    with pools_beside_the_oracle(cores=2):
        assert _pools() == before, f"OPENBLAS_NUM_THREADS=2 was overridden: {_pools()}"


def test_workers_get_one_thread_each_unless_the_user_set_a_count(no_user_counts, monkeypatch):
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    with one_thread_per_worker():
        assert {name: os.environ[name] for name in THREAD_VARIABLES} == {
            name: "3" if name == "MKL_NUM_THREADS" else "1" for name in THREAD_VARIABLES}
    assert [name for name in THREAD_VARIABLES if name in os.environ] == ["MKL_NUM_THREADS"]
    assert os.environ["MKL_NUM_THREADS"] == "3"


def _tensorflow_imported() -> None:
    """The candidates below read the pools during the run (threadpoolctl walks the loaded libraries): never
    while TensorFlow's background import loads some (a deadlock, see conformance/run/_threads.py)."""
    from conformance.oracle import import_tensorflow, wait_for_preload

    wait_for_preload()
    import_tensorflow()


def test_a_library_loaded_during_the_run_reads_the_cap_and_gets_every_core_afterwards(tmp_path):
    """In a fresh process: numpy's pool is capped at once; SciPy's, first loaded inside, starts capped (the
    variables) and has one thread per core afterwards."""
    pytest.importorskip("scipy")
    code = (
        "import json, sys\n"
        "from threadpoolctl import threadpool_info\n"
        "from conformance.run import pools_beside_the_oracle\n"
        "pools = lambda: {p['filepath']: p['num_threads'] for p in threadpool_info()}\n"
        "with pools_beside_the_oracle(cores=2):\n"
        "    import scipy.linalg\n"
        "    inside = pools()\n"
        "print(json.dumps([inside, pools()]))\n")
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    inside, after = json.loads(out.stdout.splitlines()[-1])
    scipy_pools = [k for k in inside if "scipy" in k]
    assert scipy_pools, f"SciPy's BLAS was not seen: {inside}"
    assert all(n == 1 for n in inside.values()), inside
    assert all(after[k] == 2 for k in scipy_pools), after


def test_an_in_process_candidate_runs_with_the_capped_pools(no_user_counts, oracle):
    """check() with the oracle beside the candidate: the candidate's calls see at most cores - 1 threads in
    every pool (one on a 2-core machine); once the run is over the pools are as before."""
    from conformance.candidates import resolve
    from conformance.candidates._numpy import numpy_reference

    _tensorflow_imported()

    seen: list[dict[str, int]] = []

    def candidate(case):
        seen.append(_pools())
        return numpy_reference(case)

    before = _pools()
    result = check(resolve(candidate), CheckOptions(max_examples=5, seed=3, progress=None), oracle=oracle)
    assert result.verdict == "conformant", result
    cap = max(1, (os.cpu_count() or 1) - 1)
    assert seen and all(n <= cap for pools in seen for n in pools.values()), (cap, seen[:2])
    assert _pools() == before


def test_a_candidate_that_sets_a_thread_count_itself_keeps_it_and_runs_in_process(no_user_counts, oracle):
    """Its env names a thread variable: the run sets none (else the process would differ from the env it asks
    for, and the candidate would be moved to a process of its own)."""
    from conformance.candidates import candidate, resolve
    from conformance.candidates._numpy import numpy_reference

    _tensorflow_imported()
    seen: list[tuple[int, dict[str, int]]] = []

    @candidate(env={"OPENBLAS_NUM_THREADS": "2"})
    def own_count(case):
        seen.append((os.getpid(), _pools()))
        return numpy_reference(case)

    before = _pools()
    try:
        result = check(resolve(own_count), CheckOptions(max_examples=3, seed=1, progress=None), oracle=oracle)
    finally:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)  # the in-process executor set the candidate's env
    assert result.verdict == "conformant", result
    assert seen and all(pid == os.getpid() for pid, _ in seen), "the candidate did not run in this process"
    assert all({k: pools[k] for k in before} == before for _, pools in seen), (before, seen[:1])
