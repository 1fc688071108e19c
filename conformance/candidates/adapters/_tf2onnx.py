"""tf2onnx: the case's TF program converted to ONNX by ``tf2onnx.convert.from_function``, checked with
``onnx.checker.check_model`` and run on onnxruntime's CPU provider.

The program is ``_converted.lstmcell_program``: TF's legacy ``LSTMCell`` (the case's config and weights)
unrolled by ``dynamic_rnn`` in a ``tf.function`` with static shapes (x [B, T, I] or [T, B, I],
c0 [B, H], h0 [B, P], seq_len int32 [B] when the case has lengths).  tf2onnx freezes the variables
and rewrites the ``While`` loop (measured, tf2onnx 1.17 at its default opset: an ONNX ``Loop``
holding the cell's MatMul/Sigmoid/Tanh ops; the LSTMCell of TF 2 control flow is not fused into
an ONNX ``LSTM`` node).  tf2onnx lower-cases input names; outputs are ``(outputs, c, h)`` in order.
Every cell option goes through as TF wrote it, so every one is declared.  A conversion error, or a
model ``onnx.checker`` or onnxruntime refuses, is the candidate's ``exception`` fault with tf2onnx's
message and log (``tf2onnx_lstmcell.models.last_log``).

Dtypes (measured): float16, float32, float64 convert and run; bfloat16 converts, but onnxruntime refuses
the model (its ``Loop`` takes no bfloat16 state), so it is not declared.

Conversion costs ~0.5-1.5 s, a run ~1 ms: the candidate declares ``per_params_cost`` and caches
sessions per parameter set (``_converted.ConvertedModels``).
"""

from __future__ import annotations

from typing import Any

from conformance.candidates import candidate
from conformance.candidates.adapters._converted import (
    ConversionError,
    ConvertedModels,
    converter_log,
    lstmcell_program,
    program_feeds,
)
from conformance.candidates.adapters._layout import check_computed_dtype, finish
from conformance.spec import Case

models = ConvertedModels(".onnx")


def _convert(case: Case) -> tuple[bytes, Any, str]:
    fn = lstmcell_program(case)
    with converter_log("tf2onnx") as log:
        try:
            import onnx
            import tf2onnx

            proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature)
            onnx.checker.check_model(proto)
        except Exception as exc:
            raise ConversionError(f"tf2onnx failed: {type(exc).__name__}: {exc}\n{log.getvalue()}") from exc
    model = proto.SerializeToString()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # a kernel's error reaches the report in the exception, not as a console line
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"onnxruntime refused tf2onnx's model: {type(exc).__name__}: {exc}") from exc
    return model, session, log.getvalue()


@candidate(features=["forget_bias", "initial_state", "peepholes", "cell_clip", "projection", "proj_clip",
                     "activation", "sequence_length", "time_major"],
           dtypes=["float16", "float32", "float64"], per_params_cost=True,
           unsupported={"stacked": "the adapter converts one LSTMCell (a MultiRNNCell program is not built)",
                        "bidirectional": "the adapter converts one LSTMCell (a bidirectional_dynamic_rnn program "
                                         "is not built)"})
def tf2onnx_lstmcell(case: Case):
    """TF LSTMCell + dynamic_rnn -> tf2onnx -> onnx.checker -> onnxruntime (CPU)."""
    session = models.get(case, lambda: _convert(case))
    feeds = {name.lower(): value for name, value in program_feeds(case).items()}
    outputs, c, h = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})
    check_computed_dtype(case, outputs.dtype.name)
    return finish(case, outputs, c, h)


# The cache (hit counts) and, for a counterexample, the converted model and log of a case (run/_finish.py).
tf2onnx_lstmcell.models = models
tf2onnx_lstmcell.converted_model = lambda case: models.artifact(case, lambda: _convert(case))
