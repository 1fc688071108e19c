"""The oracle's graph for cases with sequence lengths or time-major inputs: TF's real ``dynamic_rnn``.

``tf.compat.v1.nn.dynamic_rnn(cell, x, sequence_length=L, initial_state=..., time_major=...)``
owns everything these cases are about: it runs the loop only to ``max(L)``, zeroes row b's
outputs at steps ``t >= L[b]``, copies row b's state through past its end (so the final state
is the one after step ``L[b] - 1``), and lays the outputs out time- or batch-major.  Nothing of
that is re-typed here.

One graph per ``(dtype, time_major)`` serves every size, activation and length, as the
fast graph does (conformance/oracle/_graph.py): the weights, state and scalar options are fed
the same way (:func:`pack_floats`), the activation's index and the lengths in the int vector, and the cell is
TF's real ``LSTMCell`` called by :func:`make_step`.  The one indirection: ``dynamic_rnn``
insists on a statically known input width, which a graph for every input size cannot give,
so the sequence it is handed is the step index ``t`` ([B, T, 1] int32, or [T, B, 1]
time-major; ``dynamic_rnn`` reverses, masks and lays it out as it would ``x``), and the cell
wrapper reads ``x_t`` [B, I] at that index from the fed inputs.  Results are bit-identical to
``dynamic_rnn`` over an exact-config cell (tests/test_oracle.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.oracle._graph import (
    activation_index,
    expected_weights,
    fed_tensors,
    make_step,
    open_session,
    pack_floats,
    signature,
)
from conformance.oracle._tf import import_tensorflow, tf_dtype
from conformance.spec import Case, Result

#: The int feed after the piece sizes: these dimensions, then the B row lengths.
_DIMS = ("rows", "gates", "units", "outputs", "batch", "time", "input_size", "activation")
_PIECE_COUNT = 12  # len(conformance.oracle._graph._PIECES)


def uses_sequence_graph(case: Case) -> bool:
    """Whether ``case`` runs on :class:`SequenceGraph` (it has row lengths or is time-major)."""
    return case.sequence_length is not None or case.config.time_major


def _rnn_cell_base() -> type:
    """tf-keras' legacy ``RNNCell`` (what ``dynamic_rnn`` calls), found from ``LSTMCell``'s bases."""
    tf = import_tensorflow()
    for klass in tf.compat.v1.nn.rnn_cell.LSTMCell.__mro__:
        if klass.__name__ == "RNNCell":
            return klass
    raise RuntimeError("tf.compat.v1.nn.rnn_cell.LSTMCell has no RNNCell base")  # pragma: no cover


class SequenceGraph:
    """``dynamic_rnn`` over TF's LSTMCell for a ``(dtype, time_major)`` key, every size and activation.

    Feeds: ``floats`` (as :func:`pack_sequence_case` packs them) and ``ints`` (piece sizes,
    dimensions, row lengths).  Fetches: outputs ([B, T, P], or [T, B, P] time-major), c [B, H], h [B, P].
    """

    def __init__(self, dtype: str, time_major: bool, peepholes: bool = True,
                 projection: bool = True):
        tf = import_tensorflow()
        v1 = tf.compat.v1
        self.time_major = time_major
        self.graph = tf.Graph()
        tdt = tf_dtype(tf, dtype)
        with self.graph.as_default():
            self.floats = v1.placeholder(tdt, [None], name="floats")
            self.ints = v1.placeholder(tf.int32, [None], name="ints")
            dim = dict(zip(_DIMS, tf.unstack(self.ints[_PIECE_COUNT : _PIECE_COUNT + len(_DIMS)], num=len(_DIMS))))
            lengths = self.ints[_PIECE_COUNT + len(_DIMS) :]
            weights, c0, h0, flat_inputs = fed_tensors(self.floats, self.ints[:_PIECE_COUNT], dim)
            B, T, I = dim["batch"], dim["time"], dim["input_size"]
            x = tf.reshape(flat_inputs, tf.stack([T, B, I] if time_major else [B, T, I]))
            x_by_step = x if time_major else tf.transpose(x, [1, 0, 2])  # [T, B, I]: x_t is one gather
            steps = tf.range(T)[:, None, None] * tf.ones(tf.stack([1, B, 1]), tf.int32)  # [T, B, 1]
            if not time_major:
                steps = tf.transpose(steps, [1, 0, 2])
            used: set[str] = set()
            step = make_step(tdt, peepholes, projection, used)

            class _FedCell(_rnn_cell_base()):  # type: ignore[misc]
                """TF's LSTMCell on ``x_t = x[t]``, where ``t`` is the element dynamic_rnn hands it."""

                @property
                def state_size(self) -> Any:
                    return v1.nn.rnn_cell.LSTMStateTuple(dim["units"], dim["outputs"])

                @property
                def output_size(self) -> Any:
                    return dim["outputs"]  # a tensor: dynamic_rnn sizes its zero outputs from it at run time

                def call(self, t: Any, state: Any) -> tuple[Any, Any]:
                    # Every row of ``t`` holds the same step (dynamic_rnn steps all rows together).
                    c, m = step(tf.gather(x_by_step, t[0, 0]), state.c, state.h, weights)
                    return m, v1.nn.rnn_cell.LSTMStateTuple(c, m)

            outputs, final = v1.nn.dynamic_rnn(
                _FedCell(), steps, sequence_length=lengths, initial_state=v1.nn.rnn_cell.LSTMStateTuple(c0, h0),
                dtype=tdt, time_major=time_major, swap_memory=False,
            )
            if used != expected_weights(peepholes, projection):
                raise RuntimeError(f"TF LSTMCell created unexpected weights {sorted(used)}")
            self.session, self._callable = open_session(self.graph, [self.floats, self.ints],
                                                        [outputs, final.c, final.h])
            self.signature = signature([self.floats, self.ints], [outputs, final.c, final.h], single=False)

    def run(self, floats: np.ndarray, ints: np.ndarray) -> list[np.ndarray]:
        return self._callable(floats, ints)

    def close(self) -> None:
        self._callable = None
        self.session.close()


def pack_sequence_case(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The :class:`SequenceGraph` feeds for ``case``: the floats of :func:`pack_floats` with the inputs
    in the case's own layout (not padded), and ints = piece sizes, dimensions, lengths [B]."""
    cfg = case.config
    B, T, I, H, P = case.batch, case.time, cfg.input_size, cfg.num_units, cfg.output_size
    floats, views, sizes = pack_floats(case, B * T * I)
    views["inputs"][:] = case.inputs.reshape(-1)
    ints = np.concatenate([np.array(sizes + (I + P, 4 * H, H, P, B, T, I, activation_index(cfg.activation)),
                                    dtype=np.int32),
                           case.lengths().astype(np.int32)])
    return floats, ints


def unpack_sequence_result(fetched: list[np.ndarray], case: Case) -> Result:
    """The fetched (outputs, c, h) -> a batch-major Result."""
    outputs, c, h = fetched
    if case.config.time_major:
        outputs = outputs.transpose(1, 0, 2)
    return Result(np.ascontiguousarray(outputs), np.ascontiguousarray(c), np.ascontiguousarray(h))


def all_finite(fetched: Any) -> bool:
    """Whether every number fetched (one array, or a list of them) is finite."""
    if isinstance(fetched, np.ndarray):
        return bool(np.isfinite(fetched).all())
    return all(bool(np.isfinite(a).all()) for a in fetched)
