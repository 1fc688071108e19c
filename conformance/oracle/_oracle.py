"""The oracle: real TensorFlow running the real legacy ``LSTMCell``.

:class:`TFOracle` runs every case through a cached graph: one per dtype (and per layout and
network shape for the dynamic_rnn graphs) whatever the sizes and activation, plus an
exact-structure graph for the rare case whose state overflows
(how one graph serves every config bit-identically, and where the time goes:
conformance/oracle/_graph.py; the measurements behind it: benchmarks/README.md).
:class:`EagerOracle` is TF's cell the straightforward way, kept as the cross-check.

State is owned by objects.  A :class:`TFOracle` owns everything it holds or changes: its graph
cache (and the Sessions in it), the lock that serialises building and running them, the thread
:meth:`TFOracle.submit` runs them on, and the shortened GIL switch interval while its submitted
runs are pending (:class:`_SwitchInterval`).  :meth:`TFOracle.close` (or the end of a ``with``
block) gives all of it back.  Module-level mutable state is caches only, each documented where
it is defined: :data:`_default` (the process-wide oracle of :func:`default_oracle`) and
:data:`_open_oracles` (the oracles to close at exit); TF itself is cached in ``_tf.py``.
"""

from __future__ import annotations

import atexit
import sys
import threading
import weakref
from collections.abc import Iterable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from conformance.oracle._cache import StoredGraph, load_graph, store_graph
from conformance.oracle._graph import Graph, pack_case, unpack_result
from conformance.oracle._network import (
    NetworkGraph,
    network_key,
    pack_network_case,
    structure_key,
    unpack_network_result,
    uses_network_graph,
)
from conformance.oracle._preload import preload_tensorflow
from conformance.oracle._sequence import (
    SequenceGraph,
    all_finite,
    pack_sequence_case,
    unpack_sequence_result,
    uses_sequence_graph,
)
from conformance.oracle._tf import import_tensorflow, tensorflow_version, tf_imported
from conformance.spec import Case, ConformanceError, LSTMConfig, LSTMParams, Result, zero_state

#: GIL switch interval (seconds) while an oracle run is pending (the default is 0.005).
_PENDING_SWITCH_INTERVAL = 0.0002


