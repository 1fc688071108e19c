"""The oracle's graph: real TensorFlow running the real legacy ``LSTMCell``, one graph for every size.

Design (measurements behind it: benchmarks/README.md): one ``tf.compat.v1``
graph + Session per dtype, reused for every case of that dtype *whatever its
sizes and activation*.  The number of graph builds is therefore at most
len(DTYPES) = 4, however many examples run and however their sizes vary.

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
* the activation is fed as an index into :data:`ACTIVATIONS`: the cell is handed
  an activation that is ``tf.switch_case`` over the very functions an
  ``LSTMCell(activation=name)`` holds (:func:`fed_activation`), so each branch
  runs the op the exact-config cell runs (a graph per activation would make
  four times the builds, each ~0.3 s of Python, for the same numbers);
* Grappler's remapper is off: it fuses e.g. MatMul+BiasAdd and in float16 and
  bfloat16 skips the rounding between them, which TF's eager cell does not.

With these, the results are bit-identical to a freshly built exact-config cell
stepped eagerly (tests/test_oracle.py, tests/test_oracle_perf.py).  The neutral
values stop being neutral only once a state is infinite (``0 * inf`` is NaN),
which a 16-bit relu cell can reach: such a case is re-run on a graph built with its
own structure (no peepholes and/or no projection), keyed by (dtype, peepholes,
projection) and built the first time a case needs it.

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

The graphs are built, cached and closed by :class:`conformance.oracle.TFOracle`, which owns them.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.oracle._tf import import_tensorflow, tf_dtype
from conformance.spec import ACTIVATIONS, Case, InitialState, LSTMConfig, LSTMParams, Result

#: Cell steps per loop iteration (see the module docstring); time is padded to a multiple of it.
UNROLL = 8

#: The float feed, in order: the cell's weights by the names it asks for, the initial state,
#: the scalar options and the time-major inputs.  Shapes are in :func:`pack_case`.
_PIECES = ("kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag", "projection/kernel", "c0", "h0",
           "forget_bias", "cell_clip", "proj_clip", "inputs")
WEIGHTS = frozenset(_PIECES[:6])
_PEEPHOLES = frozenset({"w_i_diag", "w_f_diag", "w_o_diag"})
#: The int feed: one size per piece, then these dimensions (``activation``: an index into ACTIVATIONS).
_DIMS = ("rows", "gates", "units", "outputs", "batch", "blocks", "input_size", "activation")


def activation_index(name: str) -> int:
    """The activation's index into :data:`ACTIVATIONS`, as the graphs are fed it."""
    return ACTIVATIONS.index(name)


@functools.lru_cache(maxsize=1)
def _cell_activations() -> tuple[Any, ...]:
    """The function ``LSTMCell(activation=name)`` itself holds, for each name of :data:`ACTIVATIONS`
    (``math_ops.tanh`` for its default, tf-keras' ``activations.get(name)`` for the others)."""
    v1 = import_tensorflow().compat.v1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LSTMCell's deprecation notice
        return tuple(v1.nn.rnn_cell.LSTMCell(1, activation=None if name == "tanh" else name)._activation
                     for name in ACTIVATIONS)


def fed_activation(index: Any) -> Any:
    """An activation for ``LSTMCell(activation=...)`` that applies ``ACTIVATIONS[index]`` (``index`` an int32
    scalar tensor): ``tf.switch_case`` over the functions the exact-config cells hold, so the op that runs
    is the one an ``LSTMCell(activation=name)`` runs, on the same input, with the same rounding."""
    tf = import_tensorflow()
    functions = _cell_activations()

    def activation(x: Any) -> Any:
        return tf.switch_case(index, [functools.partial(fn, x) for fn in functions])

    return activation


def make_step(tdt: Any, peepholes: bool, projection: bool, used: set[str]) -> Any:
    """``step(x_t [B, I], c [B, H], m [B, P], fed) -> (new c, new m)``: one call of TF's real LSTMCell
    whose weights and scalar options are the tensors of ``fed`` (by the names the cell asks for:
    :data:`WEIGHTS` plus ``forget_bias``, ``cell_clip``, ``proj_clip``, and ``activation``, an int32
    index into :data:`ACTIVATIONS`), at whatever sizes they have.
    The names the cell asked for are added to ``used`` (the caller checks them)."""
    tf = import_tensorflow()
    v1 = tf.compat.v1

    def step(x_t: Any, c: Any, m: Any, fed: dict[str, Any]) -> tuple[Any, Any]:
        def fed_weights_getter(getter: Any, *args: Any, **kwargs: Any) -> Any:
            # Hand the cell a fed tensor instead of a variable, so each case's
            # weights (of any size) are fed per run without assign ops or a rebuild.
            # "oracle/lstm_cell/kernel", or "oracle/lstm_cell_3/projection/kernel" where a graph holds several cells.
            name = re.sub(r"^.*?lstm_cell(_[0-9]+)?/", "", kwargs["name"])
            if name not in WEIGHTS:
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
                activation=fed_activation(fed["activation"]),
                dtype=tdt,
            )
            cell.build(tf.TensorShape([None, 1]))
            # LSTMCell.call insists on a static input width but only to check that
            # it is known; its ops use the runtime shape (the case's I).
            x_t.set_shape([None, 1])
            m, (c, _) = cell(x_t, v1.nn.rnn_cell.LSTMStateTuple(c, m))
        return c, m

    return step


