"""The one place a target string becomes a candidate.

A *target* is, tried in this order:

1. ``exec:COMMAND``     an external program speaking the file protocol (docs/exec-protocol.md)
2. a built-in name      see :data:`BUILTINS` (``lstm-conformance list``)
3. an entry-point name  a plugin's entry in group ``lstm_conformance.candidates``
4. ``module:attr``      any importable callable (the current directory is importable)
5. ``path/file.py:attr`` a callable in a Python file

Targets are strings so that worker processes can resolve the same candidate again.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from conformance.candidates._protocol import CandidateInfo, info_of
from conformance.spec import CandidateLoadError

ENTRY_POINT_GROUP = "lstm_conformance.candidates"


@dataclasses.dataclass(frozen=True)
class Builtin:
    """A shipped candidate: where it lives and which packages it needs (checked without importing)."""

    target: str
    requires: tuple[str, ...] = ()
    description: str = ""


#: Shipped candidates by name.  Adapters are imported only when resolved.
BUILTINS: dict[str, Builtin] = {
    "numpy-reference": Builtin(
        "conformance.candidates._numpy:numpy_reference", (), "plain numpy LSTMCell, written as a user would"
    ),
    "seed-missing-forget-bias": Builtin(
        "conformance.candidates._numpy:seed_missing_forget_bias", (),
        "the classic mistake: forget_bias never added to the forget gate",
    ),
    # Adapters for real libraries (conformance/candidates/adapters, docs/mapping.md).
    "torch-lstm": Builtin("conformance.candidates.adapters._torch:torch_lstm", ("torch",),
                          "torch.nn.LSTM (proj_size for num_proj)"),
    "torch-lstmcell": Builtin("conformance.candidates.adapters._torch:torch_lstmcell", ("torch",),
                              "torch.nn.LSTMCell stepped over time"),
    "keras3-tensorflow": Builtin("conformance.candidates.adapters._keras:keras3_tensorflow", ("keras", "tensorflow"),
                                 "Keras 3 keras.layers.LSTM, TensorFlow backend"),
    "keras3-jax": Builtin("conformance.candidates.adapters._keras:keras3_jax", ("keras", "jax"),
                          "Keras 3 keras.layers.LSTM, JAX backend"),
    "keras3-torch": Builtin("conformance.candidates.adapters._keras:keras3_torch", ("keras", "torch"),
                            "Keras 3 keras.layers.LSTM, PyTorch backend"),
    "tf-keras-lstm": Builtin("conformance.candidates.adapters._keras:tf_keras_lstm", ("tensorflow", "tf_keras"),
                             "tf-keras (Keras 2) tf_keras.layers.LSTM"),
    "flax-lstmcell": Builtin("conformance.candidates.adapters._flax:flax_lstmcell", ("jax", "flax"),
                             "Flax nnx.LSTMCell under nnx.RNN"),
    "flax-optimized-lstmcell": Builtin("conformance.candidates.adapters._flax:flax_optimized_lstmcell", ("jax", "flax"),
                                       "Flax nnx.OptimizedLSTMCell under nnx.RNN"),
    "onnxruntime-lstm": Builtin("conformance.candidates.adapters._onnx:onnxruntime_lstm", ("onnx", "onnxruntime"),
                                "ONNX LSTM operator (onnx.helper) on onnxruntime CPU"),
    "tf-lstmblockcell": Builtin("conformance.candidates.adapters._tf_fused:tf_lstmblockcell", ("tensorflow",),
                                "tf.raw_ops.LSTMBlockCell stepped over time"),
    "tf-blocklstm": Builtin("conformance.candidates.adapters._tf_fused:tf_blocklstm", ("tensorflow",),
                            "tf.raw_ops.BlockLSTM over the sequence"),
    # Converter pipelines (adapters/_tflite.py, _tf2onnx.py; docs/mapping.md "Converters"): the case's TF program
    # through the real converter, run on the real runtime; a converted model is cached per parameter set.
    "tflite-fused": Builtin("conformance.candidates.adapters._tflite:tflite_fused", ("tensorflow", "tf_keras"),
                            "tf-keras LSTM -> TFLiteConverter (UNIDIRECTIONAL_SEQUENCE_LSTM) -> tf.lite.Interpreter"),
    "tflite-while": Builtin("conformance.candidates.adapters._tflite:tflite_while", ("tensorflow",),
                            "TF LSTMCell + dynamic_rnn -> TFLiteConverter (WHILE loop) -> tf.lite.Interpreter"),
    "tf2onnx": Builtin("conformance.candidates.adapters._tf2onnx:tf2onnx_lstmcell", ("tensorflow", "tf2onnx", "onnx",
                                                                                   "onnxruntime"),
                       "TF LSTMCell + dynamic_rnn -> tf2onnx -> onnx.checker -> onnxruntime CPU"),
}


@dataclasses.dataclass(frozen=True)
class LoadedCandidate:
    """A resolved candidate: ``fn(case)``, its declared :class:`CandidateInfo`, and the target it came from."""

    name: str
    target: str
    fn: Callable[..., Any]
    info: CandidateInfo
    source: str  # "builtin", "entry-point", "module", "file" or "exec"

    @property
    def description(self) -> str:
        return self.info.description


def _missing(requires: tuple[str, ...]) -> list[str]:
    return [r for r in requires if importlib.util.find_spec(r) is None]


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def is_named_target(target: str) -> bool:
    """Whether ``target`` is a built-in or installed plugin name (code the user already runs), as opposed
    to a module, a file or an ``exec:`` command, which would run whatever it names."""
    return target in BUILTINS or target in _entry_points()


def _check_callable(obj: Any, where: str) -> None:
    if inspect.isclass(obj):
        raise CandidateLoadError(f"{where} is a class, not a candidate: point at a function or an instance")
    if not callable(obj):
        raise CandidateLoadError(f"{where} is a {type(obj).__name__}, not a candidate: expected a callable fn(case)")
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return  # builtins/C callables: nothing to check
    try:
        sig.bind(object())
    except TypeError:
        raise CandidateLoadError(f"{where} cannot be called as fn(case): its signature is {sig}") from None


def _import_attr(module_name: str, attr: str, target: str) -> Any:
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CandidateLoadError(f"cannot import module {module_name!r} for target {target!r}: {exc}") from None
    except Exception as exc:
        raise CandidateLoadError(
            f"importing module {module_name!r} for target {target!r} raised {type(exc).__name__}: {exc}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(module) if not n.startswith("_"))[:12]
            raise CandidateLoadError(
                f"module {module_name!r} has no attribute {attr!r} (target {target!r}); it has: {', '.join(public)}"
            )
        obj = getattr(obj, part)
    return obj


def _load_file(path: str, attr: str, target: str) -> Any:
    if not os.path.isfile(path):
        raise CandidateLoadError(f"no such file {path!r} (target {target!r})")
    mod_name = "_lstm_conformance_target_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise CandidateLoadError(f"{path!r} is not a Python file (target {target!r})")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise CandidateLoadError(f"running {path!r} for target {target!r} raised {type(exc).__name__}: {exc}") from None
    if not hasattr(module, attr):
        raise CandidateLoadError(f"{path!r} has no attribute {attr!r} (target {target!r})")
    return getattr(module, attr)


def _options_line() -> str:
    names = sorted(BUILTINS) + sorted(_entry_points())
    return f"built-in/plugin names: {', '.join(names)}; or module:attr, path/file.py:attr, exec:COMMAND"


def resolve(target: str) -> LoadedCandidate:
    """Turn a target string into a :class:`LoadedCandidate`, or raise CandidateLoadError (one line)."""
    if not isinstance(target, str) or not target.strip():
        raise CandidateLoadError(f"target={target!r} is empty; {_options_line()}")
    target = target.strip()
    if target.startswith("exec:"):
        command = target[len("exec:") :].strip()
        if not command:
            raise CandidateLoadError("target 'exec:' has no command after 'exec:'")
        from conformance.candidates._exec import exec_candidate

        fn = exec_candidate(command)
        return LoadedCandidate(target, target, fn, info_of(fn), "exec")
    if target in BUILTINS:
        b = BUILTINS[target]
        missing = _missing(b.requires)
        if missing:
            raise CandidateLoadError(
                f"built-in candidate {target!r} needs {', '.join(missing)} (not installed); "
                f"install the matching extra, e.g. pip install -e \".[all]\""
            )
        module_name, _, attr = b.target.partition(":")
        fn = _import_attr(module_name, attr, target)
        info = info_of(fn)
        return LoadedCandidate(target, target, fn, dataclasses.replace(info, name=target), "builtin")
    eps = _entry_points()
    if target in eps:
        try:
            fn = eps[target].load()
        except Exception as exc:
            raise CandidateLoadError(f"plugin candidate {target!r} failed to load: {type(exc).__name__}: {exc}") from None
        _check_callable(fn, f"plugin candidate {target!r}")
        return LoadedCandidate(target, target, fn, dataclasses.replace(info_of(fn), name=target), "entry-point")
    if ":" in target:
        left, _, attr = target.rpartition(":")
        if not left or not attr:
            raise CandidateLoadError(f"target {target!r} is not of the form module:attr; {_options_line()}")
        if left.endswith(".py") or os.sep in left:
            obj = _load_file(left, attr, target)
            source = "file"
        else:
            obj = _import_attr(left, attr, target)
            source = "module"
        _check_callable(obj, f"target {target!r}")
        info = info_of(obj)
        name = info.name or target
        return LoadedCandidate(name, target, obj, info, source)
    raise CandidateLoadError(f"unknown candidate {target!r}; {_options_line()}")


@dataclasses.dataclass(frozen=True)
class Listing:
    """One row of ``lstm-conformance list``."""

    name: str
    available: bool
    features: list[str]
    dtypes: list[str]
    reason: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: pyproject extra that installs each optional package built-ins require.
_EXTRAS = {"torch": "torch", "jax": "jax", "flax": "jax", "onnx": "onnx", "onnxruntime": "onnx", "keras": "keras",
           "tf2onnx": "converters"}


def _missing_reason(missing: list[str]) -> str:
    extras = sorted({_EXTRAS[m] for m in missing if m in _EXTRAS})
    hint = f"; pip install \"lstm-conformance[{','.join(extras)}]\"" if extras else ""
    return f"needs {', '.join(missing)} (not installed){hint}"


def _declared(b: Builtin) -> dict[str, Any]:
    """What a built-in declares, read without its framework (adapters import theirs only when called)."""
    module_name, _, attr = b.target.partition(":")
    try:
        return info_of(_import_attr(module_name, attr, b.target)).to_dict()
    except CandidateLoadError:
        return {}


def list_candidates() -> list[Listing]:
    """Every built-in and plugin candidate, with availability; missing packages are found without importing."""
    rows = []
    for name, b in BUILTINS.items():
        missing = _missing(b.requires)
        if missing:
            d = _declared(b)
            rows.append(Listing(name, False, d.get("features", []), d.get("dtypes", []), _missing_reason(missing),
                                b.description))
            continue
        try:
            loaded = resolve(name)
        except CandidateLoadError as exc:
            rows.append(Listing(name, False, [], [], str(exc), b.description))
            continue
        d = loaded.info.to_dict()
        rows.append(Listing(name, True, d["features"], d["dtypes"], "", b.description or loaded.description))
    for name in sorted(_entry_points()):
        if name in BUILTINS:
            continue
        try:
            loaded = resolve(name)
        except CandidateLoadError as exc:
            rows.append(Listing(name, False, [], [], str(exc), "plugin"))
            continue
        d = loaded.info.to_dict()
        rows.append(Listing(name, True, d["features"], d["dtypes"], "", loaded.description or "plugin"))
    return rows
