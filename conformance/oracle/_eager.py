"""TF's LSTMCell the straightforward way: the independent cross-check of the graph oracle."""

from __future__ import annotations

import warnings

import numpy as np

from conformance.oracle._sequence import unpack_sequence_result, uses_sequence_graph
from conformance.oracle._tf import import_tensorflow, tf_dtype
from conformance.spec import Case, Result


class EagerOracle:
    """TF's LSTMCell the straightforward way: built eagerly for exactly the case's config on
    every call, its variables assigned the case's weights, stepped over time in Python.

    Slow (a cell build per case, eager dispatch per op and step); kept as the
    independent cross-check of :class:`TFOracle` (identical results,
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
                activation=None if cfg.activation == "tanh" else cfg.activation, dtype=tf_dtype(tf, cfg.dtype),
            )
        cell.build(tf.TensorShape([None, cfg.input_size]))
        by_name = {v.name.split(":")[0].split("/", 1)[1]: v for v in cell.variables}
        for name, array in case.params.arrays().items():
            by_name["projection/kernel" if name == "proj_kernel" else name].assign(array)
        state = tf.compat.v1.nn.rnn_cell.LSTMStateTuple(tf.constant(case.initial_state.c),
                                                         tf.constant(case.initial_state.h))
        if uses_sequence_graph(case):  # TF's dynamic_rnn, eagerly, over the exact-config cell
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out, final = tf.compat.v1.nn.dynamic_rnn(
                    cell, tf.constant(case.inputs), sequence_length=tf.constant(case.lengths().astype(np.int32)),
                    initial_state=state, time_major=cfg.time_major)
            self.calls += 1
            return unpack_sequence_result([out.numpy(), final.c.numpy(), final.h.numpy()], case)
        outputs = []
        for t in range(case.time):
            out, state = cell(tf.constant(case.inputs[:, t]), state)
            outputs.append(out.numpy())
        self.calls += 1
        return Result(np.stack(outputs, axis=1), state.c.numpy(), state.h.numpy())
