"""Keras: ``keras.layers.LSTM`` (Keras 3) on each backend, and the tf-keras ``LSTM`` layer.

Mapping (docs/mapping.md): Keras gates are i, f, c, o; ``kernel`` [I, 4H] and
``recurrent_kernel`` [H, 4H] are the canonical input and recurrent kernel blocks
reordered (no transpose); ``bias`` [4H] has ``forget_bias`` folded into f
(``unit_forget_bias`` only initialises).  ``initial_state`` is ``[h0, c0]`` and
the layer returns ``[outputs, h, c]``.  ``activation`` maps to the layer's
``activation``; ``recurrent_activation`` is set to ``"sigmoid"`` explicitly (tf-keras
v1 layers default to hard_sigmoid).  No peepholes, clipping or projection.

Sequence lengths and layout (docs/mapping.md): row lengths are passed as the layer's
documented ``mask`` argument (True at ``t < L[b]``), the boolean a ``Masking`` layer would
compute.  Keras' masking contract differs from ``dynamic_rnn``'s: at a masked step the
state is carried and the *output repeats the previous output* where TF writes zeros
(before a row's first valid step: zeros on the TensorFlow and torch backends, the initial
h on the JAX backend); the adapter does not patch that (the harness reports
it, variant ``padded_outputs_repeat_last``).  ``zero_output_for_mask=True`` (an RNN
argument) would zero them; it is not the default, so it is not used.  Keras 3's LSTM
has no ``time_major`` (inputs are [batch, timesteps, feature]): unsupported.  tf-keras'
LSTM takes ``time_major=True``; its mask must then be [timesteps, batch] (the layout a
``Masking`` layer computes from time-major inputs), though the call docstring says
[batch, timesteps]: a [batch, timesteps] mask fails in ``SelectV2`` (for B == T it
would be read transposed).

Keras 3 reads ``KERAS_BACKEND`` once, when ``keras`` is first imported, so each
backend is its own candidate declaring the variable; the harness sets it before
the first call or gives the candidate a process of its own.

Networks (docs/mapping.md, "Stacked and bidirectional networks"): one ``LSTM`` per layer, each
called with its own ``initial_state`` and the same mask, layer k + 1 reading the concatenated
outputs of layer k; a bidirectional layer is ``Bidirectional(LSTM, backward_layer=LSTM(
go_backwards=True), merge_mode=None, dtype=...)`` with ``initial_state=[h_fw, c_fw, h_bw, c_bw]``
(the first half goes to the forward layer), returning ``[out_fw, out_bw, h_fw, c_fw, h_bw, c_bw]``.
The wrapper needs the dtype too: it casts both outputs to its own compute dtype (float32 by
default).  Bidirectional forces ``zero_output_for_mask=True`` on both layers (documented).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.candidates import candidate
from conformance.candidates.adapters._layout import (
    KERAS_ORDER,
    BoundedCache,
    cell_view,
    check_computed_dtype,
    exact_float32,
    finish,
    folded_bias,
    network_result,
    reorder_gates,
    split_kernel,
)
from conformance.spec import DTYPES, Case

FEATURES = ["forget_bias", "initial_state", "activation", "sequence_length", "stacked", "bidirectional"]
_CELL_UNSUPPORTED = {
    "peepholes": "Keras' LSTM has no peephole connections",
    "cell_clip": "Keras' LSTM has no cell-state clipping",
    "projection": "Keras' LSTM has no projection",
    "proj_clip": "Keras' LSTM has no projection",
}
KERAS3_UNSUPPORTED = dict(_CELL_UNSUPPORTED, time_major="keras.layers.LSTM (Keras 3) has no time_major "
                                                         "argument: inputs are [batch, timesteps, feature]")
_layers = BoundedCache()


def length_mask(case: Case) -> np.ndarray | None:
    """The Keras mask for the case's row lengths: bool, True at steps ``t < L[b]``, in the inputs'
    layout ([B, T], or [T, B] time-major; what ``keras.layers.Masking`` computes); None without lengths."""
    if case.sequence_length is None:
        return None
    mask = np.arange(case.time)[None, :] < case.lengths()[:, None]
    return np.ascontiguousarray(mask.T) if case.config.time_major else mask


def _keras_weights(case: Case) -> dict[str, np.ndarray]:
    """``{"kernel": [I, 4H], "recurrent_kernel": [H, 4H], "bias": [4H]}`` in Keras gate order."""
    H = case.config.num_units
    kx, kh = split_kernel(case)
    return {"kernel": reorder_gates(kx, H, KERAS_ORDER), "recurrent_kernel": reorder_gates(kh, H, KERAS_ORDER),
            "bias": folded_bias(case, KERAS_ORDER)}


def _layer_kwargs(case: Case) -> dict[str, Any]:
    cfg = case.config
    # Zero initialisers: the weights are overwritten anyway, and the default orthogonal
    # initialiser (a QR) has no float16/bfloat16 kernel on several backends.  The mask's
    # zero_output_for_mask stays at its default (False): the layer's documented behaviour.
    return dict(units=cfg.num_units, activation=cfg.activation, recurrent_activation="sigmoid", use_bias=True,
                unit_forget_bias=False, return_sequences=True, return_state=True, dtype=cfg.dtype,
                kernel_initializer="zeros", recurrent_initializer="zeros", bias_initializer="zeros")


def _keras3(backend: str) -> Any:
    if backend == "jax":
        from conformance.candidates.adapters._jax import import_jax

        import_jax()  # float64 needs x64 switched on
    import keras

    actual = keras.backend.backend()
    if actual != backend:
        raise RuntimeError(
            f"keras was already imported in this process with backend {actual!r}; this candidate needs "
            f"KERAS_BACKEND={backend} set before keras is imported (run it in its own process)"
        )
    return keras


def _build_keras3(case: Case, backend: str) -> Any:
    keras = _keras3(backend)
    layer = keras.layers.LSTM(**_layer_kwargs(case))
    layer.build((None, None, case.config.input_size))
    if backend != "jax":
        return layer, None
    import jax

    # Eager calls re-trace the layer's lax.scan every time (~0.5 s); a jitted
    # stateless call compiles once per input shape.
    def run(trainable, non_trainable, x, h0, c0, mask):
        outputs, _ = layer.stateless_call(trainable, non_trainable, x, initial_state=[h0, c0], mask=mask)
        return outputs

    return layer, jax.jit(run)


def _run_keras3(case: Case, backend: str):
    if not case.single_cell:
        return _run_keras3_network(case, backend)
    keras = _keras3(backend)
    cfg = case.config
    layer, jitted = _layers.get(("keras3", backend, cfg.input_size, cfg.num_units, cfg.activation, cfg.dtype),
                                lambda: _build_keras3(case, backend))

    def tensor(a: np.ndarray) -> Any:
        return keras.ops.convert_to_tensor(exact_float32(a), dtype=cfg.dtype)

    weights = _keras_weights(case)
    by_name = {v.path.rsplit("/", 1)[-1]: v for v in layer.trainable_variables}
    x, h0, c0 = tensor(case.inputs), tensor(case.initial_state.h), tensor(case.initial_state.c)
    mask_array = length_mask(case)
    mask = None if mask_array is None else keras.ops.convert_to_tensor(mask_array, dtype="bool")
    if jitted is not None:
        trainable = [tensor(weights[v.path.rsplit("/", 1)[-1]]) for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        outputs, h, c = jitted(trainable, non_trainable, x, h0, c0, mask)
    else:
        for name, value in weights.items():
            by_name[name].assign(tensor(value))
        outputs, h, c = layer(x, initial_state=[h0, c0], mask=mask)
    check_computed_dtype(case, keras.backend.standardize_dtype(outputs.dtype))
    to_np = keras.ops.convert_to_numpy
    return finish(case, to_np(outputs), to_np(c), to_np(h))


def _network_key(case: Case) -> tuple[Any, ...]:
    """What a built network depends on: the input size and per layer the forward (and backward) units."""
    sizes = tuple(tuple(cell.config.num_units for layer, _, cell in case.cells() if layer == k)
                  for k in range(case.num_layers))
    cfg = case.config
    return (cfg.input_size, cfg.activation, cfg.dtype, cfg.time_major, sizes)


def _build_network(layers_module: Any, case: Case, **extra: Any) -> list[Any]:
    """One layer per network layer: ``LSTM(return_sequences=True, return_state=True)``, or for a
    bidirectional layer ``Bidirectional(LSTM(H_fw), backward_layer=LSTM(H_bw, go_backwards=True),
    merge_mode=None)`` (both directions returned separately), each built for its input width."""
    cfg = case.config
    built, width = [], cfg.input_size
    for k in range(case.num_layers):
        cells = [cell for layer, _, cell in case.cells() if layer == k]
        kwargs = [dict(_layer_kwargs(cell_view(case, cell)), **extra) for cell in cells]
        layer = layers_module.LSTM(**kwargs[0])
        if case.bidirectional:
            # dtype: the wrapper casts both outputs to its own compute dtype (float32 by default).
            layer = layers_module.Bidirectional(layer, merge_mode=None, dtype=cfg.dtype,
                                                backward_layer=layers_module.LSTM(go_backwards=True, **kwargs[1]))
        shape = (None, None, width)
        layer.build(shape)
        built.append(layer)
        width = sum(cell.config.num_units for cell in cells)
    return built


def _network_weights(case: Case, built: list[Any]) -> dict[int, np.ndarray]:
    """``id(variable) -> value`` for every LSTM cell variable of the built network, in Keras' layout."""
    out: dict[int, np.ndarray] = {}
    for k, layer in enumerate(built):
        cells = [cell for level, _, cell in case.cells() if level == k]
        lstms = [layer.forward_layer, layer.backward_layer] if case.bidirectional else [layer]
        for lstm, cell in zip(lstms, cells):
            weights = _keras_weights(cell_view(case, cell))
            for name in ("kernel", "recurrent_kernel", "bias"):
                out[id(getattr(lstm.cell, name))] = weights[name]
    return out


