"""What the converter candidates (``_tflite.py``, ``_tf2onnx.py``) share: the case's TF program, the
per-parameter-set cache of converted models, and the converter's log.

The TF program is the oracle's computation written the way a user writes it: TF's legacy
``tf.compat.v1.nn.rnn_cell.LSTMCell`` with the case's config, its variables assigned the case's
weights (kernel [I + P, 4H] in gate order i, j, f, o; bias [4H]; w_*_diag [H]; projection
kernel [H, P]), unrolled by ``tf.compat.v1.nn.dynamic_rnn`` inside a ``tf.function`` whose input
signature has the case's static shapes: ``x`` [B, T, I] ([T, B, I] time-major), ``c0`` [B, H],
``h0`` [B, P] and, only for a case with row lengths, ``seq_len`` int32 [B].  It returns
``(outputs, c, h)``.  The cell's variables are created eagerly and the function traced in its
own ``FuncGraph``: nothing is added to the oracle's graphs.

Converted models have static shapes, so a converted model is keyed by the whole *parameter
set*: config, weights, batch, time, and whether lengths are an input (:func:`params_key`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from conformance.spec import Case


def params_key(case: Case) -> str:
    """A hash of everything a converted model bakes in: the config, every weight, batch, time, layout and
    whether row lengths are an input (not the inputs, initial state or the lengths' values)."""
    h = hashlib.sha256()
    h.update(repr((case.config, case.batch, case.time, case.sequence_length is not None,
                   [(k, layer.config) for k, _, layer in case.cells()] if not case.single_cell else ())).encode())
    for _, _, layer in case.cells():
        for name, array in sorted(layer.params.arrays().items()):
            h.update(name.encode())
            h.update(str(array.dtype).encode())
            h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


class ConvertedModels:
    """A small LRU of converted models by :func:`params_key`, with hit/miss counts and the last model used.

    ``last_model``/``last_suffix``/``last_log``: the bytes, file suffix (``.tflite``, ``.onnx``) and the
    converter's log of the model the candidate ran last (or failed to convert), so a failure can be
    saved beside its counterexample and replayed without converting again.
    """

    def __init__(self, suffix: str, size: int = 8):
        self.suffix, self.size = suffix, size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self.hits = self.misses = 0
        self.last_model: bytes | None = None
        self.last_log = ""

    def get(self, case: Case, convert: Callable[[], tuple[bytes, Any, str]]) -> Any:
        """The runnable model for ``case``'s parameter set; ``convert()`` -> (model bytes, runnable, log) on a
        miss.  A refused conversion (:class:`ConversionError`) is cached too and raised again for every case
        of its parameter set: converting is deterministic, and paying it per case would undo the caching."""
        key = params_key(case)
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
        else:
            self.misses += 1
            self.last_model, self.last_log = None, ""
            try:
                self._items[key] = convert()
            except ConversionError as exc:
                self._items[key] = exc
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        entry = self._items[key]
        if isinstance(entry, ConversionError):
            self.last_model, self.last_log = None, str(entry)
            raise ConversionError(str(entry))
        model, runnable, self.last_log = entry
        self.last_model = model
        return runnable

    def artifact(self, case: Case, convert: Callable[[], tuple[bytes, Any, str]]) -> tuple[bytes | None, str, str]:
        """``(model bytes or None, suffix, converter log)`` for ``case``'s parameter set (from the cache, else
        converted now; a failed conversion gives no model and its message as the log)."""
        try:
            self.get(case, convert)
        except ConversionError as exc:
            return None, self.suffix, str(exc)
        return self.last_model, self.suffix, self.last_log

    def clear(self) -> None:
        self._items.clear()
        self.hits = self.misses = 0


@contextlib.contextmanager
def converter_log(*loggers: str) -> Iterator[io.StringIO]:
    """Collect what the named Python loggers say (INFO and up) while converting, warnings included."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    saved = []
    for name in loggers:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the log belongs in the report, not on the user's console
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield buffer
        for w in caught:
            buffer.write(f"warning: {w.category.__name__}: {w.message}\n")
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


class ConversionError(RuntimeError):
    """The converter refused the program, or produced a model that does not take the path the candidate
    stands for; the message carries the converter's own text (a finding: ``exception``)."""


def require_ops(ops: set[str], *, required: tuple[str, ...] = (), forbidden: tuple[str, ...] = (),
                what: str = "the converted model") -> None:
    """ConversionError unless ``ops`` (the op names of a converted model) holds every ``required`` op and none
    of the ``forbidden`` ones: a candidate standing for one conversion path must really exercise it."""
    missing = [op for op in required if op not in ops]
    present = [op for op in forbidden if op in ops]
    if missing or present:
        raise ConversionError(f"{what} does not take the expected path: ops {sorted(ops)}"
                              + (f" lack {missing}" if missing else "") + (f" include {present}" if present else ""))


def lstmcell_program(case: Case) -> Any:
    """The ``tf.function`` described in the module docstring (already traced once: its concrete function is
    ``fn.get_concrete_function()``)."""
    from conformance.oracle import import_tensorflow

    tf = import_tensorflow()
    cfg = case.config
    dtype = tf.as_dtype(cfg.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LSTMCell's deprecation notice
        cell = tf.compat.v1.nn.rnn_cell.LSTMCell(
            cfg.num_units, use_peepholes=cfg.use_peepholes, cell_clip=cfg.cell_clip, num_proj=cfg.num_proj,
            proj_clip=cfg.proj_clip, forget_bias=cfg.forget_bias,
            activation=None if cfg.activation == "tanh" else cfg.activation, dtype=dtype)
        cell.build(tf.TensorShape([None, cfg.input_size]))
    by_name = {v.name.split(":")[0].split("/", 1)[-1]: v for v in cell.variables}
    for name, array in case.params.arrays().items():
        by_name["projection/kernel" if name == "proj_kernel" else name].assign(array)
    B, T, I = case.batch, case.time, cfg.input_size
    signature = [tf.TensorSpec([T, B, I] if cfg.time_major else [B, T, I], dtype, name="x"),
                 tf.TensorSpec([B, cfg.num_units], dtype, name="c0"),
                 tf.TensorSpec([B, cfg.output_size], dtype, name="h0")]
    if case.sequence_length is not None:
        signature.append(tf.TensorSpec([B], tf.int32, name="seq_len"))

    def program(x: Any, c0: Any, h0: Any, seq_len: Any = None) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs, state = tf.compat.v1.nn.dynamic_rnn(
                cell, x, sequence_length=seq_len, initial_state=tf.compat.v1.nn.rnn_cell.LSTMStateTuple(c0, h0),
                time_major=cfg.time_major)
        return outputs, state.c, state.h

    fn = tf.function(program, input_signature=signature, autograph=False)
    fn.cell = cell  # keeps the variables alive for the converters (they freeze them)
    return fn


def program_feeds(case: Case) -> dict[str, np.ndarray]:
    """The program's inputs by name (``x``, ``c0``, ``h0``, and ``seq_len`` when the case has lengths)."""
    feeds = {"x": case.inputs, "c0": case.initial_state.c, "h0": case.initial_state.h}
    if case.sequence_length is not None:
        feeds["seq_len"] = np.ascontiguousarray(case.sequence_length, dtype=np.int32)
    return feeds