def expected_weights(peepholes: bool, projection: bool) -> frozenset[str]:
    """The weight names TF's LSTMCell of this structure asks for."""
    return WEIGHTS - (frozenset() if peepholes else _PEEPHOLES) - (frozenset() if projection else {"projection/kernel"})


#: Grappler passes the oracle's sessions skip (see :func:`open_session`).
_SKIPPED_REWRITES = ("constant_folding", "arithmetic_optimization", "loop_optimization", "layout_optimizer",
                     "memory_optimization", "function_optimization", "shape_optimization",
                     "implementation_selector", "pin_to_host_optimization", "debug_stripper")


def open_session(graph: Any, feeds: list[Any], fetches: list[Any]) -> tuple[Any, Any]:
    """A Session for ``graph`` as the oracle runs them, and a callable ``(*feeds) -> [fetches]``."""
    tf = import_tensorflow()
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

    # One thread each: workers run one process per core.  Not -1 ("run in the caller's
    # thread"), which is a little faster but skips the flush-denormals-to-zero mode TF's
    # own threads run in, so tiny results would differ from TF's eager cell.
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    # Grappler's remapper fuses e.g. MatMul+BiasAdd and, in float16/bfloat16, skips the
    # rounding between them; without it every op rounds as TF's eager cell does, and the
    # results are bit-identical to it (tests/test_oracle_perf.py).
    rewrites = config.graph_options.rewrite_options
    rewrites.remapping = rewriter_config_pb2.RewriterConfig.OFF
    # Grappler runs when the callable is made: ~90 ms a graph with its default passes, most of a
    # run's start.  Only the passes that make these graphs run faster are kept (pruning, dependency
    # optimization, common subexpressions: they drop nodes, never change an op's arithmetic), once;
    # the others rewrite or fold arithmetic (the eager cell has none of that) or do nothing here.
    # Bit-identical on 1,000 cases of the default distribution, ~40 ms less per graph
    # (benchmarks/README.md, "Where the start goes").
    for rewrite in _SKIPPED_REWRITES:
        setattr(rewrites, rewrite, rewriter_config_pb2.RewriterConfig.OFF)
    rewrites.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    session = tf.compat.v1.Session(graph=graph, config=config)
    # Session.make_callable with a feed list is Session.run with a feed_dict (~0.3 ms of
    # Python per call); a callable made from CallableOptions runs straight in C++.
    options = config_pb2.CallableOptions(feed=[t.name for t in feeds], fetch=[t.name for t in fetches])
    return session, session._make_callable_from_options(options)


def signature(feeds: list[Any], fetches: list[Any], *, single: bool) -> tuple[list[str], list[str], bool]:
    """A built graph's feed and fetch names and whether ``run`` returns its one fetch alone (what the graph
    cache, conformance/oracle/_cache.py, needs to run an imported copy the same way)."""
    return [t.name for t in feeds], [t.name for t in fetches], single