def _initial_states(case: Case, k: int, tensor: Any) -> list[Any]:
    """Layer k's ``initial_state``: ``[h, c]``, or ``[h_fw, c_fw, h_bw, c_bw]`` for Bidirectional (it hands
    the first half to the forward layer, the second to the backward one)."""
    return [tensor(a) for level, _, cell in case.cells() if level == k
            for a in (cell.initial_state.h, cell.initial_state.c)]


def _unpack_layer(case: Case, result: Any) -> tuple[Any, list[tuple[Any, Any]]]:
    """A layer's return -> (its outputs for the next layer's input, [(c, h) per direction])."""
    if case.bidirectional:  # merge_mode=None, return_state: [out_fw, out_bw, h_fw, c_fw, h_bw, c_bw]
        out_fw, out_bw, h_fw, c_fw, h_bw, c_bw = result
        return (out_fw, out_bw), [(c_fw, h_fw), (c_bw, h_bw)]
    outputs, h, c = result
    return outputs, [(c, h)]


def _network_outputs(case: Case, results: list[Any], to_np: Any):
    states = [(to_np(c), to_np(h)) for r in results for c, h in _unpack_layer(case, r)[1]]
    top = _unpack_layer(case, results[-1])[0]
    return network_result(case, tuple(to_np(o) for o in top) if case.bidirectional else to_np(top), states)


