"""TensorFlow's fused LSTM kernels: ``tf.raw_ops.LSTMBlockCell`` (one step, looped) and ``BlockLSTM``.

Mapping (docs/mapping.md): the same kernel ``w`` [I + H, 4H] and bias ``b`` [4H] as
``LSTMCell`` (gate order i, ci, f, o: TF's i, j, f, o; the op docstring's i, f, ci, o is
wrong), ``forget_bias`` as the op attribute, peepholes ``wci``/``wcf``/``wco`` =
``w_i_diag``/``w_f_diag``/``w_o_diag`` with ``use_peephole``.  ``cell_clip`` is always
passed: both ops default to 3.0, and -1 disables clipping.  No projection, tanh only,
float16 and float32 only (the ops reject bfloat16 and float64).  ``BlockLSTM`` is
time-major: x [T, B, I] -> h, cs [T, B, H].

Sequence lengths and layout (docs/mapping.md): ``BlockLSTM`` takes one ``seq_len_max`` for the
whole batch, not per-row lengths, and ``LSTMBlockCell`` is one step with no notion of length:
``sequence_length`` is unsupported by both.  Time-major cases: ``BlockLSTM`` takes them as
they are (its native layout), batch-major ones are transposed; the ``LSTMBlockCell`` loop
indexes the time axis of either layout.
"""

from __future__ import annotations

from typing import Any

from conformance.candidates import candidate
from conformance.candidates.adapters._layout import check_computed_dtype, finish, peepholes
from conformance.spec import Case

FEATURES = ["forget_bias", "initial_state", "peepholes", "cell_clip", "time_major"]
DTYPES = ["float16", "float32"]
_UNSUPPORTED = {
    "projection": "the fused LSTM ops have no projection",
    "proj_clip": "the fused LSTM ops have no projection",
    "activation": "the fused LSTM ops compute tanh only",
    "stacked": "the fused LSTM ops are one cell; TF stacks cells with MultiRNNCell, which is the oracle itself",
    "bidirectional": "the fused LSTM ops run one direction; TF's bidirectional_dynamic_rnn around them is "
                     "the oracle itself",
}


def _fused_arguments(case: Case) -> tuple[Any, dict[str, Any]]:
    """TensorFlow, and the keyword arguments both ops share."""
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    cfg = case.config
    p = peepholes(case)
    return tf, dict(
        w=tf.constant(case.params.kernel), b=tf.constant(case.params.bias),
        wci=tf.constant(p["i"]), wcf=tf.constant(p["f"]), wco=tf.constant(p["o"]),
        forget_bias=cfg.forget_bias,
        cell_clip=cfg.cell_clip if cfg.cell_clip is not None else -1.0,  # the ops' default is 3.0
        use_peephole=cfg.use_peepholes,
    )


@candidate(features=FEATURES, dtypes=DTYPES,
           unsupported=dict(_UNSUPPORTED, sequence_length="LSTMBlockCell is one step with no notion of row "
                                                          "lengths; masking the loop would be the adapter's code"))
def tf_lstmblockcell(case: Case):
    """tf.raw_ops.LSTMBlockCell stepped over time (either layout; eager, CPU)."""
    tf, shared = _fused_arguments(case)
    x = tf.constant(case.batch_major_inputs)
    c, h = tf.constant(case.initial_state.c), tf.constant(case.initial_state.h)
    outputs = []
    for t in range(case.time):
        _i, c, _f, _o, _ci, _co, h = tf.raw_ops.LSTMBlockCell(x=x[:, t], cs_prev=c, h_prev=h, **shared)
        outputs.append(h)
    stacked = tf.stack(outputs, axis=0 if case.config.time_major else 1)
    check_computed_dtype(case, stacked.dtype.name)
    return finish(case, stacked.numpy(), c.numpy(), h.numpy())


@candidate(features=FEATURES, dtypes=DTYPES,
           unsupported=dict(_UNSUPPORTED, sequence_length="BlockLSTM takes one seq_len_max for the whole batch, "
                                                          "not per-row lengths"))
def tf_blocklstm(case: Case):
    """tf.raw_ops.BlockLSTM over the whole sequence (time-major natively, eager, CPU)."""
    tf, shared = _fused_arguments(case)
    x = tf.constant(case.inputs if case.config.time_major else case.inputs.transpose(1, 0, 2))
    _i, cs, _f, _o, _ci, _co, h = tf.raw_ops.BlockLSTM(
        seq_len_max=tf.constant(case.time, tf.int64), x=x, cs_prev=tf.constant(case.initial_state.c),
        h_prev=tf.constant(case.initial_state.h), **shared,
    )
    check_computed_dtype(case, h.dtype.name)
    h = h.numpy()  # [T, B, H]
    return finish(case, h if case.config.time_major else h.transpose(1, 0, 2), cs.numpy()[-1], h[-1])
