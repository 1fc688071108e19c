"""TFLite: the case's TF program through ``tf.lite.TFLiteConverter``, run on ``tf.lite.Interpreter`` (CPU).

Two candidates, one per conversion path; each checks the converted model's op list (read from the
interpreter before its delegates are applied) so it really exercises its path:

* ``tflite-while``: TF's legacy ``LSTMCell`` unrolled by ``dynamic_rnn`` (``_converted.lstmcell_program``,
  the oracle's own computation) -> ``TFLiteConverter.from_concrete_functions``.  The loop stays a ``WHILE``
  op with the cell's ops in its body; the model must hold ``WHILE`` and no ``UNIDIRECTIONAL_SEQUENCE_LSTM``.
  Every cell option maps one to one (it *is* the TF program), row lengths are the ``seq_len`` input.
* ``tflite-fused``: a tf-keras ``LSTM`` (the front end the converter fuses: TF's LSTMCell has no fused
  lowering) -> ``UNIDIRECTIONAL_SEQUENCE_LSTM``; the model must hold it and no ``WHILE``.  The weights
  are the Keras mapping of docs/mapping.md (gates i, f, c, o; ``forget_bias`` folded into the bias).
  Measured (TF 2.21), the converter fuses only a layer with tanh/sigmoid activations, no mask and
  ``return_state=False``: asking for the final state, or passing a mask for row lengths, gives the
  WHILE path instead.  So the model returns the outputs only; h_T is its last output step, and c_T is
  read from the cell-state input tensor after ``invoke()``: the fused kernel keeps its state in that
  tensor and updates it in place (documented in docs/mapping.md, "Converters").
  ``initial_state`` is fed as the layer's ``initial_state`` (model inputs ``h0``, ``c0``); ``time_major``
  by the layer's ``time_major=True``.  No peepholes, clipping or projection (Keras has none), no
  lengths, tanh only, float32 only.

Dtypes (measured, TF 2.21): float32 only.  With TFLite's builtin ops the converter refuses a float16
program ("'tf.Transpose' op is neither a custom op nor a flex op") and a float64 one (the same for
``tf.Mul``); bfloat16 fails to lower the TensorList ops.  (Select TF ops would run them as TF kernels,
which is not TFLite.)

Conversion costs 0.2-4 s, a run ~1 ms: both declare ``per_params_cost`` and cache converted models
per parameter set (``_converted.ConvertedModels``).  A conversion error is the candidate's
``exception`` fault with the converter's message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.candidates import candidate
from conformance.candidates.adapters._converted import (
    ConversionError,
    ConvertedModels,
    converter_log,
    lstmcell_program,
    program_feeds,
    require_ops,
)
from conformance.candidates.adapters._layout import (
    KERAS_ORDER,
    check_computed_dtype,
    finish,
    folded_bias,
    reorder_gates,
    split_kernel,
)
from conformance.spec import Case

FUSED_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"
WHILE_OP = "WHILE"
_NETWORKS = {
    "stacked": "the adapter converts one LSTMCell (a MultiRNNCell program is not built)",
    "bidirectional": "the adapter converts one LSTMCell (a bidirectional_dynamic_rnn program is not built)",
}
while_models = ConvertedModels(".tflite")
fused_models = ConvertedModels(".tflite")


def model_ops(model: bytes) -> set[str]:
    """The builtin op names of a ``.tflite`` model (its own graph, before any delegate takes ops over)."""
    import warnings

    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice that it moves to ai_edge_litert
        interpreter = tf.lite.Interpreter(model_content=model)
    return {op["op_name"] for op in interpreter._get_ops_details()}


def _interpreter(model: bytes) -> Any:
    import warnings

    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice that it moves to ai_edge_litert
        interpreter = tf.lite.Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def _convert(converter: Any, required: str, forbidden: str) -> tuple[bytes, Any, str]:
    with converter_log() as log:  # TF's own logger stays at ERROR: the message travels in the exception
        try:
            model = converter.convert()
        except Exception as exc:
            raise ConversionError(f"TFLiteConverter failed: {exc}") from exc
    require_ops(model_ops(model), required=(required,), forbidden=(forbidden,))
    return model, _interpreter(model), log.getvalue()


def _run(interpreter: Any, feeds: dict[str, np.ndarray]) -> tuple[Any, list[np.ndarray]]:
    """Run the model's signature on ``feeds``; the runner and the outputs in signature order (output_0, ...)."""
    runner = interpreter.get_signature_runner()
    got = runner(**{name: np.ascontiguousarray(value) for name, value in feeds.items()})
    return runner, [got[name] for name in sorted(got, key=lambda n: int(n.rsplit("_", 1)[-1]))]