def _run_keras3_network(case: Case, backend: str):
    keras = _keras3(backend)
    cfg = case.config
    ops = keras.ops

    def tensor(a: np.ndarray) -> Any:
        return ops.convert_to_tensor(exact_float32(a), dtype=cfg.dtype)

    def next_input(outputs: Any) -> Any:
        return ops.concatenate(list(outputs), axis=-1) if case.bidirectional else outputs

    def build() -> Any:
        built = _build_network(keras.layers, case)
        if backend != "jax":
            return built, None
        import jax

        def run(trainables, non_trainables, x, states, mask):
            results = []
            for layer, tr, ntr, init in zip(built, trainables, non_trainables, states):
                result, _ = layer.stateless_call(tr, ntr, x, initial_state=init, mask=mask)
                results.append(result)
                x = next_input(_unpack_layer(case, result)[0])
            return results

        return built, jax.jit(run)

    built, jitted = _layers.get(("keras3-network", backend) + _network_key(case), build)
    values = _network_weights(case, built)
    mask_array = length_mask(case)
    mask = None if mask_array is None else ops.convert_to_tensor(mask_array, dtype="bool")
    x = tensor(case.inputs)
    states = [_initial_states(case, k, tensor) for k in range(case.num_layers)]
    if jitted is not None:
        trainables = [[tensor(values[id(v)]) for v in layer.trainable_variables] for layer in built]
        non_trainables = [[v.value for v in layer.non_trainable_variables] for layer in built]
        results = jitted(trainables, non_trainables, x, states, mask)
    else:
        for layer in built:
            for v in layer.trainable_variables:
                v.assign(tensor(values[id(v)]))
        results = []
        for layer, init in zip(built, states):
            results.append(layer(x, initial_state=init, mask=mask))
            x = next_input(_unpack_layer(case, results[-1])[0])
    first = results[-1][0]
    check_computed_dtype(case, keras.backend.standardize_dtype(first.dtype))
    return _network_outputs(case, results, ops.convert_to_numpy)


