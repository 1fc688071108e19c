"""A candidate built on TF's own legacy LSTMCell, run inside a tf.function (issue 17 item 3)."""
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import numpy as np
from conformance import candidate


@candidate(features=["forget_bias", "initial_state", "peepholes", "cell_clip", "projection", "proj_clip"],
           dtypes=["float32"])
def tf_cell(case):
    import tensorflow as tf
    import tf_keras  # noqa: F401

    cfg = case.config
    cell = tf.compat.v1.nn.rnn_cell.LSTMCell(cfg.num_units, use_peepholes=cfg.use_peepholes, cell_clip=cfg.cell_clip,
                                             num_proj=cfg.num_proj, proj_clip=cfg.proj_clip,
                                             forget_bias=cfg.forget_bias, dtype=tf.float32)
    cell.build(tf.TensorShape([None, cfg.input_size]))
    by_name = {v.name.split(":")[0].split("/", 1)[1]: v for v in cell.variables}
    for name, array in case.params.arrays().items():
        by_name["projection/kernel" if name == "proj_kernel" else name].assign(array)

    @tf.function
    def run(x, c, h):
        state = tf.compat.v1.nn.rnn_cell.LSTMStateTuple(c, h)
        outs = []
        for t in range(case.time):
            out, state = cell(x[:, t], state)
            outs.append(out)
        return tf.stack(outs, axis=1), state.c, state.h

    out, c, h = run(tf.constant(case.inputs), tf.constant(case.initial_state.c), tf.constant(case.initial_state.h))
    return out.numpy(), (c.numpy(), h.numpy())
