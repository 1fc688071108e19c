"""Importing TensorFlow: once, lazily, quietly, with the legacy (tf-keras) cells available.

Module-level state: :data:`_tf`, a cache of the imported module (one import per process).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from typing import Any

#: Cache: the imported ``tensorflow`` module, or None until :func:`import_tensorflow` first runs.
_tf: Any = None
_import_lock = threading.Lock()  # one import at a time (two threads importing TF at once corrupt its registries)


#: The environment TensorFlow is imported under, unless the user set these variables: tf-keras for the
#: legacy cells (TF >= 2.16), C++ logging quiet, TF's standard Eigen CPU kernels rather than oneDNN's
#: (see _import_tensorflow).  Candidates get the same, in-process or in a worker (tf_environment).
TF_ENVIRONMENT: dict[str, str] = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                                  "TF_ENABLE_ONEDNN_OPTS": "0"}


def tf_environment() -> dict[str, str]:
    """:data:`TF_ENVIRONMENT` with whatever the user set in this process's environment instead."""
    return {k: os.environ.get(k, v) for k, v in TF_ENVIRONMENT.items()}


def apply_tf_environment() -> None:
    """Set :data:`TF_ENVIRONMENT`'s defaults in this process (variables already set are kept)."""
    for k, v in TF_ENVIRONMENT.items():
        os.environ.setdefault(k, v)


def import_tensorflow() -> Any:
    """Import TensorFlow once, with the legacy (tf-keras) cells available (thread-safe: a second
    thread asking meanwhile waits for the first import instead of starting its own)."""
    global _tf
    if _tf is not None:
        return _tf
    with _import_lock:
        return _import_tensorflow()


def tf_imported() -> bool:
    """Whether TensorFlow has been imported (by :func:`import_tensorflow`) in this process."""
    return _tf is not None


def _import_tensorflow(quiet: Any = None) -> Any:
    """The import itself (callers hold :data:`_import_lock`).  ``quiet``: a context manager factory for fd 2
    during the import instead of silencing it, which also leaves the process's warning filters alone
    (``warnings.catch_warnings`` is not thread-safe): the background import of conformance.oracle._preload."""
    global _tf
    if _tf is None:
        # In TF >= 2.16 tf.compat.v1.nn.rnn_cell needs tf-keras; set before the import.  oneDNN: TF's
        # standard (Eigen) CPU kernels unless the user chose: oneDNN JIT-compiles and caches a kernel per
        # float16/bfloat16 matmul *shape* (TF keeps up to 1024 per dtype, ~0.3 MB each), and a harness
        # draws new shapes all the time, so RSS climbed by ~300 MB per 16-bit dtype and every new shape
        # cost a compile.  Either way the oracle is bit-identical to TF's eager cell in the same process
        # (tests/test_oracle_perf.py).
        apply_tf_environment()
        if quiet is not None:
            with quiet():
                import tensorflow as tf
                import tf_keras  # noqa: F401  (the legacy cells)
        else:
            with _quiet_stderr(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import tensorflow as tf
                import tf_keras  # noqa: F401  (the legacy cells)

        tf.get_logger().setLevel("ERROR")
        _tf = tf
    return _tf


def saved_stderr() -> int | None:
    """A duplicate of fd 2 (``sys.stderr`` flushed first) to put back after pointing fd 2 elsewhere while TF
    imports; None where fd 2 is to be left as it is: it cannot be duplicated, or ``LSTM_CONFORMANCE_TF_LOGS``
    asks for TF's logs."""
    if os.environ.get("LSTM_CONFORMANCE_TF_LOGS"):
        return None
    try:
        sys.stderr.flush()
        return os.dup(2)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ start-up chatter TF prints on fd 2 (absl, oneDNN, CUDA stubs) while importing."""
    saved = saved_stderr()
    if saved is None:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tensorflow_version() -> str:
    """TF's version, without importing TF where it is not imported yet (a ``--workers`` parent)."""
    if _tf is not None:
        return _tf.__version__
    import importlib.metadata

    for dist in ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return import_tensorflow().__version__


def tf_dtype(tf: Any, name: str) -> Any:
    """The TF dtype of a spec dtype name (``"float16"``, ``"bfloat16"``, ``"float32"``, ``"float64"``)."""
    return {"float16": tf.float16, "bfloat16": tf.bfloat16, "float32": tf.float32, "float64": tf.float64}[name]