class _SwitchInterval:
    """Shortens the GIL switch interval while any of one oracle's runs is pending, restores it after the last.

    The oracle's thread needs the GIL for a moment to enter TF, and again to leave it,
    while the caller runs the candidate's Python: with the default 5 ms switch interval
    it would wait most of an example for it.

    The switch interval belongs to the interpreter, not to the oracle, so the first pending run
    saves and shortens it (unless it is that short already) and the last restores it *only if it
    is still the value set here*: whoever changed it meanwhile (the caller, or another oracle)
    keeps theirs.  So two oracles whose pending runs overlap, in any order, leave it as they found
    it; the second one's runs may just finish on the restored interval once the first is done.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # enter() runs in callers' threads, leave() in the oracle's
        #: Runs submitted and not yet done (finished, failed or cancelled).
        self.pending = 0
        self._saved: float | None = None  # the interval before the first pending run
        self._set: float | None = None  # the interval set here, as sys.getswitchinterval() reads it back

    def enter(self) -> None:
        """One more run pending: shorten the interval if it is the first."""
        with self._lock:
            if self.pending == 0 and sys.getswitchinterval() > _PENDING_SWITCH_INTERVAL:
                # (Already that short, e.g. by another oracle: left alone.  Setting it anyway would
                # not be a no-op: the interpreter keeps whole microseconds, so 0.0002 reads back as
                # 0.000199..., which set again becomes 0.000198: a value no one would restore.)
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(_PENDING_SWITCH_INTERVAL)
                self._set = sys.getswitchinterval()
            self.pending += 1

    def leave(self, _done: object = None) -> None:
        """One run fewer pending (also a Future's done callback): restore the interval after the last."""
        with self._lock:
            if self.pending == 0:  # restore() came first (the oracle was closed)
                return
            self.pending -= 1
            if self.pending == 0:
                self._restore()

    def restore(self) -> None:
        """Restore the interval now if it is still shortened, whatever is pending (:meth:`TFOracle.close`)."""
        with self._lock:
            self.pending = 0
            self._restore()

    def _restore(self) -> None:
        if self._saved is not None and sys.getswitchinterval() == self._set:
            sys.setswitchinterval(self._saved)
        self._saved = self._set = None


class TFOracle:
    """Runs cases through TF's LSTMCell; thread-safe; one graph per dtype (the activation is fed).

    ``run(case)`` returns a :class:`Result` in the case's dtype: outputs
    [B, T, P], c [B, H], h [B, P].  ``graph_builds`` counts graphs made (at most
    len(DTYPES) for single cells, plus three exact-structure graphs per key for
    cases that overflow, whatever the sizes), ``graph_loads`` those of them imported
    from the graph cache (conformance/oracle/_cache.py) instead of built, ``calls`` the
    cases run.

    The oracle owns its lock, thread, graphs and switch-interval shortening (module
    docstring).  ``close()`` gives them back: it cancels the runs still queued, waits for the
    one running, closes every graph's Session and restores the switch interval.  It is
    idempotent; afterwards :meth:`run`, :meth:`submit` and :meth:`warm` raise
    :class:`ConformanceError` (the counters stay readable).  ``with TFOracle() as oracle:``
    closes it at the end of the block; an oracle still open at exit is closed then.
    """

    def __init__(self) -> None:
        self._graphs: dict[tuple, Graph | SequenceGraph | NetworkGraph | StoredGraph] = {}
        #: Cases re-run on an exact-structure cell because a neutral value met an infinity.
        self.exact_structure_runs = 0
        self.graph_builds = 0
        #: Of graph_builds, the graphs imported from the graph cache instead of built (conformance/oracle/_cache.py).
        self.graph_loads = 0
        self.calls = 0
        # Serialises building and running this oracle's graphs, and closing them.  Each oracle has
        # its own: two oracles never wait for each other.
        self._lock = threading.Lock()
        # The thread submit() runs on; ThreadPoolExecutor starts it at the first submit.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lstm-conformance-oracle")
        self._switch_interval = _SwitchInterval()
        self._closed = False
        _open_oracles.add(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called (the oracle can no longer run cases)."""
        return self._closed

    @property
    def version(self) -> str:
        return tensorflow_version()

    @property
    def ready(self) -> bool:
        """Whether TensorFlow is imported (a run starting while it is not evaluates its first cases with the
        candidate first: conformance.run)."""
        return tf_imported()

    def prepare(self) -> None:
        """Start importing TensorFlow in the background, if it is not imported yet, and return at once
        (conformance/oracle/_preload.py): whatever needs it meanwhile waits for that one import."""
        self._check_open()
        preload_tensorflow()

    @staticmethod
    def key(config: LSTMConfig) -> tuple[str]:
        """The key of the graph that runs ``config``: (dtype,) (the activation is fed)."""
        return (config.dtype,)

    def _graph_key(self, case: Case, exact_structure: bool = False) -> tuple:
        """The key of the graph that runs ``case`` (see :meth:`graph_keys`)."""
        config = case.config
        if uses_network_graph(case):
            return network_key(case) + ((structure_key(case),) if exact_structure else ())
        key: tuple = self.key(config)
        if uses_sequence_graph(case):
            key = ("dynamic_rnn", *key, config.time_major)
        if exact_structure:
            key += (config.use_peepholes, config.num_proj is not None)
        return key

    def _graph(self, case: Case, exact_structure: bool = False) -> Any:
        """The graph for ``case``, built on first need (callers hold the lock)."""
        key = self._graph_key(case, exact_structure)
        g = self._graphs.get(key)
        if g is None:
            g = load_graph(key)  # built by an earlier process (conformance/oracle/_cache.py)
            if g is not None:
                self.graph_loads += 1
            else:
                if key[0] == "network":
                    g = NetworkGraph(key[1], key[2], key[3], key[4], structure=key[5] if exact_structure else None)
                elif key[0] == "dynamic_rnn":
                    g = SequenceGraph(*key[1:])
                else:
                    g = Graph(*key)
                store_graph(key, g)
            self._graphs[key] = g
            self.graph_builds += 1
        return g

    def graph_keys(self) -> list[tuple]:
        """The key of every graph built so far (none once closed): ``(dtype,)`` for the
        fast graph, ``("dynamic_rnn", dtype, time_major)`` for the sequence graph (cases
        with lengths or time-major inputs), each followed by ``(peepholes, projection)`` for an
        exact-structure graph."""
        return list(self._graphs)

    def warm(self, configs: Iterable[LSTMConfig], *, sequence_length: bool = False) -> None:
        """Build the graphs ``configs`` need and run each once (the first run of a graph is
        where TF optimises it), so that timing what follows measures examples, not set-up.
        ``sequence_length``: the graphs of cases with row lengths (``dynamic_rnn``'s) too."""
        for config in configs:
            I, H, P = config.input_size, config.num_units, config.output_size
            zeros = lambda *shape, dtype=config.np_dtype: np.zeros(shape, dtype)
            peephole = zeros(H) if config.use_peepholes else None
            params = LSTMParams(kernel=zeros(I + P, 4 * H), bias=zeros(4 * H), w_i_diag=peephole, w_f_diag=peephole,
                                w_o_diag=peephole, proj_kernel=zeros(H, P) if config.num_proj is not None else None)
            self.run(Case(config, params, zeros(1, 1, I), zero_state(config, 1)))
            if sequence_length:
                self.run(Case(config, params, zeros(1, 1, I), zero_state(config, 1), np.ones(1, np.int32)))

    def submit(self, case: Case) -> PendingRun:
        """Start :meth:`run` on the oracle's own thread and return at once.

        TF computes without holding the GIL, so the caller can run the candidate
        meanwhile: on two cores an example then costs about max(oracle, candidate),
        not their sum.  The Python parts (packing the feeds, unpacking the result)
        run in the caller's thread, so the oracle's thread needs the GIL only to
        enter TF.
        """
        self._check_open()
        # TensorFlow is imported, and a graph built, here in the caller's thread, never on the oracle's
        # thread while the caller runs a candidate: a candidate built on TF (tf-keras layers, a converter)
        # shares TF's and tf-keras' process-wide state, which a concurrent import or graph build corrupts
        # ("Registering two gradient with name ...", "Your Layer or Model is in an invalid state").
        # The oracle's thread only runs graphs that exist.
        return PendingRun(self, case, _pack(case), self._ensure_graph(case))

    def _ensure_graph(self, case: Case) -> tuple:
        """Build the graph ``case`` runs on if it does not exist (in the caller's thread); returns its key."""
        import_tensorflow()
        key = self._graph_key(case)
        if key not in self._graphs:
            with self._lock:
                self._check_open()
                self._graph(case)
        return key

    def run(self, case: Case) -> Result:
        return self._finish(case, self._emit(_pack(case), self._ensure_graph(case)))

    def close(self) -> None:
        """Cancel the queued runs, wait for the running one, close every graph's Session, restore the
        switch interval if it is still shortened, and refuse further use.  Idempotent."""
        self._closed = True  # from here on a run raises, queued ones included as they start
        self._thread.shutdown(wait=True, cancel_futures=True)  # cancelling or finishing counts each one down
        with self._lock:
            graphs, self._graphs = list(self._graphs.values()), {}
            for graph in graphs:
                graph.close()
        self._switch_interval.restore()
        _open_oracles.discard(self)

    def __enter__(self) -> TFOracle:
        self._check_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _closed_error(self) -> ConformanceError:
        return ConformanceError("this TFOracle is closed (by close() or the end of its with block); "
                                "use a new TFOracle or default_oracle()")

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def _start(self, feeds: tuple[np.ndarray, np.ndarray], key: tuple) -> Future:
        """Queue :meth:`_emit` on the oracle's thread; the switch interval stays short until it is done."""
        self._switch_interval.enter()
        try:
            future = self._thread.submit(self._emit, feeds, key)
        except BaseException as exc:
            self._switch_interval.leave()  # nothing will run to count it down
            if self._closed:  # closed meanwhile: the executor refuses new work
                raise self._closed_error() from exc
            raise
        # Counted down when TF is done (or the run is cancelled), whether or not anyone asks for the result.
        future.add_done_callback(self._switch_interval.leave)
        return future

    def _emit(self, feeds: tuple[np.ndarray, np.ndarray], key: tuple) -> Any:
        """Run the graph of ``key`` (built already, by :meth:`_ensure_graph`) on the oracle's thread."""
        with self._lock:
            self._check_open()
            emitted = self._graphs[key].run(*feeds)
            self.calls += 1
        return emitted

    def _finish(self, case: Case, emitted: Any) -> Result:
        neutral = any(not c.config.use_peepholes or c.config.num_proj is None for _, _, c in case.cells())
        if neutral and not all_finite(emitted):
            # A zero peephole times an infinite cell state, or an infinite output times the
            # identity projection's zeros, is NaN where the real cell has none: this case goes
            # to a graph of its own structure (rare: a 16-bit cell that overflows), built on
            # first need and reused: at most 3 per key, and only the keys that
            # overflow ever need one.
            with self._lock:
                self._check_open()
                emitted = self._graph(case, exact_structure=True).run(*_pack(case))
                self.exact_structure_runs += 1
        if uses_network_graph(case):
            return unpack_network_result(emitted, case)
        return unpack_sequence_result(emitted, case) if uses_sequence_graph(case) else unpack_result(emitted, case)


def _pack(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The feeds of the graph that runs ``case`` (the network graph for several cells, the sequence graph for
    lengths or time-major inputs, else the fast one)."""
    if uses_network_graph(case):
        return pack_network_case(case)
    return pack_sequence_case(case) if uses_sequence_graph(case) else pack_case(case)


class PendingRun:
    """An oracle run in progress (:meth:`TFOracle.submit`); ``result()`` waits for it.

    ``result()`` raises :class:`ConformanceError` if the oracle was closed before the run was done.
    """

    def __init__(self, oracle: TFOracle, case: Case, feeds: tuple[np.ndarray, np.ndarray], key: tuple):
        self._case = case
        self._oracle = oracle
        self._future = oracle._start(feeds, key)

    def result(self) -> Result:
        try:
            emitted = self._future.result()
        except CancelledError:  # only close() cancels
            raise self._oracle._closed_error() from None
        return self._oracle._finish(self._case, emitted)


#: Cache: every TFOracle not yet closed, held weakly (a dropped oracle's Sessions are closed by TF's
#: own finalizers, which work until interpreter shutdown begins); :func:`_close_open_oracles` closes
#: the rest at exit.
_open_oracles: weakref.WeakSet[TFOracle] = weakref.WeakSet()


@atexit.register
def _close_open_oracles() -> None:
    """Close every oracle still open, the default one included: TF's own finalizers fail once
    interpreter shutdown has begun tearing modules down, so the Sessions are closed here, first."""
    for oracle in list(_open_oracles):
        oracle.close()


#: Cache: the process-wide oracle of :func:`default_oracle` (one TF import, one graph cache per
#: process), made at the first call; :func:`reset_default_oracle` closes and forgets it.
_default: TFOracle | None = None
_default_lock = threading.Lock()  # guards _default: two threads asking at once get one oracle


def default_oracle() -> TFOracle:
    """The process-wide oracle (one TF import, one graph cache per process); a new one if it was closed."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = TFOracle()
        return _default


def reset_default_oracle() -> None:
    """Close the process-wide oracle, if there is one, and forget it: the next :func:`default_oracle` makes
    a new one."""
    global _default
    with _default_lock:
        oracle, _default = _default, None
    if oracle is not None:
        oracle.close()