class Graph:
    """One graph for a dtype, for every size and activation.

    Feeds (see :func:`pack_case`): ``floats``, every array of the case flattened
    into one buffer, and ``ints``, the size of each piece and the dimensions the
    graph reshapes them to.  Fetch: [Tpad / UNROLL, UNROLL, B, P + H], per step the
    output ``m`` [B, P] then the cell state ``c`` [B, H].
    """

    def __init__(self, dtype: str, peepholes: bool = True, projection: bool = True):
        tf = import_tensorflow()
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        tdt = tf_dtype(tf, dtype)
        K = UNROLL
        with self.graph.as_default():
            self.floats = v1.placeholder(tdt, [None], name="floats")
            self.ints = v1.placeholder(tf.int32, [len(_PIECES) + len(_DIMS)], name="ints")
            dim = dict(zip(_DIMS, tf.unstack(self.ints[len(_PIECES) :], num=len(_DIMS))))
            weights, c0, h0, flat_inputs = fed_tensors(self.floats, self.ints[: len(_PIECES)], dim)
            x = tf.reshape(flat_inputs, tf.stack([dim["blocks"], K, dim["batch"], dim["input_size"]]))
            used: set[str] = set()
            step = make_step(tdt, peepholes, projection, used)

            # The cell's ops are traced once into a function that the loop body calls UNROLL
            # times (Grappler inlines the calls): building the graph costs one cell, not UNROLL.
            matrix, vector, scalar = (tf.TensorSpec(s, tdt) for s in ([None, None], [None], []))
            specs = {name: matrix if name in ("kernel", "projection/kernel") else vector for name in WEIGHTS}
            specs.update(forget_bias=scalar, cell_clip=scalar, proj_clip=scalar,
                         activation=tf.TensorSpec([], tf.int32))
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
            if used != expected_weights(peepholes, projection):  # a tf-keras change would show here, not as wrong numbers
                raise RuntimeError(f"TF LSTMCell created unexpected weights {sorted(used)}")
            self.session, self._callable = open_session(self.graph, [self.floats, self.ints], [fetch])
            self.signature = signature([self.floats, self.ints], [fetch], single=True)

    def run(self, floats: np.ndarray, ints: np.ndarray) -> np.ndarray:
        return self._callable(floats, ints)[0]

    def close(self) -> None:
        """Release the callable and the Session (TF's own finalizers fail once interpreter shutdown
        has begun tearing modules down, hence :meth:`TFOracle.close`, which
        an atexit hook runs on every oracle still open)."""
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
    B, T, I = case.batch, case.time, case.config.input_size
    blocks = -(-T // UNROLL)
    floats, views, sizes = pack_floats(case, blocks * UNROLL * B * I)
    views["inputs"].reshape(blocks * UNROLL, B, I)[:T] = case.batch_major_inputs.transpose(1, 0, 2)
    cfg = case.config
    ints = np.array(sizes + (I + cfg.output_size, 4 * cfg.num_units, cfg.num_units, cfg.output_size, B, blocks, I,
                             activation_index(cfg.activation)), dtype=np.int32)
    return floats, ints


def pack_floats(case: Case, inputs_size: int) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[int, ...]]:
    """The float feed of :data:`_PIECES` with everything but the inputs filled in (see :func:`pack_case`),
    a view of each piece by name, and the pieces' sizes (the inputs' is ``inputs_size``)."""
    sizes = cell_sizes(case.config, case.batch) + (inputs_size,)
    floats = np.zeros(sum(sizes), dtype=case.config.np_dtype)
    views = dict(zip(_PIECES, np.split(floats, np.cumsum(sizes)[:-1])))
    fill_cell(views, case.config, case.params, case.initial_state)
    return floats, views, sizes


def cell_sizes(cfg: LSTMConfig, batch: int) -> tuple[int, ...]:
    """The sizes of one cell's pieces of the float feed (:data:`_PIECES` but the inputs)."""
    I, H, P = cfg.input_size, cfg.num_units, cfg.output_size
    return ((I + P) * 4 * H, 4 * H, H, H, H, H * P, batch * H, batch * P, 1, 1, 1)


def fill_cell(views: Mapping[str, np.ndarray], cfg: LSTMConfig, params: LSTMParams, state: InitialState) -> None:
    """Write one cell's pieces into ``views`` (zeroed, by :data:`_PIECES` name): its weights, with zero
    peepholes and an identity projection where it has none (both exact), its initial state and its
    scalar options (+inf for an unset clip)."""
    H = cfg.num_units
    views["kernel"][:] = params.kernel.reshape(-1)
    views["bias"][:] = params.bias
    if cfg.use_peepholes:
        for name in ("w_i_diag", "w_f_diag", "w_o_diag"):
            views[name][:] = getattr(params, name)
    if params.proj_kernel is not None:  # validated cases have one exactly when cfg.num_proj is set
        views["projection/kernel"][:] = params.proj_kernel.reshape(-1)
    else:
        views["projection/kernel"][:: H + 1] = 1  # the diagonal of [H, H]
    views["c0"][:] = state.c.reshape(-1)
    views["h0"][:] = state.h.reshape(-1)
    views["forget_bias"][0] = cfg.forget_bias
    views["cell_clip"][0] = np.inf if cfg.cell_clip is None else cfg.cell_clip
    views["proj_clip"][0] = np.inf if cfg.proj_clip is None else cfg.proj_clip


def fed_tensors(floats: Any, sizes: Any, dims: dict[str, Any]) -> tuple[dict[str, Any], Any, Any, Any]:
    """Graph side of :func:`pack_floats`: ``(weights, c0 [B, H], h0 [B, P], inputs (flat))`` from the float
    feed, its piece ``sizes`` and the dimensions ``rows``, ``gates``, ``units``, ``outputs``, ``batch``,
    ``activation`` (handed on in ``weights``, as :func:`make_step` reads it)."""
    tf = import_tensorflow()
    pieces = dict(zip(_PIECES, tf.split(floats, sizes, num=len(_PIECES))))
    weights = {
        "kernel": tf.reshape(pieces["kernel"], tf.stack([dims["rows"], dims["gates"]])),
        "bias": pieces["bias"],
        "w_i_diag": pieces["w_i_diag"],
        "w_f_diag": pieces["w_f_diag"],
        "w_o_diag": pieces["w_o_diag"],
        "projection/kernel": tf.reshape(pieces["projection/kernel"], tf.stack([dims["units"], dims["outputs"]])),
        **{k: tf.reshape(pieces[k], []) for k in ("forget_bias", "cell_clip", "proj_clip")},
        "activation": dims["activation"],
    }
    c0 = tf.reshape(pieces["c0"], tf.stack([dims["batch"], dims["units"]]))
    h0 = tf.reshape(pieces["h0"], tf.stack([dims["batch"], dims["outputs"]]))
    return weights, c0, h0, pieces["inputs"]


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
