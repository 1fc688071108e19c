"""The oracle: real TensorFlow running the real legacy ``LSTMCell``.

Design (measurements behind it: benchmarks/README.md): one ``tf.compat.v1``
graph + Session per ``(dtype, activation)``, reused for every case of that
dtype and activation *whatever its sizes*.  The number of graph builds is
therefore at most len(DTYPES) x len(ACTIVATIONS) = 16, however many examples
run and however their sizes vary.

How one graph serves every config, exactly:

* the case's arrays are fed at their real sizes (the cell's weights come from
  a variable-scope custom getter that hands it slices of the fed buffer), so
  every op sees the shapes TF's eager cell sees.  Nothing is padded: padding a
  matmul changes its summation order, and long chaotic sequences amplify that
  past float32 tolerance;
* the cell is always built with ``use_peepholes=True`` and a projection; a case
  without peepholes is fed zero peephole weights (``x + 0 * c == x`` exactly),
  one without projection an identity ``proj_kernel`` (``m @ I == m`` exactly);
* ``forget_bias``, ``cell_clip`` and ``proj_clip`` are fed as scalars (no clip
  is fed as +inf, and ``clip(x, -inf, inf) == x`` exactly);
* Grappler's remapper is off: it fuses e.g. MatMul+BiasAdd and in float16 and
  bfloat16 skips the rounding between them, which TF's eager cell does not.

With these, the results are bit-identical to a freshly built exact-config cell
stepped eagerly (tests/test_oracle.py, tests/test_oracle_perf.py).  The neutral
values stop being neutral only once a state is infinite (``0 * inf`` is NaN),
which a 16-bit relu cell can reach: such a case is re-run on a graph built with its
own structure (no peepholes and/or no projection), keyed by (dtype, activation,
peepholes, projection) and built the first time a case needs it.

Where the time goes, and why the graph looks the way it does:

* a Session call costs ~70 us plus ~30 us *per fed array*, so a case is fed as
  two arrays: one flat buffer of every float (weights, state, scalars, inputs)
  and one int32 vector of piece sizes and dimensions; the graph splits and
  reshapes them once per run;
* ``dynamic_rnn``'s loop costs about as many executor ops per step as the cell
  itself (TensorArray read/write, loop-variable plumbing), so the graph runs its
  own ``tf.while_loop`` whose body calls the cell :data:`UNROLL` times; the
  time axis is padded with zero inputs to a multiple of :data:`UNROLL` and the
  padded steps' results are dropped (the final state is read at step ``T - 1``,
  which is why the loop emits ``c`` as well as the output ``m`` per step).

The cell's own per-step ops are untouched: it is TF's ``LSTMCell.call``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import warnings
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterable

import numpy as np

from conformance._spec import Case, LSTMConfig, LSTMParams, Result, zero_state

_tf: Any = None
_lock = threading.Lock()


def import_tensorflow() -> Any:
    """Import TensorFlow once, with the legacy (tf-keras) cells available."""
    global _tf
    if _tf is None:
        # In TF >= 2.16 tf.compat.v1.nn.rnn_cell needs tf-keras; set before the import.
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        # TF's standard (Eigen) CPU kernels rather than oneDNN's, unless the user chose: oneDNN
        # JIT-compiles and caches a kernel per float16/bfloat16 matmul *shape* (TF keeps up to
        # 1024 per dtype, ~0.3 MB each), and a harness draws new shapes all the time, so RSS
        # climbed by ~300 MB per 16-bit dtype and every new shape cost a compile.  Either way the
        # oracle is bit-identical to TF's eager cell in the same process (tests/test_oracle_perf.py).
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        with _quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import tensorflow as tf
            import tf_keras  # noqa: F401  (the legacy cells)

        tf.get_logger().setLevel("ERROR")
        _tf = tf
    return _tf


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ start-up chatter TF prints on fd 2 (absl, oneDNN, CUDA stubs) while importing."""
    if os.environ.get("LSTM_CONFORMANCE_TF_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tensorflow_version() -> str:
    """TF's version, without importing TF where it is not imported yet (a ``--workers`` parent)."""
    if _tf is not None:
        return _tf.__version__
    import importlib.metadata

    for dist in ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return import_tensorflow().__version__


def _tf_dtype(tf: Any, name: str) -> Any:
    return {"float16": tf.float16, "bfloat16": tf.bfloat16, "float32": tf.float32, "float64": tf.float64}[name]


#: Cell steps per loop iteration (see the module docstring); time is padded to a multiple of it.
UNROLL = 8

#: The float feed, in order: the cell's weights by the names it asks for, the initial state,
#: the scalar options and the time-major inputs.  Shapes are in :func:`pack_case`.
_PIECES = ("kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag", "projection/kernel", "c0", "h0",
           "forget_bias", "cell_clip", "proj_clip", "inputs")
_WEIGHTS = frozenset(_PIECES[:6])
_PEEPHOLES = frozenset({"w_i_diag", "w_f_diag", "w_o_diag"})
#: The int feed: one size per piece, then these dimensions.
_DIMS = ("rows", "gates", "units", "outputs", "batch", "blocks", "input_size")


_open_graphs: "weakref.WeakSet[_Graph]" = weakref.WeakSet()


@atexit.register
def _close_open_graphs() -> None:
    for graph in list(_open_graphs):
        graph.close()


class _Graph:
    """One graph for a ``(dtype, activation)`` key, for every size.

    Feeds (see :func:`pack_case`): ``floats``, every array of the case flattened
    into one buffer, and ``ints``, the size of each piece and the dimensions the
    graph reshapes them to.  Fetch: [Tpad / UNROLL, UNROLL, B, P + H], per step the
    output ``m`` [B, P] then the cell state ``c`` [B, H].
    """

    def __init__(self, dtype: str, activation: str, peepholes: bool = True, projection: bool = True):
        tf = import_tensorflow()
        from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

        v1 = tf.compat.v1
        self.graph = tf.Graph()
        tdt = _tf_dtype(tf, dtype)
        K = UNROLL
        with self.graph.as_default():
            self.floats = v1.placeholder(tdt, [None], name="floats")
            self.ints = v1.placeholder(tf.int32, [len(_PIECES) + len(_DIMS)], name="ints")
            pieces = dict(zip(_PIECES, tf.split(self.floats, self.ints[: len(_PIECES)], num=len(_PIECES))))
            dim = dict(zip(_DIMS, tf.unstack(self.ints[len(_PIECES) :], num=len(_DIMS))))
            weights = {
                "kernel": tf.reshape(pieces["kernel"], tf.stack([dim["rows"], dim["gates"]])),
                "bias": pieces["bias"],
                "w_i_diag": pieces["w_i_diag"],
                "w_f_diag": pieces["w_f_diag"],
                "w_o_diag": pieces["w_o_diag"],
                "projection/kernel": tf.reshape(pieces["projection/kernel"], tf.stack([dim["units"], dim["outputs"]])),
                **{k: tf.reshape(pieces[k], []) for k in ("forget_bias", "cell_clip", "proj_clip")},
            }
            c0 = tf.reshape(pieces["c0"], tf.stack([dim["batch"], dim["units"]]))
            h0 = tf.reshape(pieces["h0"], tf.stack([dim["batch"], dim["outputs"]]))
            x = tf.reshape(pieces["inputs"], tf.stack([dim["blocks"], K, dim["batch"], dim["input_size"]]))
            used: set[str] = set()

            def step(x_t: Any, c: Any, m: Any, fed: dict[str, Any]) -> tuple[Any, Any]:
                """One call of TF's LSTMCell: (x_t [B, I], c [B, H], m [B, P]) -> (new c, new m)."""

                def fed_weights_getter(getter: Any, *args: Any, **kwargs: Any) -> Any:
                    # Hand the cell a fed tensor instead of a variable, so each case's
                    # weights (of any size) are fed per run without assign ops or a rebuild.
                    name = kwargs["name"].rsplit("lstm_cell/", 1)[-1]
                    if name not in _WEIGHTS:
                        raise RuntimeError(f"TF LSTMCell asked for an unexpected weight {name!r}")
                    used.add(name)
                    return fed[name]

                with v1.variable_scope("oracle", custom_getter=fed_weights_getter), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # LSTMCell's deprecation notice: using it is the point
                    # num_units/num_proj only size the weights the getter replaces and the
                    # state_size nothing here uses: the fed arrays carry the real sizes.
                    cell = v1.nn.rnn_cell.LSTMCell(
                        1,
                        use_peepholes=peepholes,
                        cell_clip=fed["cell_clip"],
                        num_proj=1 if projection else None,
                        proj_clip=fed["proj_clip"] if projection else None,
                        forget_bias=fed["forget_bias"],
                        activation=None if activation == "tanh" else activation,
                        dtype=tdt,
                    )
                    cell.build(tf.TensorShape([None, 1]))
                    # LSTMCell.call insists on a static input width but only to check that
                    # it is known; its ops use the runtime shape (the case's I).
                    x_t.set_shape([None, 1])
                    m, (c, _) = cell(x_t, v1.nn.rnn_cell.LSTMStateTuple(c, m))
                return c, m

            # The cell's ops are traced once into a function that the loop body calls UNROLL
            # times (Grappler inlines the calls): building the graph costs one cell, not UNROLL.
            matrix, vector, scalar = (tf.TensorSpec(s, tdt) for s in ([None, None], [None], []))
            specs = {name: matrix if name in ("kernel", "projection/kernel") else vector for name in _WEIGHTS}
            specs.update(forget_bias=scalar, cell_clip=scalar, proj_clip=scalar)
            cell_step = tf.function(step, autograph=False).get_concrete_function(matrix, matrix, matrix, specs)
            emitted = tf.TensorArray(tdt, size=dim["blocks"], element_shape=tf.TensorShape([K, None, None]))

            def body(b: Any, c: Any, m: Any, emitted: Any) -> tuple[Any, ...]:
                outs, cells = [], []
                for x_t in tf.unstack(tf.gather(x, b), num=K):
                    c, m = cell_step(x_t, c, m, weights)
                    outs.append(m)
                    cells.append(c)
                return b + 1, c, m, emitted.write(b, tf.concat([tf.stack(outs), tf.stack(cells)], axis=2))

            *_, emitted = tf.while_loop(lambda b, *_: b < dim["blocks"], body, [tf.constant(0), c0, h0, emitted])
            fetch = emitted.stack()
            wanted = _WEIGHTS - (set() if peepholes else _PEEPHOLES) - (set() if projection else {"projection/kernel"})
            if used != wanted:  # a tf-keras change would show here, not as wrong numbers
                raise RuntimeError(f"TF LSTMCell created unexpected weights {sorted(used)}")
            # One thread each: workers run one process per core.  Not -1 ("run in the caller's
            # thread"), which is a little faster but skips the flush-denormals-to-zero mode TF's
            # own threads run in, so tiny results would differ from TF's eager cell.
            config = v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
            # Grappler's remapper fuses e.g. MatMul+BiasAdd and, in float16/bfloat16, skips the
            # rounding between them; without it every op rounds as TF's eager cell does, and the
            # results are bit-identical to it (tests/test_oracle_perf.py).
            config.graph_options.rewrite_options.remapping = rewriter_config_pb2.RewriterConfig.OFF
            self.session = v1.Session(graph=self.graph, config=config)
            # Session.make_callable with a feed list is Session.run with a feed_dict (~0.3 ms of
            # Python per call); a callable made from CallableOptions runs straight in C++.
            callable_options = config_pb2.CallableOptions(feed=[self.floats.name, self.ints.name], fetch=[fetch.name])
            self._callable = self.session._make_callable_from_options(callable_options)
        _open_graphs.add(self)

    def run(self, floats: np.ndarray, ints: np.ndarray) -> np.ndarray:
        return self._callable(floats, ints)[0]

    def close(self) -> None:
        """Release the callable and the Session (TF's own finalizers fail once interpreter shutdown
        has begun tearing modules down, hence :func:`_close_open_graphs` at exit)."""
        self._callable = None
        self.session.close()


def pack_case(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The graph's two feeds for ``case``: ``(floats, ints)``.

    ``floats`` holds, flattened in :data:`_PIECES` order and in the case's dtype:
    kernel [I + P, 4H], bias [4H], w_i/w_f/w_o_diag [H] (zeros without
    peepholes: ``x + 0 * c == x``), projection kernel [H, P] (the identity without
    a projection: ``m @ I == m``), c0 [B, H], h0 [B, P], forget_bias, cell_clip and
    proj_clip (+inf when unset: ``clip(x, -inf, inf) == x``), inputs time-major
    [Tpad, B, I] zero-padded to a multiple of UNROLL steps.
    """
    cfg = case.config
    I, H, P = cfg.input_size, cfg.num_units, cfg.output_size
    B, T = case.batch, case.time
    blocks = -(-T // UNROLL)
    p = case.params
    sizes = ((I + P) * 4 * H, 4 * H, H, H, H, H * P, B * H, B * P, 1, 1, 1, blocks * UNROLL * B * I)
    floats = np.zeros(sum(sizes), dtype=cfg.np_dtype)
    views, offset = {}, 0
    for name, size in zip(_PIECES, sizes):
        views[name] = floats[offset : offset + size]
        offset += size
    views["kernel"][:] = p.kernel.reshape(-1)
    views["bias"][:] = p.bias
    if cfg.use_peepholes:
        for name in ("w_i_diag", "w_f_diag", "w_o_diag"):
            views[name][:] = getattr(p, name)
    if cfg.num_proj is not None:
        views["projection/kernel"][:] = p.proj_kernel.reshape(-1)
    else:
        views["projection/kernel"][:: H + 1] = 1  # the diagonal of [H, H]
    views["c0"][:] = case.initial_state.c.reshape(-1)
    views["h0"][:] = case.initial_state.h.reshape(-1)
    views["forget_bias"][0] = cfg.forget_bias
    views["cell_clip"][0] = np.inf if cfg.cell_clip is None else cfg.cell_clip
    views["proj_clip"][0] = np.inf if cfg.proj_clip is None else cfg.proj_clip
    views["inputs"].reshape(blocks * UNROLL, B, I)[:T] = case.inputs.transpose(1, 0, 2)
    ints = np.array(sizes + (I + P, 4 * H, H, P, B, blocks, I), dtype=np.int32)
    return floats, ints


def unpack_result(emitted: np.ndarray, case: Case) -> Result:
    """The graph's [Tpad / UNROLL, UNROLL, B, P + H] fetch -> Result (outputs [B, T, P], c [B, H], h [B, P])."""
    cfg = case.config
    T, P = case.time, cfg.output_size
    steps = emitted.reshape(-1, case.batch, emitted.shape[-1])
    return Result(
        outputs=np.ascontiguousarray(steps[:T, :, :P].transpose(1, 0, 2)),
        c=np.ascontiguousarray(steps[T - 1, :, P:]),
        h=np.ascontiguousarray(steps[T - 1, :, :P]),
    )


class Oracle:
    """Runs cases through TF's LSTMCell; thread-safe; one graph per (dtype, activation).

    ``run(case)`` returns a :class:`Result` in the case's dtype: outputs
    [B, T, P], c [B, H], h [B, P].  ``graph_builds`` counts graphs built (at most
    len(DTYPES) x len(ACTIVATIONS), plus three exact-structure graphs per key for
    cases that overflow, whatever the sizes), ``calls`` the cases run.
    """

    def __init__(self) -> None:
        self._graphs: dict[tuple, _Graph] = {}
        #: Cases re-run on an exact-structure cell because a neutral value met an infinity.
        self.exact_structure_runs = 0
        self._thread: ThreadPoolExecutor | None = None
        self.graph_builds = 0
        self.calls = 0

    @property
    def version(self) -> str:
        return tensorflow_version()

    @staticmethod
    def key(config: LSTMConfig) -> tuple[str, str]:
        """The key of the graph that runs ``config``: (dtype, activation)."""
        return (config.dtype, config.activation)

    def _graph(self, config: LSTMConfig, exact_structure: bool = False) -> _Graph:
        key: tuple = self.key(config)
        if exact_structure:
            key += (config.use_peepholes, config.num_proj is not None)
        g = self._graphs.get(key)
        if g is None:
            g = _Graph(*key)
            self._graphs[key] = g
            self.graph_builds += 1
        return g

    def graph_keys(self) -> list[tuple]:
        """The key of every graph built so far: ``(dtype, activation)``, and
        ``(dtype, activation, peepholes, projection)`` for an exact-structure graph."""
        return list(self._graphs)

    def warm(self, configs: Iterable[LSTMConfig]) -> None:
        """Build the graphs ``configs`` need and run each once (the first run of a graph is
        where TF optimises it), so that timing what follows measures examples, not set-up."""
        for config in configs:
            self.run(Case(config, LSTMParams(np.zeros((config.input_size + config.output_size, 4 * config.num_units),
                                                      config.np_dtype), np.zeros(4 * config.num_units, config.np_dtype),
                                             *(np.zeros(config.num_units, config.np_dtype),) * 3 * config.use_peepholes,
                                             proj_kernel=np.zeros((config.num_units, config.output_size), config.np_dtype)
                                             if config.num_proj is not None else None),
                          np.zeros((1, 1, config.input_size), config.np_dtype), zero_state(config, 1)))

    def submit(self, case: Case) -> "PendingResult":
        """Start :meth:`run` on the oracle's own thread and return at once.

        TF computes without holding the GIL, so the caller can run the candidate
        meanwhile: on two cores an example then costs about max(oracle, candidate),
        not their sum.  The Python parts (packing the feeds, unpacking the result)
        run in the caller's thread, so the oracle's thread needs the GIL only to
        enter TF.
        """
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lstm-conformance-oracle")
        return PendingResult(self, case, pack_case(case))

    def run(self, case: Case) -> Result:
        return self._finish(case, self._emit(pack_case(case), case.config))

    def _emit(self, feeds: tuple[np.ndarray, np.ndarray], config: LSTMConfig) -> np.ndarray:
        with _lock:
            emitted = self._graph(config).run(*feeds)
            self.calls += 1
        return emitted

    def _finish(self, case: Case, emitted: np.ndarray) -> Result:
        cfg = case.config
        if (not cfg.use_peepholes or cfg.num_proj is None) and not np.isfinite(emitted).all():
            # A zero peephole times an infinite cell state, or an infinite output times the
            # identity projection's zeros, is NaN where the real cell has none: this case goes
            # to a graph of its own structure (rare: a 16-bit cell that overflows), built on
            # first need and reused: at most 3 per (dtype, activation), and only the keys that
            # overflow ever need one.
            with _lock:
                emitted = self._graph(cfg, exact_structure=True).run(*pack_case(case))
                self.exact_structure_runs += 1
        return unpack_result(emitted, case)


class PendingResult:
    """An oracle run in progress (:meth:`Oracle.submit`); ``result()`` waits for it."""

    def __init__(self, oracle: Oracle, case: Case, feeds: tuple[np.ndarray, np.ndarray]):
        self._case = case
        self._oracle = oracle
        _fast_switching(+1)
        try:
            self._future: Future = oracle._thread.submit(oracle._emit, feeds, case.config)  # type: ignore[union-attr]
        except BaseException:
            _fast_switching(-1)  # nothing will run to count it down
            raise
        # Counted down when TF is done, whether or not anyone asks for the result.
        self._future.add_done_callback(lambda _: _fast_switching(-1))

    def result(self) -> Result:
        return self._oracle._finish(self._case, self._future.result())


#: GIL switch interval (seconds) while an oracle run is pending (the default is 0.005).
_PENDING_SWITCH_INTERVAL = 0.0002
_switching = {"pending": 0, "saved": None}
_switching_lock = threading.Lock()


def _fast_switching(delta: int) -> None:
    """Shorten the GIL switch interval while any oracle run is pending, restore it after the last.

    The oracle's thread needs the GIL for a moment to enter TF, and again to leave it,
    while the caller runs the candidate's Python: with the default 5 ms switch interval
    it would wait most of an example for it.
    """
    with _switching_lock:
        if _switching["pending"] == 0 and delta > 0:
            _switching["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_switching["saved"], _PENDING_SWITCH_INTERVAL))
        _switching["pending"] += delta
        if _switching["pending"] == 0 and _switching["saved"] is not None:
            sys.setswitchinterval(_switching["saved"])
            _switching["saved"] = None


class EagerOracle:
    """TF's LSTMCell the straightforward way: built eagerly for exactly the case's config on
    every call, its variables assigned the case's weights, stepped over time in Python.

    Slow (a cell build per case, eager dispatch per op and step); kept as the
    independent cross-check of :class:`Oracle` (identical results,
    tests/test_oracle_perf.py) and as the baseline benchmarks/throughput.py measures
    it against.
    """

    def __init__(self) -> None:
        self.calls = 0

    def run(self, case: Case) -> Result:
        tf = import_tensorflow()
        cfg = case.config
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # LSTMCell's deprecation notice
            cell = tf.compat.v1.nn.rnn_cell.LSTMCell(
                cfg.num_units, use_peepholes=cfg.use_peepholes, cell_clip=cfg.cell_clip, num_proj=cfg.num_proj,
                proj_clip=cfg.proj_clip, forget_bias=cfg.forget_bias,
                activation=None if cfg.activation == "tanh" else cfg.activation, dtype=_tf_dtype(tf, cfg.dtype),
            )
        cell.build(tf.TensorShape([None, cfg.input_size]))
        by_name = {v.name.split(":")[0].split("/", 1)[1]: v for v in cell.variables}
        for name, array in case.params.arrays().items():
            by_name["projection/kernel" if name == "proj_kernel" else name].assign(array)
        state = tf.compat.v1.nn.rnn_cell.LSTMStateTuple(tf.constant(case.initial_state.c),
                                                         tf.constant(case.initial_state.h))
        outputs = []
        for t in range(case.time):
            out, state = cell(tf.constant(case.inputs[:, t]), state)
            outputs.append(out.numpy())
        self.calls += 1
        return Result(np.stack(outputs, axis=1), state.c.numpy(), state.h.numpy())


_default: Oracle | None = None


def default_oracle() -> Oracle:
    """The process-wide oracle (one TF import, one graph cache per process)."""
    global _default
    if _default is None:
        _default = Oracle()
    return _default
