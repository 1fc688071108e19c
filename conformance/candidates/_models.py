"""Models as candidates: a torch / Keras object, or a model file (.pt, .onnx, .tflite, .keras, .h5, SavedModel).

The model runs itself, with its own weights; those weights are read from it and mapped back to
TF's layout by the inverse mappings of conformance/candidates/adapters/_layout.py (docs/mapping.md,
"The inverse mappings"), and the run is pinned to them (conformance.spec.PinnedParams): the oracle
runs TF's ``LSTMCell`` with them while the candidate ignores ``case.params``.  With ``--params`` the
oracle runs those instead (the original TF weights), so a weight-conversion error shows.

Targets: an object (``conformance.check(module)``: ``torch.nn.LSTM``/``LSTMCell``, a Keras 3 or
tf-keras ``LSTM`` layer or a model holding exactly one), or a path ending ``.pt``/``.pth``,
``.onnx``, ``.tflite``, ``.keras``/``.h5``, or a SavedModel directory.  ``PATH#NAME`` (``--node NAME``)
picks one LSTM where a file holds several; the error lists them.  Frameworks are imported only here,
when such a target is resolved (objects are recognised by their type names, without importing).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.candidates._protocol import ATTRIBUTE, CandidateInfo
from conformance.spec import CandidateLoadError, Case, PinnedParams, file_sha256, params_from_arrays

#: Model files by suffix -> kind.  A directory holding ``saved_model.pb`` is a SavedModel.
MODEL_SUFFIXES = {".pt": "torch", ".pth": "torch", ".onnx": "onnx", ".tflite": "tflite", ".keras": "keras",
                  ".h5": "keras"}


@dataclasses.dataclass
class ModelCandidate:
    """``fn(case)`` running a model with its own weights; ``pinned_params`` are those weights in TF's layout.

    ``run(case)`` returns ``(outputs, (c, h))`` in the case's layout.  ``fixed_time``/``fixed_batch``: sizes
    baked into the model (a TFLite graph), which the run then draws.
    """

    run: Callable[[Case], Any]
    pinned_params: PinnedParams | None
    info: CandidateInfo
    fixed_time: int | None = None
    fixed_batch: int | None = None

    def __post_init__(self) -> None:
        setattr(self, ATTRIBUTE, self.info)

    def __call__(self, case: Case) -> Any:
        if self.pinned_params is not None:
            sizes = lambda c: (c.input_size, c.num_units, c.output_size)  # noqa: E731
            if sizes(case.config) != sizes(self.pinned_params.config):
                raise ValueError(f"the model has sizes (input, units, output) {sizes(self.pinned_params.config)}, "
                                 f"the case {sizes(case.config)}")
        return self.run(case)


def model_params(loaded: Any) -> PinnedParams | None:
    """The weights a resolved model candidate carries (None for any other candidate)."""
    fn = getattr(loaded, "fn", None)
    return fn.pinned_params if isinstance(fn, ModelCandidate) else None


def model_shape(loaded: Any) -> tuple[int | None, int | None]:
    """``(fixed_batch, fixed_time)`` of a model candidate (None: any)."""
    fn = getattr(loaded, "fn", None)
    return (fn.fixed_batch, fn.fixed_time) if isinstance(fn, ModelCandidate) else (None, None)


def _type_names(obj: Any) -> list[str]:
    return [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]


def model_object_kind(obj: Any) -> str | None:
    """"torch" or "keras" when ``obj`` is a model object this module runs (by type name: nothing imported)."""
    names = _type_names(obj)
    if any(n in ("torch.nn.modules.rnn.LSTM", "torch.nn.modules.rnn.LSTMCell") for n in names) or any(
            n.startswith("torch.jit.") for n in names):
        return "torch"
    if any(n.startswith(("keras.", "tf_keras.")) and n.endswith((".Layer", ".Model")) for n in names):
        return "keras"
    return None


def split_target(target: str) -> tuple[str, str | None]:
    """``PATH#NAME`` -> (PATH, NAME); a plain path -> (PATH, None)."""
    path, sep, node = target.partition("#") if not os.path.exists(target) else (target, "", "")
    return path, (node or None) if sep else None


def model_file_kind(target: str) -> str | None:
    """The kind of model file ``target`` (``PATH`` or ``PATH#NAME``) names, or None when it names none."""
    if target.startswith("exec:"):  # a command that may name a model file is still a command
        return None
    path, _ = split_target(target)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
        return "saved_model"
    return MODEL_SUFFIXES.get(os.path.splitext(path)[1].lower())


def with_node(target: str, node: str | None) -> str:
    """``target`` with ``--node NAME`` attached (``PATH#NAME``) when it is a model file; otherwise ``target``."""
    return f"{target}#{node}" if node and model_file_kind(target) is not None else target


