"""The numeric libraries' thread pools during a run (conformance/run/_threads.py): capped beside the oracle's
thread, put back afterwards, left alone where the user set a count; one thread per worker."""

from __future__ import annotations

import os

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


def test_a_count_the_user_set_is_left_alone(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    before = _pools()
    with pools_beside_the_oracle(cores=2):
        assert _pools() == before, f"OPENBLAS_NUM_THREADS=2 was overridden: {_pools()}"


def test_workers_get_one_thread_each_unless_the_user_set_a_count(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    with one_thread_per_worker():
        assert {name: os.environ[name] for name in THREAD_VARIABLES} == {
            name: "3" if name == "MKL_NUM_THREADS" else "1" for name in THREAD_VARIABLES}
    assert [name for name in THREAD_VARIABLES if name in os.environ] == ["MKL_NUM_THREADS"]
    assert os.environ["MKL_NUM_THREADS"] == "3"


def test_an_in_process_candidate_runs_with_the_capped_pools(no_user_counts, oracle):
    """check() with the oracle beside the candidate: the candidate's calls see at most cores - 1 threads in
    every pool (one on a 2-core machine), those loaded during the run (SciPy's OpenBLAS, which TensorFlow's
    import loads) included; once the run is over the pools are as before, and a pool loaded meanwhile has
    one thread per core."""
    from conformance.candidates import resolve
    from conformance.candidates._numpy import numpy_reference

    seen: list[dict[str, int]] = []

    def candidate(case):
        seen.append(_pools())
        return numpy_reference(case)

    before = _pools()
    result = check(resolve(candidate), CheckOptions(max_examples=5, seed=3, progress=None), oracle=oracle)
    assert result.verdict == "conformant", result
    cap = max(1, (os.cpu_count() or 1) - 1)
    assert seen and all(n <= cap for pools in seen for n in pools.values()), (cap, seen[:2])
    after = _pools()
    assert {k: after[k] for k in before} == before, (before, after)
    assert all(n == os.cpu_count() for k, n in after.items() if k not in before), after