def _convert_while(case: Case) -> tuple[bytes, Any, str]:
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    fn = lstmcell_program(case)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn.cell)
    return _convert(converter, WHILE_OP, FUSED_OP)


@candidate(features=["forget_bias", "initial_state", "peepholes", "cell_clip", "projection", "proj_clip",
                     "activation", "sequence_length", "time_major"],
           dtypes=["float32"], per_params_cost=True, unsupported=_NETWORKS)
def tflite_while(case: Case):
    """TF LSTMCell + dynamic_rnn -> TFLiteConverter (WHILE loop, checked) -> tf.lite.Interpreter."""
    interpreter = while_models.get(case, lambda: _convert_while(case))
    _, (outputs, c, h) = _run(interpreter, program_feeds(case))
    check_computed_dtype(case, outputs.dtype.name)
    return finish(case, outputs, c, h)


def _convert_fused(case: Case) -> tuple[bytes, Any, str]:
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    import tf_keras

    cfg = case.config
    B, T, I, H = case.batch, case.time, cfg.input_size, cfg.num_units
    layer = tf_keras.layers.LSTM(H, return_sequences=True, time_major=cfg.time_major, activation="tanh",
                                 recurrent_activation="sigmoid")
    layer.build((T, B, I) if cfg.time_major else (B, T, I))
    kx, kh = split_kernel(case)
    layer.set_weights([reorder_gates(kx, H, KERAS_ORDER), reorder_gates(kh, H, KERAS_ORDER),
                       folded_bias(case, KERAS_ORDER)])
    signature = [tf.TensorSpec([T, B, I] if cfg.time_major else [B, T, I], tf.float32, name="x"),
                 tf.TensorSpec([B, H], tf.float32, name="h0"), tf.TensorSpec([B, H], tf.float32, name="c0")]
    fn = tf.function(lambda x, h0, c0: layer(x, initial_state=[h0, c0]), input_signature=signature)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], layer)
    return _convert(converter, FUSED_OP, WHILE_OP)


@candidate(features=["forget_bias", "initial_state", "time_major"], dtypes=["float32"], per_params_cost=True,
           unsupported=dict(
               _NETWORKS,
               peepholes="tf-keras' LSTM (the fused path's front end) has no peepholes",
               cell_clip="tf-keras' LSTM has no cell-state clipping", projection="tf-keras' LSTM has no projection",
               proj_clip="tf-keras' LSTM has no projection",
               activation="the converter fuses only a tanh/sigmoid LSTM (others convert to a WHILE loop)",
               sequence_length="a mask (row lengths) makes the converter emit a WHILE loop, not the fused op"))
def tflite_fused(case: Case):
    """tf-keras LSTM -> TFLiteConverter (UNIDIRECTIONAL_SEQUENCE_LSTM, checked) -> tf.lite.Interpreter."""
    interpreter = fused_models.get(case, lambda: _convert_fused(case))
    runner, (y,) = _run(interpreter, program_feeds(case))  # y [B, T, H] or [T, B, H]
    check_computed_dtype(case, y.dtype.name)
    c = interpreter.get_tensor(runner.get_input_details()["c0"]["index"])  # the fused kernel's state, updated in place
    h = y[-1] if case.config.time_major else y[:, -1]
    return finish(case, y, c, h)


# The cache (hit counts) and, for a counterexample, the converted model and log of a case (run/_finish.py).
tflite_while.models = while_models
tflite_fused.models = fused_models
tflite_while.converted_model = lambda case: while_models.artifact(case, lambda: _convert_while(case))
tflite_fused.converted_model = lambda case: fused_models.artifact(case, lambda: _convert_fused(case))