def resolve_model(target: Any, node: str | None = None) -> Any:
    """A :class:`~conformance.candidates.LoadedCandidate` for a model object or model file target."""
    from conformance.candidates._registry import LoadedCandidate

    if isinstance(target, str):
        path, named = split_target(target)
        node = node or named
        kind = model_file_kind(path)
        if kind is None:
            raise CandidateLoadError(f"{path}: expected a model file ({', '.join(sorted(MODEL_SUFFIXES))} or a "
                                     f"SavedModel directory), found neither")
        if not os.path.exists(path):
            raise CandidateLoadError(f"no such model file {path!r}")
        fn = _FILE_LOADERS[kind](path, node)
        name = f"{path}#{node}" if node else path
        return LoadedCandidate(name, name, fn, fn.info, "model")
    kind = model_object_kind(target)
    if kind is None:
        raise CandidateLoadError(f"{type(target).__name__} object: expected a torch.nn.LSTM/LSTMCell or a Keras LSTM "
                                 f"layer or model")
    fn = _OBJECT_LOADERS[kind](target, None, None)
    name = f"{type(target).__name__} object"
    return LoadedCandidate(name, name, fn, dataclasses.replace(fn.info, name=name), "model")


def pinned_from_model(arrays: dict[str, np.ndarray], fields: dict[str, Any], origin: str,
                      path: str | None) -> PinnedParams:
    """The model's weights as :class:`PinnedParams` (source "model"; the file's sha256 when it is a file)."""
    try:
        return params_from_arrays(arrays, fields, source="model", origin=origin,
                                  sha256=file_sha256(path) if path is not None else None)
    except Exception as exc:
        raise CandidateLoadError(f"{origin}: its weights do not map to TF's LSTMCell ({exc})") from None


def _torch_loader(obj: Any, path: str | None, node: str | None) -> ModelCandidate:
    from conformance.candidates._models_torch import torch_model

    return torch_model(obj, path, node)


def _torch_file(path: str, node: str | None) -> ModelCandidate:
    from conformance.candidates._models_torch import load_torch_file

    return _torch_loader(load_torch_file(path), path, node)


def _keras_loader(obj: Any, path: str | None, node: str | None) -> ModelCandidate:
    from conformance.candidates._models_keras import keras_model

    return keras_model(obj, path, node)


def _keras_file(path: str, node: str | None) -> ModelCandidate:
    from conformance.candidates._models_keras import load_keras_file

    return _keras_loader(load_keras_file(path), path, node)


def _onnx_file(path: str, node: str | None) -> ModelCandidate:
    from conformance.candidates._models_onnx import onnx_model

    return onnx_model(path, node)


def _tflite_file(path: str, node: str | None) -> ModelCandidate:
    from conformance.candidates._models_tflite import tflite_model

    return tflite_model(path, node)


def _saved_model(path: str, node: str | None) -> ModelCandidate:
    from conformance.candidates._models_keras import saved_model

    return saved_model(path, node)


_OBJECT_LOADERS: dict[str, Callable[[Any, str | None, str | None], ModelCandidate]] = {
    "torch": _torch_loader, "keras": _keras_loader}
_FILE_LOADERS: dict[str, Callable[[str, str | None], ModelCandidate]] = {
    "torch": _torch_file, "keras": _keras_file, "onnx": _onnx_file, "tflite": _tflite_file,
    "saved_model": _saved_model}


def choose(found: dict[str, Any], node: str | None, what: str, where: str) -> tuple[str, Any]:
    """The one of ``found`` (by name) that ``node`` names, or the only one; CandidateLoadError listing them."""
    if node is not None:
        if node not in found:
            raise CandidateLoadError(f"{where}: no {what} named {node!r}; choices: {', '.join(found) or 'none'}")
        return node, found[node]
    if len(found) != 1:
        if not found:
            raise CandidateLoadError(f"{where}: expected one {what}, found none")
        raise CandidateLoadError(f"{where}: {len(found)} {what}s; pick one with --node NAME (or PATH#NAME): "
                                 f"{', '.join(found)}")
    return next(iter(found.items()))


def to_layout(array: np.ndarray, from_time_major: bool, to_time_major: bool) -> np.ndarray:
    """[B, T, .] <-> [T, B, .] when the layouts differ."""
    return np.ascontiguousarray(array.transpose(1, 0, 2)) if from_time_major != to_time_major else array


def load_params(path: str, node: str | None = None) -> PinnedParams:
    """Read ``--params FILE``: a parameters ``.npz`` (conformance.spec._pinned), a TF checkpoint or SavedModel
    holding an ``LSTMCell``, or a Keras file holding an ``LSTM`` layer; InvalidArgument (one line) otherwise."""
    from conformance.spec import InvalidArgument, load_params_npz

    if path.endswith(".npz"):
        return load_params_npz(path)
    if not (os.path.exists(path) or os.path.exists(path + ".index")):
        raise InvalidArgument(f"--params {path}: no such file")
    from conformance.candidates._models_keras import params_from_tf_file

    try:
        return dataclasses.replace(params_from_tf_file(path, node), source="pinned")
    except CandidateLoadError as exc:
        raise InvalidArgument(f"--params {exc}") from None
