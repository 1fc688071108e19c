"""Keras models (Keras 3 or tf-keras objects, ``.keras``/``.h5`` files, Keras SavedModels) as candidates, and TF
checkpoints / SavedModels / Keras files as ``--params`` sources.

Keras ``LSTM``: ``kernel`` [I, 4H], ``recurrent_kernel`` [H, 4H], ``bias`` [4H] (gates i, f, c, o), mapped back
by ``tf_from_keras`` (forget_bias 0: Keras has none at run time); ``activation`` is the cell activation and
``recurrent_activation`` must be sigmoid (TF's gates).  The candidate is the layer's own class rebuilt from
its config with ``return_sequences`` and ``return_state`` on (to see every output and the final state) and
the layer's weights; it is called with ``initial_state=[h0, c0]``.  No row lengths (a Keras mask carries the
last output forward where ``dynamic_rnn`` writes zeros: docs/mapping.md).

TF checkpoint (``tf.train.load_checkpoint``, a prefix or a directory) or SavedModel (its
``variables/variables``): a cell is a variable scope holding ``kernel`` [I + P, 4H] and ``bias`` [4H]
(``.../lstm_cell/kernel``), with ``w_i_diag``/``w_f_diag``/``w_o_diag`` [H] and ``projection/kernel`` [H, P]
when set; the other config fields are TF's defaults (forget_bias 1.0, tanh, no clips), which a
checkpoint does not store.  A scope with ``recurrent_kernel`` is a Keras LSTM and is mapped as above.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from conformance.candidates._models import ModelCandidate, choose, pinned_from_model, to_layout
from conformance.candidates._protocol import CandidateInfo
from conformance.candidates.adapters._layout import tf_from_keras
from conformance.spec import ACTIVATIONS, CandidateLoadError, Case, PinnedParams

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def load_keras_file(path: str) -> Any:
    """A ``.keras``/``.h5`` file or a tf-keras SavedModel directory, loaded by Keras 3, else by tf-keras."""
    errors = []
    for module in ("keras", "tf_keras"):
        try:
            lib = __import__(module)
            return lib.models.load_model(path, compile=False)
        except Exception as exc:
            errors.append(f"{module}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    raise CandidateLoadError(f"{path}: expected a Keras model file, found one neither Keras 3 nor tf-keras loads "
                             f"({'; '.join(errors)})")


def _lstm_layers(obj: Any) -> dict[str, Any]:
    if type(obj).__name__ == "LSTM":
        return {obj.name: obj}
    found: dict[str, Any] = {}
    for layer in getattr(obj, "layers", []):
        found.update(_lstm_layers(layer))
    return found


def _numpy(t: Any) -> np.ndarray:
    if hasattr(t, "numpy"):
        return np.asarray(t.numpy())
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def _activation_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", fn)).lower()


def keras_weights(layer: Any, where: str, path: str | None) -> PinnedParams:
    """The layer's weights in TF's layout, with its activation."""
    weights = [np.asarray(w) for w in layer.get_weights()]
    if len(weights) not in (2, 3):
        raise CandidateLoadError(f"{where}: expected LSTM weights kernel, recurrent_kernel[, bias], found "
                                 f"{len(weights)} arrays")
    recurrent = _activation_name(layer.recurrent_activation)
    act = _activation_name(layer.activation)
    if recurrent != "sigmoid" or act not in ACTIVATIONS:
        raise CandidateLoadError(f"{where}: expected recurrent_activation sigmoid and activation one of "
                                 f"{', '.join(ACTIVATIONS)}, found {recurrent} and {act}")
    arrays, fields = tf_from_keras(*weights)
    return pinned_from_model(arrays, {**fields, "activation": act, "dtype": str(weights[0].dtype)},
                             f"{where} (layer {layer.name})", path)


def keras_model(obj: Any, path: str | None, node: str | None) -> ModelCandidate:
    """The candidate running ``obj``'s one LSTM layer (or the ``node``-named one), pinned to its weights."""
    where = path or f"{type(obj).__name__} object"
    name, layer = choose(_lstm_layers(obj), node, "Keras LSTM layer", where)
    if getattr(layer, "go_backwards", False) or getattr(layer, "stateful", False):
        raise CandidateLoadError(f"{where}: layer {name} runs go_backwards/stateful, which TF's LSTMCell under "
                                 f"dynamic_rnn does not")
    pinned = keras_weights(layer, where, path)
    config = {**layer.get_config(), "return_sequences": True, "return_state": True, "name": f"{name}_checked"}
    clone = type(layer).from_config(config)
    time_major = bool(config.get("time_major", False))  # tf-keras only
    built: dict[str, bool] = {}
    if type(layer).__module__.startswith("tf_keras"):
        from conformance.oracle import import_tensorflow

        tensor = import_tensorflow().convert_to_tensor
    else:
        import keras

        tensor = keras.ops.convert_to_tensor

    def run(case: Case) -> Any:
        x = tensor(to_layout(case.inputs, case.config.time_major, time_major))
        state = [tensor(case.initial_state.h), tensor(case.initial_state.c)]
        if not built:
            clone(x, initial_state=state)
            clone.set_weights(layer.get_weights())
            built["yes"] = True
        seq, h, c = clone(x, initial_state=state)
        return to_layout(_numpy(seq), time_major, case.config.time_major), (_numpy(c), _numpy(h))

    info = CandidateInfo(name=where, features=frozenset({"forget_bias", "initial_state", "time_major", "activation"}),
                         dtypes=frozenset({pinned.config.dtype}),
                         description=f"Keras {type(layer).__module__.split('.')[0]} LSTM layer {name} of {where}, "
                                     f"its own weights")
    return ModelCandidate(run, pinned, info)


