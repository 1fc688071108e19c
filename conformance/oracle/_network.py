"""The oracle's graph for stacked and bidirectional cases: TF's real ``MultiRNNCell``, ``dynamic_rnn`` and
``bidirectional_dynamic_rnn``, layered as ``stack_bidirectional_dynamic_rnn`` layers them.

* forward stack: ``dynamic_rnn(MultiRNNCell([cell_1, ..., cell_K]), x, sequence_length=L)``;
* bidirectional: per layer ``bidirectional_dynamic_rnn(fw_k, bw_k, x_k, sequence_length=L)``, with
  ``x_k = concat([out_fw, out_bw], -1)`` of layer k - 1 (``stack_bidirectional_dynamic_rnn`` does
  exactly this loop; it is not called itself because its input must have a static width).

One graph per ``(dtype, layers, bidirectional)`` serves every size, activation and length (a time-major
case is fed batch-major: its layout is the sequence graph's subject, conformance/oracle/_sequence.py, and a
graph per layout here would double the network graphs for nothing a network adds):
each cell is TF's real ``LSTMCell`` on fed weights (conformance/oracle/_graph.py, ``make_step``), built
with peepholes and a projection fed neutral values where the cell has none.  As in the sequence graph
(conformance/oracle/_sequence.py), ``dynamic_rnn`` is handed the step index (it reverses, masks and
lays it out as it would ``x``) and the first cell of a layer reads its input at that index, per row
(after ``reverse_sequence`` the rows of the backward pass sit at different steps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.oracle._graph import (
    activation_index,
    cell_sizes,
    expected_weights,
    fill_cell,
    make_step,
    open_session,
    signature,
)
from conformance.oracle._sequence import _rnn_cell_base
from conformance.oracle._tf import import_tensorflow, tf_dtype
from conformance.spec import BACKWARD, FORWARD, Case, Result, cell_prefix

#: Each cell's float pieces, in order (then, once, the inputs).
_CELL_PIECES = ("kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag", "projection/kernel", "c0", "h0",
                "forget_bias", "cell_clip", "proj_clip")
_CELL_DIMS = ("rows", "gates", "units", "outputs", "activation")


def uses_network_graph(case: Case) -> bool:
    return not case.single_cell


def network_key(case: Case) -> tuple:
    cfg = case.config
    return ("network", cfg.dtype, False, case.num_layers, case.bidirectional)


def structure_key(case: Case) -> tuple:
    """Each cell's (peepholes, projection): the exact-structure graph's addition to the key."""
    return tuple((c.config.use_peepholes, c.config.num_proj is not None) for _, _, c in case.cells())


class NetworkGraph:
    """A stacked and/or bidirectional network of TF LSTMCells on fed weights (module docstring)."""

    def __init__(self, dtype: str, time_major: bool, layers: int, bidirectional: bool,
                 structure: tuple[tuple[bool, bool], ...] | None = None):
        tf = import_tensorflow()
        v1 = tf.compat.v1
        tdt = tf_dtype(tf, dtype)
        directions = (FORWARD, BACKWARD) if bidirectional else (FORWARD,)
        places = [(k, d) for k in range(layers) for d in directions]
        n = len(places)
        structure = structure or tuple((True, True) for _ in places)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.floats = v1.placeholder(tdt, [None], name="floats")
            self.ints = v1.placeholder(tf.int32, [None], name="ints")
            pieces = tf.split(self.floats, self.ints[: 11 * n + 1], num=11 * n + 1)
            nd = len(_CELL_DIMS)
            dims = tf.reshape(self.ints[11 * n + 1 : (11 + nd) * n + 1], [n, nd])
            B, T, I = (self.ints[(11 + nd) * n + 1 + j] for j in range(3))
            lengths = self.ints[(11 + nd) * n + 4 :]
            fed, init = {}, {}
            for i, place in enumerate(places):
                dim = dict(zip(_CELL_DIMS, tf.unstack(dims[i], num=nd)))
                p = dict(zip(_CELL_PIECES, pieces[11 * i : 11 * i + 11]))
                fed[place] = {
                    "kernel": tf.reshape(p["kernel"], tf.stack([dim["rows"], dim["gates"]])),
                    "bias": p["bias"], "w_i_diag": p["w_i_diag"], "w_f_diag": p["w_f_diag"], "w_o_diag": p["w_o_diag"],
                    "projection/kernel": tf.reshape(p["projection/kernel"], tf.stack([dim["units"], dim["outputs"]])),
                    **{k: tf.reshape(p[k], []) for k in ("forget_bias", "cell_clip", "proj_clip")},
                    "activation": dim["activation"], "_units": dim["units"], "_outputs": dim["outputs"],
                }
                init[place] = v1.nn.rnn_cell.LSTMStateTuple(tf.reshape(p["c0"], tf.stack([B, dim["units"]])),
                                                            tf.reshape(p["h0"], tf.stack([B, dim["outputs"]])))
            x = tf.reshape(pieces[11 * n], tf.stack([T, B, I] if time_major else [B, T, I]))
            steps = tf.range(T)[:, None, None] * tf.ones(tf.stack([1, B, 1]), tf.int32)  # [T, B, 1]
            if not time_major:
                steps = tf.transpose(steps, [1, 0, 2])
            used = {place: set() for place in places}  # type: dict[tuple[int, str], set[str]]
            RNNCell = _rnn_cell_base()

            def make_cell(place: tuple[int, str], source: Any) -> Any:
                """TF's LSTMCell on ``fed[place]``; reads x_t from ``source`` [T, B, I] at the step index it is
                handed (``source`` None: its input is the tensor it is handed, inside a MultiRNNCell)."""
                step = make_step(tdt, *structure[places.index(place)], used[place])
                weights = fed[place]

                class _FedCell(RNNCell):  # type: ignore[misc, valid-type]
                    @property
                    def state_size(self) -> Any:
                        return v1.nn.rnn_cell.LSTMStateTuple(weights["_units"], weights["_outputs"])

                    @property
                    def output_size(self) -> Any:
                        return weights["_outputs"]

                    def call(self, inputs: Any, state: Any) -> tuple[Any, Any]:
                        if source is None:
                            x_t = tf.identity(inputs)  # make_step sets a static shape: not on a shared tensor
                        else:  # row b of the step each row is at (they differ after reverse_sequence)
                            x_t = tf.gather_nd(source, tf.stack([inputs[:, 0], tf.range(tf.shape(inputs)[0])], 1))
                        c, m = step(x_t, state.c, state.h, weights)
                        return m, v1.nn.rnn_cell.LSTMStateTuple(c, m)

                return _FedCell()

            x_by_step = x if time_major else tf.transpose(x, [1, 0, 2])
            common = dict(sequence_length=lengths, dtype=tdt, time_major=time_major)
            finals: dict[tuple[int, str], Any] = {}
            if not bidirectional:
                cells = [make_cell((k, FORWARD), x_by_step if k == 0 else None) for k in range(layers)]
                out_fw, state = v1.nn.dynamic_rnn(
                    v1.nn.rnn_cell.MultiRNNCell(cells) if layers > 1 else cells[0], steps,
                    initial_state=tuple(init[(k, FORWARD)] for k in range(layers)) if layers > 1 else init[(0, FORWARD)],
                    **common)
                for k in range(layers):
                    finals[(k, FORWARD)] = state[k] if layers > 1 else state
                fetch_outputs = [out_fw]
            else:
                source = x_by_step
                for k in range(layers):
                    (out_fw, out_bw), (st_fw, st_bw) = v1.nn.bidirectional_dynamic_rnn(
                        make_cell((k, FORWARD), source), make_cell((k, BACKWARD), source), steps,
                        initial_state_fw=init[(k, FORWARD)], initial_state_bw=init[(k, BACKWARD)], **common)
                    finals[(k, FORWARD)], finals[(k, BACKWARD)] = st_fw, st_bw
                    joined = tf.concat([out_fw, out_bw], axis=2)
                    source = joined if time_major else tf.transpose(joined, [1, 0, 2])
                fetch_outputs = [out_fw, out_bw]
            for place in places:
                want = expected_weights(*structure[places.index(place)])
                if used[place] != want:
                    raise RuntimeError(f"TF LSTMCell {place} created unexpected weights {sorted(used[place])}")
            fetches = fetch_outputs + [t for place in places for t in (finals[place].c, finals[place].h)]
            self.session, self._callable = open_session(self.graph, [self.floats, self.ints], fetches)
            self.signature = signature([self.floats, self.ints], fetches, single=False)
        self.time_major, self.bidirectional, self.places = time_major, bidirectional, places

    def run(self, floats: np.ndarray, ints: np.ndarray) -> list[np.ndarray]:
        return self._callable(floats, ints)

    def close(self) -> None:
        self._callable = None
        self.session.close()


def pack_network_case(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The :class:`NetworkGraph` feeds: every cell's pieces (as pack_floats lays out one cell's) in
    ``case.cells()`` order, then the inputs in the case's layout; ints = piece sizes, per-cell dims,
    batch, time, input size, lengths [B]."""
    B, T, I = case.batch, case.time, case.config.input_size
    cells = case.cells()
    sizes = [size for _, _, cell in cells for size in cell_sizes(cell.config, B)] + [B * T * I]
    floats = np.zeros(sum(sizes), dtype=case.config.np_dtype)
    pieces = np.split(floats, np.cumsum(sizes)[:-1])
    dims = []
    for i, (_, _, cell) in enumerate(cells):
        cfg = cell.config
        fill_cell(dict(zip(_CELL_PIECES, pieces[11 * i : 11 * i + 11])), cfg, cell.params, cell.initial_state)
        dims += [cfg.input_size + cfg.output_size, 4 * cfg.num_units, cfg.num_units, cfg.output_size,
                 activation_index(cfg.activation)]
    pieces[-1][:] = case.batch_major_inputs.reshape(-1)  # the graph is batch-major
    ints = np.array(sizes + dims + [B, T, I] + case.lengths().tolist(), dtype=np.int32)
    return floats, ints


def unpack_network_result(fetched: list[np.ndarray], case: Case) -> Result:
    """The fetched outputs and per-cell states -> a batch-major Result named as conformance.spec._topology names."""
    cells = case.cells()
    outputs = list(fetched[: 2 if case.bidirectional else 1])  # batch-major, whatever the case's layout
    arrays = {"outputs": outputs[0]}
    if case.bidirectional:
        arrays["outputs_bw"] = outputs[1]
    states = fetched[len(outputs):]
    for i, (k, d, _) in enumerate(cells):
        arrays[cell_prefix(k, d) + "c"], arrays[cell_prefix(k, d) + "h"] = states[2 * i], states[2 * i + 1]
    return Result.from_arrays({k: np.ascontiguousarray(v) for k, v in arrays.items()})
