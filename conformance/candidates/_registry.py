"""The one place a target string becomes a candidate.

A *target* is, tried in this order:

1. ``exec:COMMAND``     an external program speaking the file protocol (docs/exec-protocol.md)
2. a built-in name      see :data:`BUILTINS` (``lstm-conformance list``)
3. an entry-point name  a plugin's entry in group ``lstm_conformance.candidates``
4. ``module:attr``      any importable callable (the current directory is importable)
5. ``path/file.py:attr`` a callable in a Python file (``path/file.py`` alone: the file's one
                        ``@candidate`` function)

Targets are strings so that worker processes can resolve the same candidate again. From Python,
:func:`resolve` also takes an object (:data:`OBJECT_RESOLVERS`, tried in order): a module holding
one ``@candidate`` function, or any callable ``fn(case)`` (a function, decorated or not, a lambda,
a ``functools.partial``, an instance with ``__call__``). Such a candidate's target is the string
that imports it again (``module:qualname`` or ``path/file.py:qualname``) when there is one;
otherwise it is ``python:NAME`` (:data:`PYTHON_PREFIX`) and runs only in this process.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Callable
from typing import Any

from conformance.candidates._protocol import ATTRIBUTE, CandidateInfo, info_of
from conformance.spec import CandidateLoadError

ENTRY_POINT_GROUP = "lstm_conformance.candidates"
#: The target of a Python object no other process can import (a lambda, a closure, a partial,
#: a function typed into a notebook): it runs in this process only.
PYTHON_PREFIX = "python:"
#: The module name a file target is loaded under (its target is then the file's path).
_FILE_MODULE_PREFIX = "_lstm_conformance_target_"


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

    @property
    def importable(self) -> bool:
        """Whether another process can resolve :attr:`target` again (workers, ``--isolate``, replay)."""
        return not self.target.startswith(PYTHON_PREFIX)

    def require_importable(self, why: str) -> None:
        """Raise CandidateLoadError (one line) when ``why`` (e.g. "isolation") needs another process to import it."""
        if not self.importable:
            raise CandidateLoadError(
                f"candidate {self.name!r} is a Python object only this process holds ({self.target}), so {why} "
                f"cannot import it in a worker process: define it at module level in an importable module or file, "
                f"or run it in this process"
            )


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


def _load_file(path: str, attr: str | None, target: str) -> Any:
    """The attribute ``attr`` of the Python file at ``path`` (the module itself when ``attr`` is None)."""
    if not os.path.isfile(path):
        raise CandidateLoadError(f"no such file {path!r} (target {target!r})")
    mod_name = _FILE_MODULE_PREFIX + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise CandidateLoadError(f"{path!r} is not a Python file (target {target!r})")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise CandidateLoadError(f"running {path!r} for target {target!r} raised {type(exc).__name__}: {exc}") from None
    if attr is None:
        return module
    if not hasattr(module, attr):
        raise CandidateLoadError(f"{path!r} has no attribute {attr!r} (target {target!r})")
    return getattr(module, attr)


def _options_line() -> str:
    names = sorted(BUILTINS) + sorted(_entry_points())
    return f"built-in/plugin names: {', '.join(names)}; or module:attr, path/file.py:attr, exec:COMMAND"


def resolve(target: Any) -> LoadedCandidate:
    """Turn a target into a :class:`LoadedCandidate`, or raise CandidateLoadError (one line).

    ``target``: a target string (see the module docstring), a :class:`LoadedCandidate` (returned as it is),
    a model object (torch ``nn.LSTM``/``LSTMCell``, a Keras LSTM layer or model), a model file path
    (``.pt``, ``.onnx``, ``.tflite``, ``.keras``, ``.h5``, a SavedModel directory; ``PATH#NAME`` picks one
    LSTM; conformance.candidates._models), or a Python object one of :data:`OBJECT_RESOLVERS` accepts (a
    module holding one ``@candidate`` function; any callable ``fn(case)``).
    """
    from conformance.candidates._models import model_file_kind, model_object_kind, resolve_model

    if isinstance(target, LoadedCandidate):
        return target
    # A model object first: an nn.Module or a Keras layer is callable, but not as fn(case).
    if not isinstance(target, str) and model_object_kind(target) is not None:
        return resolve_model(target)
    if isinstance(target, str) and target.strip() and model_file_kind(target.strip()) is not None:
        return resolve_model(target.strip())
    if not isinstance(target, str):
        for resolver in OBJECT_RESOLVERS:
            loaded = resolver(target)
            if loaded is not None:
                return loaded
        raise CandidateLoadError(
            f"target={_short_repr(target)} is a {type(target).__name__}, not a candidate: give a callable fn(case), "
            f"a module holding one @candidate function, a model object, or a target string ({_options_line()})"
        )
    if not target.strip():
        raise CandidateLoadError(f"target={target!r} is empty; {_options_line()}")
    return _resolve_string(target.strip())


def _resolve_string(target: str) -> LoadedCandidate:
    if target.startswith(PYTHON_PREFIX):
        raise CandidateLoadError(
            f"target {target!r} names a Python object that only the process that checked it held; from Python, "
            f"replay a saved case with conformance.testing.assert_conformant(fn, Case.load_npz(PATH))"
        )
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
    if target.endswith(".py") and os.path.isfile(target):
        module = _load_file(target, None, target)
        attr, obj = _module_candidate(module, f"file {target!r}")
        info = info_of(obj)
        return LoadedCandidate(info.name or f"{target}:{attr}", target, obj, info, "file")
    raise CandidateLoadError(f"unknown candidate {target!r}; {_options_line()}")


# --- Python objects as candidates ----------------------------------------------------------------
_MISSING = object()


def _short_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001 - a user's object may raise anything from __repr__
        text = f"<{type(obj).__name__} object>"
    return text if len(text) <= 80 else text[:77] + "..."


def _found_at(module: Any, qualname: str) -> Any:
    found = module
    for part in qualname.split("."):
        found = getattr(found, part, _MISSING)
    return found


def _module_target(module: Any, attr: str) -> str | None:
    """The target that imports ``module``'s ``attr`` again in another process, or None (a notebook's ``__main__``)."""
    name = getattr(module, "__name__", "")
    if name == "__main__" or name.startswith(_FILE_MODULE_PREFIX):
        path = getattr(module, "__file__", None)
        return f"{os.path.abspath(path)}:{attr}" if isinstance(path, str) and os.path.isfile(path) else None
    return f"{name}:{attr}" if sys.modules.get(name) is module else None


def _importable_target(obj: Any) -> str | None:
    """``module:qualname`` (or ``path/file.py:qualname``) naming ``obj`` itself at its module's top level, else None.

    Another process re-imports the target, so it must give back this very object: a lambda, a closure, a
    ``functools.partial`` or an instance made on the fly has no such name.
    """
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    if module is None:
        return None
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str) and "<" not in qualname and _found_at(module, qualname) is obj:
        return _module_target(module, qualname)
    # An instance (or a partial) bound to a module-level name: the name is its qualname.
    names = [k for k, v in vars(module).items() if v is obj and not k.startswith("__")]
    return _module_target(module, names[0]) if names else None


def _display_name(obj: Any) -> str:
    if isinstance(obj, functools.partial):
        return f"partial({_display_name(obj.func)})"
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str):
        return type(obj).__qualname__.rpartition("<locals>.")[2] + "()"
    return qualname.rpartition("<locals>.")[2]  # "test.<locals>.f" -> "f"


def _module_candidate(module: Any, where: str) -> tuple[str, Any]:
    """``(attr, fn)``: the one ``@candidate`` callable ``module`` defines (what a file target without ``:attr`` names)."""
    own = getattr(module, "__name__", None)
    found = [(k, v) for k, v in vars(module).items()
             if not k.startswith("_") and callable(v) and not inspect.isclass(v)
             and isinstance(getattr(v, ATTRIBUTE, None), CandidateInfo) and getattr(v, "__module__", own) == own]
    if len(found) == 1:
        return found[0]
    if not found:
        public = sorted(k for k, v in vars(module).items() if not k.startswith("_") and callable(v))[:12]
        raise CandidateLoadError(f"{where} holds no @candidate function: decorate one, or name it as "
                                 f"MODULE:attr (its callables: {', '.join(public) or 'none'})")
    names = ", ".join(k for k, _ in found)
    raise CandidateLoadError(f"{where} holds several @candidate functions ({names}): name one, e.g. {found[0][0]!r}")


def _resolve_module(obj: Any) -> LoadedCandidate | None:
    if not isinstance(obj, types.ModuleType):
        return None
    attr, fn = _module_candidate(obj, f"module {obj.__name__!r}")
    info = info_of(fn)
    target = _module_target(obj, attr) or f"{PYTHON_PREFIX}{obj.__name__}.{attr}"
    return LoadedCandidate(info.name or attr, target, fn, info, "python")


def _resolve_callable(obj: Any) -> LoadedCandidate | None:
    if not callable(obj):
        return None
    name = _display_name(obj)
    _check_callable(obj, f"candidate {name!r}")
    info = info_of(obj)
    target = _importable_target(obj) or PYTHON_PREFIX + name
    return LoadedCandidate(info.name or name, target, obj, info, "python")


#: How :func:`resolve` turns a Python object into a candidate: each returns a LoadedCandidate, None
#: (not mine: the next one is tried) or raises CandidateLoadError. Resolvers of framework objects
#: that are themselves callable (a torch ``nn.Module``, a Keras layer) go before ``_resolve_callable``.
OBJECT_RESOLVERS: list[Callable[[Any], LoadedCandidate | None]] = [_resolve_module, _resolve_callable]