@candidate(features=FEATURES, dtypes=DTYPES, env={"KERAS_BACKEND": "tensorflow"}, unsupported=KERAS3_UNSUPPORTED)
def keras3_tensorflow(case: Case):
    """Keras 3 keras.layers.LSTM on the TensorFlow backend (CPU)."""
    return _run_keras3(case, "tensorflow")


@candidate(features=FEATURES, dtypes=DTYPES, env={"KERAS_BACKEND": "jax"}, unsupported=KERAS3_UNSUPPORTED)
def keras3_jax(case: Case):
    """Keras 3 keras.layers.LSTM on the JAX backend (CPU, jitted stateless call)."""
    return _run_keras3(case, "jax")


@candidate(features=FEATURES, dtypes=DTYPES, env={"KERAS_BACKEND": "torch"}, unsupported=KERAS3_UNSUPPORTED)
def keras3_torch(case: Case):
    """Keras 3 keras.layers.LSTM on the PyTorch backend (CPU)."""
    return _run_keras3(case, "torch")


def _build_tf_keras(case: Case) -> Any:
    from conformance.oracle import import_tensorflow

    import_tensorflow()
    import tf_keras

    layer = tf_keras.layers.LSTM(time_major=case.config.time_major, **_layer_kwargs(case))
    layer.build((None, None, case.config.input_size))
    return layer


@candidate(features=FEATURES + ["time_major"], dtypes=DTYPES, unsupported=_CELL_UNSUPPORTED)
def tf_keras_lstm(case: Case):
    """tf-keras (Keras 2) tf_keras.layers.LSTM (time_major=True for time-major cases, a mask for lengths) on CPU."""
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    cfg = case.config
    if not case.single_cell:
        return _run_tf_keras_network(case)
    layer = _layers.get(("tf_keras", cfg.input_size, cfg.num_units, cfg.activation, cfg.dtype, cfg.time_major),
                        lambda: _build_tf_keras(case))

    def tensor(a: np.ndarray) -> Any:
        return tf.cast(tf.constant(exact_float32(a)), cfg.dtype)

    weights = _keras_weights(case)
    layer.cell.kernel.assign(tensor(weights["kernel"]))
    layer.cell.recurrent_kernel.assign(tensor(weights["recurrent_kernel"]))
    layer.cell.bias.assign(tensor(weights["bias"]))
    mask = length_mask(case)
    outputs, h, c = layer(tensor(case.inputs), initial_state=[tensor(case.initial_state.h),
                                                             tensor(case.initial_state.c)],
                          mask=None if mask is None else tf.constant(mask))
    check_computed_dtype(case, outputs.dtype.name)
    to_np = lambda t: tf.cast(t, "float32").numpy() if cfg.dtype == "bfloat16" else t.numpy()
    return finish(case, to_np(outputs), to_np(c), to_np(h))


def _run_tf_keras_network(case: Case):
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    import tf_keras

    cfg = case.config

    def tensor(a: np.ndarray) -> Any:
        return tf.cast(tf.constant(exact_float32(a)), cfg.dtype)

    built = _layers.get(("tf_keras-network",) + _network_key(case),
                        lambda: _build_network(tf_keras.layers, case, time_major=cfg.time_major))
    values = _network_weights(case, built)
    for layer in built:
        for v in layer.trainable_variables:
            v.assign(tensor(values[id(v)]))
    mask = length_mask(case)
    x, results = tensor(case.inputs), []
    for k, layer in enumerate(built):
        results.append(layer(x, initial_state=_initial_states(case, k, tensor),
                             mask=None if mask is None else tf.constant(mask)))
        top = _unpack_layer(case, results[-1])[0]
        x = tf.concat(list(top), axis=-1) if case.bidirectional else top
    check_computed_dtype(case, results[-1][0].dtype.name)
    to_np = lambda t: tf.cast(t, "float32").numpy() if cfg.dtype == "bfloat16" else t.numpy()
    return _network_outputs(case, results, to_np)
