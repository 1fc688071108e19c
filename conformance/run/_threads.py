"""The numeric libraries' thread pools during a run: sized to the cores the run leaves them.

A run computes on two threads at once, the oracle's (TensorFlow, its own pool of one thread) and the
main one (the candidate, when it runs in process, and the judge's float64 spec).  A BLAS or OpenMP pool
sized to every core then competes with the oracle's thread, and OpenBLAS's threads spin for a while
after each call on every core they have.  Measured on 2 cores (benchmarks/overhead.py, 400 examples):
numpy-reference used 1.97 ms of CPU per 1.22 ms call with OpenBLAS's default two threads, 1.15 ms with
one, and the harness ran 279 / 270 examples/s uncapped, 305 / 310 capped (alternating pairs).  Results do not depend on it for the default
distribution's shapes but for the last bits of a few wide float64 ones (OpenBLAS splits a product by
its threads), which the tolerance absorbs like any other summation order.

Workers (conformance.run._parallel) get one thread each through the environment, before they import
anything; an in-process run's libraries are loaded by then, so their pools are capped at run time
(threadpoolctl) and put back afterwards.  A thread count the user set (:data:`THREAD_VARIABLES`) is
left alone either way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from conformance.oracle import preloading, wait_for_preload

#: Thread-pool sizes of the numeric libraries a process may load (numpy's BLAS, OpenMP).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def user_set_threads(candidate_env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment, or the candidate's own ``env``, sets any of :data:`THREAD_VARIABLES` (then
    pools are left as they are; a candidate's own count also keeps it in process: no env conflict)."""
    return any(name in os.environ or name in (candidate_env or {}) for name in THREAD_VARIABLES)


@contextlib.contextmanager
def pools_beside_the_oracle(cores: int | None = None, *,
                            candidate_env: Mapping[str, str] | None = None) -> Iterator[None]:
    """The BLAS and OpenMP pools of this process capped at ``cores - 1`` threads (at least one; ``cores``
    defaults to the machine's) for the duration: the oracle's thread keeps a core to itself.  The pools
    loaded already are capped now and put back afterwards; a library first loaded meanwhile (TensorFlow's
    import on its background thread loads SciPy's OpenBLAS, a candidate may load torch on its first call)
    reads the cap from :data:`THREAD_VARIABLES`, set for the duration, and gets ``cores`` threads
    afterwards, as a library loaded with no count does (unless TensorFlow's import is still going then: see
    below).  Nothing where the user or the candidate (``candidate_env``) set a thread count."""
    if user_set_threads(candidate_env):
        yield
        return
    from threadpoolctl import ThreadpoolController

    cores = cores if cores is not None else (os.cpu_count() or 1)
    limit = max(1, cores - 1)
    # threadpoolctl finds the pools by walking the loaded libraries (dl_iterate_phdr, the loader's lock held)
    # with a Python callback: a thread that loads an extension meanwhile (holding the GIL, waiting for that
    # lock) deadlocks with it.  TensorFlow's background import is such a thread: never walk while it runs.
    wait_for_preload()  # (only where an earlier run's import is still going: a run starts it after this)
    before = ThreadpoolController()
    known = {lib.filepath for lib in before.lib_controllers}
    try:
        with before.limit(limits=limit), _thread_counts(limit):
            yield
    finally:
        if not preloading():  # (else the libraries it loaded keep the cap: no walk, no waiting at the end)
            for lib in ThreadpoolController().lib_controllers:
                if lib.filepath not in known:
                    lib.set_num_threads(cores)


def one_thread_per_worker() -> contextlib.AbstractContextManager[None]:
    """Spawned workers inherit the environment: one thread each unless the user set a count (N workers are
    meant to use N cores, not N times every core)."""
    return _thread_counts(1)


@contextlib.contextmanager
def _thread_counts(threads: int) -> Iterator[None]:
    """:data:`THREAD_VARIABLES` the user did not set, set to ``threads`` for the duration."""
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    os.environ.update({name: str(threads) for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
