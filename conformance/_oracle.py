"""The oracle: real TensorFlow running the real legacy ``LSTMCell``.

Design (see docs/architecture.md): one ``tf.compat.v1`` graph + Session per
*bucket key* ``(dtype, activation, size bucket)``, reused for every case whose
config maps to it; the case's weights are fed through placeholders that a
variable-scope custom getter hands to the cell in place of variables.  The
number of graph builds is therefore bounded by the number of keys, not by the
number of examples.

To make one graph serve many configs exactly:

* sizes are padded with zeros up to the bucket: padded input columns and hidden
  units have all-zero kernel rows/columns, so they never influence a real unit
  (their own values are sliced off);
* the cell is always built with ``use_peepholes=True`` and a projection; a case
  without peepholes is fed zero peephole weights (``x + 0 * c == x`` exactly),
  one without projection an identity ``proj_kernel`` (``m @ I == m`` exactly);
* ``forget_bias``, ``cell_clip`` and ``proj_clip`` are fed as scalars (no clip
  is fed as +inf, and ``clip(x, -inf, inf) == x`` exactly).

tests/test_oracle.py checks that this equals a freshly built TF cell with the
exact config.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from typing import Any

import numpy as np

from conformance._spec import Case, LSTMConfig, Result

#: Padded sizes: input size, units and output size are each padded to the smallest
#: bucket that holds the largest of them.
SIZE_BUCKETS: tuple[int, ...] = (16, 64, 256, 1024, 4096)

_tf: Any = None
_lock = threading.Lock()


def import_tensorflow() -> Any:
    """Import TensorFlow once, with the legacy (tf-keras) cells available."""
    global _tf
    if _tf is None:
        # In TF >= 2.16 tf.compat.v1.nn.rnn_cell needs tf-keras; set before the import.
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
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
    return import_tensorflow().__version__


def size_bucket(config: LSTMConfig) -> int:
    need = max(config.input_size, config.num_units, config.output_size)
    for b in SIZE_BUCKETS:
        if need <= b:
            return b
    # Beyond the table: round up to a multiple of the largest bucket (still bounded).
    top = SIZE_BUCKETS[-1]
    return -(-need // top) * top


def _tf_dtype(tf: Any, name: str) -> Any:
    return {"float16": tf.float16, "bfloat16": tf.bfloat16, "float32": tf.float32, "float64": tf.float64}[name]


class _Graph:
    """One built graph: placeholders in, outputs [B, T, Pb] and final (c, h) out."""

    def __init__(self, dtype: str, activation: str, bucket: int):
        tf = import_tensorflow()
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        self.bucket = bucket
        tdt = _tf_dtype(tf, dtype)
        n = bucket
        with self.graph.as_default():
            self.x = v1.placeholder(tdt, [None, None, n], name="inputs")
            self.c0 = v1.placeholder(tdt, [None, n], name="c0")
            self.h0 = v1.placeholder(tdt, [None, n], name="h0")
            self.forget_bias = v1.placeholder(tdt, [], name="forget_bias")
            self.cell_clip = v1.placeholder(tdt, [], name="cell_clip")
            self.proj_clip = v1.placeholder(tdt, [], name="proj_clip")
            self.weights: dict[str, Any] = {}

            def feed_weights_getter(getter: Any, *args: Any, **kwargs: Any) -> Any:
                # Hand the cell a placeholder instead of a variable, so each case's
                # weights are fed per run without assign ops or a rebuild.
                name = kwargs["name"].rsplit("lstm_cell/", 1)[-1]
                ph = v1.placeholder(kwargs["dtype"], kwargs["shape"], name=name.replace("/", "_"))
                self.weights[name] = ph
                return ph

            with v1.variable_scope("oracle", custom_getter=feed_weights_getter), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # LSTMCell's deprecation notice: using it is the point
                cell = v1.nn.rnn_cell.LSTMCell(
                    n,
                    use_peepholes=True,
                    cell_clip=self.cell_clip,
                    num_proj=n,
                    proj_clip=self.proj_clip,
                    forget_bias=self.forget_bias,
                    activation=None if activation == "tanh" else activation,
                    dtype=tdt,
                )
                cell.build(tf.TensorShape([None, n]))
                outputs, state = v1.nn.dynamic_rnn(
                    cell, self.x, initial_state=v1.nn.rnn_cell.LSTMStateTuple(self.c0, self.h0), dtype=tdt
                )
            expected = {"kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag", "projection/kernel"}
            if set(self.weights) != expected:  # a tf-keras change would show here, not as wrong numbers
                raise RuntimeError(f"TF LSTMCell created unexpected weights {sorted(self.weights)}")
            config = v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
            self.session = v1.Session(graph=self.graph, config=config)
            order = ["kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag", "projection/kernel"]
            self.feed_list = [self.x, self.c0, self.h0, self.forget_bias, self.cell_clip, self.proj_clip] + [
                self.weights[k] for k in order
            ]
            self.run = self.session.make_callable([outputs, state.c, state.h], self.feed_list)


def _pad(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if array.shape == shape:
        return array
    out = np.zeros(shape, dtype=array.dtype)
    out[tuple(slice(0, s) for s in array.shape)] = array
    return out


def _pad_kernel(kernel: np.ndarray, I: int, P: int, H: int, n: int) -> np.ndarray:
    """[I + P, 4H] -> [n + n, 4n]: each input/recurrent row block and each gate column block padded."""
    out = np.zeros((2 * n, 4 * n), dtype=kernel.dtype)
    for g in range(4):
        out[:I, g * n : g * n + H] = kernel[:I, g * H : (g + 1) * H]
        out[n : n + P, g * n : g * n + H] = kernel[I:, g * H : (g + 1) * H]
    return out


def _pad_gates(bias: np.ndarray, H: int, n: int) -> np.ndarray:
    out = np.zeros((4 * n,), dtype=bias.dtype)
    for g in range(4):
        out[g * n : g * n + H] = bias[g * H : (g + 1) * H]
    return out


class Oracle:
    """Runs cases through TF's LSTMCell; thread-safe; graphs cached per bucket key.

    ``run(case)`` returns a :class:`Result` in the case's dtype: outputs
    [B, T, P], c [B, H], h [B, P].
    """

    def __init__(self) -> None:
        self._graphs: dict[tuple[str, str, int], _Graph] = {}
        self.graph_builds = 0
        self.calls = 0

    @property
    def version(self) -> str:
        return tensorflow_version()

    def _graph(self, config: LSTMConfig) -> _Graph:
        key = (config.dtype, config.activation, size_bucket(config))
        g = self._graphs.get(key)
        if g is None:
            g = _Graph(*key)
            self._graphs[key] = g
            self.graph_builds += 1
        return g

    def run(self, case: Case) -> Result:
        cfg = case.config
        I, H, P = cfg.input_size, cfg.num_units, cfg.output_size
        B, T = case.batch, case.time
        npd = cfg.np_dtype
        with _lock:
            g = self._graph(cfg)
            n = g.bucket
            p = case.params
            zeros_h = np.zeros((H,), npd)
            proj = p.proj_kernel if cfg.num_proj is not None else np.eye(H, dtype=npd)
            inf = np.array(np.inf, dtype=npd)
            feeds = [
                _pad(case.inputs, (B, T, n)),
                _pad(case.initial_state.c, (B, n)),
                _pad(case.initial_state.h, (B, n)),
                np.array(cfg.forget_bias, dtype=npd),
                np.array(cfg.cell_clip, dtype=npd) if cfg.cell_clip is not None else inf,
                np.array(cfg.proj_clip, dtype=npd) if cfg.proj_clip is not None else inf,
                _pad_kernel(p.kernel, I, P, H, n),
                _pad_gates(p.bias, H, n),
                _pad(p.w_i_diag if cfg.use_peepholes else zeros_h, (n,)),
                _pad(p.w_f_diag if cfg.use_peepholes else zeros_h, (n,)),
                _pad(p.w_o_diag if cfg.use_peepholes else zeros_h, (n,)),
                _pad(proj, (n, n)),
            ]
            outputs, c, h = g.run(*feeds)
            self.calls += 1
        return Result(
            outputs=np.ascontiguousarray(outputs[:, :, :P]).astype(npd),
            c=np.ascontiguousarray(c[:, :H]).astype(npd),
            h=np.ascontiguousarray(h[:, :P]).astype(npd),
        )


_default: Oracle | None = None


def default_oracle() -> Oracle:
    """The process-wide oracle (one TF import, one graph cache per process)."""
    global _default
    if _default is None:
        _default = Oracle()
    return _default