def saved_model(path: str, node: str | None) -> ModelCandidate:
    """A Keras SavedModel directory (tf-keras ``model.save(dir)``) as a candidate."""
    return keras_model(load_keras_file(path), path, node)


def _checkpoint_cells(path: str) -> tuple[dict[str, dict[str, np.ndarray]], str]:
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    prefix = path
    if os.path.isdir(path):
        saved = os.path.join(path, "variables", "variables")
        prefix = saved if os.path.exists(saved + ".index") else tf.train.latest_checkpoint(path) or path
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = [n for n, _ in tf.train.list_variables(prefix)]
    except Exception as exc:
        raise CandidateLoadError(f"{path}: expected a TF checkpoint or SavedModel, found none readable "
                                 f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    scopes: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        clean = name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else name
        clean = clean.replace(".S", "/")  # an object-based checkpoint escapes "/" in a name as ".S"
        for leaf in ("projection/kernel", "recurrent_kernel", "kernel", "bias", "w_i_diag", "w_f_diag", "w_o_diag"):
            if clean.endswith("/" + leaf) or clean == leaf:
                scope = clean[: -len(leaf)].rstrip("/")
                if leaf == "kernel" and scope.endswith("projection"):
                    break
                scopes.setdefault(scope, {})[leaf] = np.asarray(reader.get_tensor(name))
                break
    cells = {s: a for s, a in scopes.items() if "kernel" in a and "bias" in a and np.ndim(a["kernel"]) == 2}
    return cells, ", ".join(sorted(n for n in names if not n.startswith("_")))[:300]


def params_from_tf_file(path: str, node: str | None) -> PinnedParams:
    """Pinned parameters from a TF checkpoint, a SavedModel or a Keras file (see the module docstring)."""
    if path.endswith((".keras", ".h5")):
        model = load_keras_file(path)
        name, layer = choose(_lstm_layers(model), node, "Keras LSTM layer", path)
        return keras_weights(layer, path, path)
    cells, names = _checkpoint_cells(path)
    if not cells:
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
            model = load_keras_file(path)
            _, layer = choose(_lstm_layers(model), node, "Keras LSTM layer", path)
            return keras_weights(layer, path, path)
        raise CandidateLoadError(f"{path}: expected variables .../kernel [I+P, 4H] and .../bias [4H] of an LSTMCell, "
                                 f"found {names or 'no variables'}")
    scope, arrays = choose(cells, node, "LSTMCell variable scope", path)
    if "recurrent_kernel" in arrays:
        mapped, fields = tf_from_keras(arrays["kernel"], arrays["recurrent_kernel"], arrays.get("bias"))
    else:
        mapped = {("proj_kernel" if k == "projection/kernel" else k): v for k, v in arrays.items()}
        fields = {}
    dtype = str(mapped["kernel"].dtype)
    return pinned_from_model(mapped, {**fields, "dtype": dtype}, f"{path} ({scope or 'root'})", path)
