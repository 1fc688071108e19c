"""The option space and the data that flows through the harness.

Everything here is plain numpy: no TensorFlow, no Hypothesis, no candidates.

Canonical layout (TensorFlow's ``tf.compat.v1.nn.rnn_cell.LSTMCell``), with
batch ``B``, time ``T``, input size ``I``, units ``H`` and output size ``P``
(``num_proj`` if set, else ``H``):

* ``kernel``       [I + P, 4H], rows act on ``concat([x_t, m_{t-1}])``,
                   column blocks in gate order **i, j, f, o**
* ``bias``         [4H], same gate order; ``forget_bias`` is *not* part of it
* ``w_i_diag``, ``w_f_diag``, ``w_o_diag``  [H] peephole weights (None without peepholes)
* ``proj_kernel``  [H, P] (None without projection)
* ``inputs``       [B, T, I] (batch-major), or [T, B, I] when ``config.time_major``
* ``sequence_length``  None (every row runs T steps) or int32 [B], ``0 <= L[b] <= T``
* initial state    ``c`` [B, H], ``h`` [B, P]
* outputs          [B, T, P] ([T, B, P] when time-major); final state ``c`` [B, H], ``h`` [B, P]

Sequence lengths follow ``tf.compat.v1.nn.dynamic_rnn(cell, x, sequence_length=L)``: the
outputs of row b at steps ``t >= L[b]`` are zeros, and its final state is the state after step
``L[b] - 1`` (the initial state when ``L[b] == 0``).  A :class:`Result` inside the harness is
always batch-major; a time-major candidate's outputs are transposed once, where they are received.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.spec._config import PARAM_NAMES, LSTMConfig, storage_dtype
from conformance.spec._errors import InvalidArgument
from conformance.spec._files import MAX_CASE_BYTES, atomic_write, open_regular
from conformance.spec._npz import read_npz
from conformance.spec._params import InitialState, LSTMParams, check_array
from conformance.spec._topology import (
    BACKWARD,
    FORWARD,
    LSTMLayer,
    cell_astype,
    cell_from_arrays,
    cell_prefix,
    cell_with_arrays,
    check_topology,
    rows_of,
)
from conformance.spec._validate import as_lengths, check_lengths


@dataclasses.dataclass(frozen=True)
class Case:
    """One conformance example: a config, its parameters, inputs, an initial state and row lengths.

    ``inputs`` is [B, T, I], or [T, B, I] when ``config.time_major``; ``sequence_length`` is None
    (full length) or int32 [B].  All float arrays have ``config.dtype``.  Candidates receive a
    Case and return ``(outputs, (c [B, H], h [B, P]))``, outputs [B, T, P] ([T, B, P] time-major).
    """

    config: LSTMConfig
    params: LSTMParams
    inputs: np.ndarray
    initial_state: InitialState
    sequence_length: np.ndarray | None = None
    #: Forward cells of layers 2..K (a ``MultiRNNCell`` stack; conformance.spec._topology).
    upper: tuple[LSTMLayer, ...] = ()
    #: Backward cells of layers 1..K (bidirectional), or () for a forward-only network.
    backward: tuple[LSTMLayer, ...] = ()

    @property
    def num_layers(self) -> int:
        return 1 + len(self.upper)

    @property
    def bidirectional(self) -> bool:
        return bool(self.backward)

    @property
    def single_cell(self) -> bool:
        """One forward layer: the cell-level case every candidate understands."""
        return not self.upper and not self.backward

    def cells(self) -> list[tuple[int, str, LSTMLayer]]:
        """Every cell as (layer from 0, direction, LSTMLayer), layer by layer, forward before backward."""
        first = LSTMLayer(self.config, self.params, self.initial_state)
        out = []
        for k, fw in enumerate((first, *self.upper)):
            out.append((k, FORWARD, fw))
            if self.backward:
                out.append((k, BACKWARD, self.backward[k]))
        return out

    def result_shapes(self) -> dict[str, tuple[int, ...]]:
        """The batch-major shape of every array a Result of this case holds, by name."""
        B, T = self.batch, self.time
        cells = self.cells()
        top = [cell for k, _, cell in cells if k == self.num_layers - 1]
        shapes: dict[str, tuple[int, ...]] = {"outputs": (B, T, top[0].config.output_size)}
        if self.backward:
            shapes["outputs_bw"] = (B, T, top[1].config.output_size)
        for k, direction, cell in cells:
            prefix = cell_prefix(k, direction)
            shapes[prefix + "c"] = (B, cell.config.num_units)
            shapes[prefix + "h"] = (B, cell.config.output_size)
        return shapes

    @property
    def batch(self) -> int:
        return int(self.inputs.shape[1 if self.config.time_major else 0])

    @property
    def time(self) -> int:
        return int(self.inputs.shape[0 if self.config.time_major else 1])

    @property
    def batch_major_inputs(self) -> np.ndarray:
        """The inputs as [B, T, I] whatever the layout (a view when time-major)."""
        return self.inputs.transpose(1, 0, 2) if self.config.time_major else self.inputs

    def lengths(self) -> np.ndarray:
        """Every row's length, int64 [B]: ``sequence_length``, or T for every row without one."""
        if self.sequence_length is None:
            return np.full(self.batch, self.time, dtype=np.int64)
        return np.asarray(self.sequence_length, dtype=np.int64)

    def padded_steps(self) -> int:
        """How many (row, step) pairs lie past their row's end."""
        return int(np.sum(self.time - self.lengths()))

    def features(self) -> frozenset[str]:
        """The :data:`FEATURES` this case exercises."""
        used: set[str] = set()
        for _, _, cell in self.cells():
            used |= cell.config.features()
            if not cell.initial_state.is_zero():
                used.add("initial_state")
        if self.sequence_length is not None:
            used.add("sequence_length")
        if self.upper:
            used.add("stacked")
        if self.backward:
            used.add("bidirectional")
        return frozenset(used)

    def validate(self) -> Case:
        """Raise InvalidArgument unless all shapes and dtypes agree with the config; return self."""
        cfg = self.config
        layout = "[time, batch, input] (time-major)" if cfg.time_major else "[batch, time, input]"
        if not isinstance(self.inputs, np.ndarray) or self.inputs.ndim != 3:
            raise InvalidArgument(f"inputs must be a 3-d array {layout}, got shape {np.shape(self.inputs)}")
        B, T = self.batch, self.time
        if B < 1 or T < 1:
            raise InvalidArgument(f"inputs shape {self.inputs.shape} {layout} needs batch >= 1 and time >= 1")
        check_array("inputs", self.inputs, (T, B, cfg.input_size) if cfg.time_major else (B, T, cfg.input_size),
                     cfg.np_dtype)
        check_lengths(self.sequence_length, B, T)
        check_topology(cfg, self.upper, self.backward)
        for k, direction, cell in self.cells()[1:]:
            prefix = cell_prefix(k, direction)
            cell.params.validate(cell.config)
            state = cell.initial_state
            check_array(f"{prefix}initial_state.c", state.c, (B, cell.config.num_units), cfg.np_dtype)
            check_array(f"{prefix}initial_state.h", state.h, (B, cell.config.output_size), cfg.np_dtype)
        self.params.validate(cfg)
        try:
            check_array("initial_state.c", self.initial_state.c, (B, cfg.num_units), cfg.np_dtype)
            check_array("initial_state.h", self.initial_state.h, (B, cfg.output_size), cfg.np_dtype)
        except InvalidArgument as exc:
            if np.shape(self.initial_state.c)[:1] == (B,):
                raise
            raise InvalidArgument(f"{exc} (batch {B} is read from inputs {self.inputs.shape} laid out {layout})") from None
        for name, array in self.arrays().items():
            if not np.all(np.isfinite(array.astype(np.float64))):
                raise InvalidArgument(f"{name} holds non-finite values")
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the case by a flat name: ``inputs``, ``c0``, ``h0`` and the parameter names."""
        out = {"inputs": self.inputs, "c0": self.initial_state.c, "h0": self.initial_state.h}
        out.update(self.params.arrays())
        for k, direction, cell in self.cells()[1:]:
            prefix = cell_prefix(k, direction)
            out[prefix + "c0"] = cell.initial_state.c
            out[prefix + "h0"] = cell.initial_state.h
            out.update({prefix + n: a for n, a in cell.params.arrays().items()})
        return out

    def nonzero_values(self) -> int:
        """How many numbers in inputs, parameters and initial state are non-zero."""
        return int(sum(np.count_nonzero(a.astype(np.float64)) for a in self.arrays().values()))

    def with_arrays(self, arrays: Mapping[str, np.ndarray]) -> Case:
        """A copy with some arrays (by :meth:`arrays` names) replaced."""
        params = self.params.replace(**{k: v for k, v in arrays.items() if k in PARAM_NAMES})
        inputs = arrays.get("inputs", self.inputs)
        state = InitialState(c=arrays.get("c0", self.initial_state.c), h=arrays.get("h0", self.initial_state.h))
        return dataclasses.replace(self, params=params, inputs=inputs, initial_state=state,
                                   **self._cells_with(lambda prefix, cell: cell_with_arrays(cell, prefix, arrays)))

    def _cells_with(self, change: Any) -> dict[str, Any]:
        """``upper``/``backward`` with ``change(prefix, cell)`` applied to every cell (for dataclasses.replace)."""
        upper = tuple(change(cell_prefix(k + 1, FORWARD), cell) for k, cell in enumerate(self.upper))
        backward = tuple(change(cell_prefix(k, BACKWARD), cell) for k, cell in enumerate(self.backward))
        return {"upper": upper, "backward": backward}

    def astype(self, dtype: str) -> Case:
        """The same numbers in another dtype (rounded where it is narrower)."""
        cfg = self.config.replace(dtype=dtype)
        npd = cfg.np_dtype
        return Case(cfg, LSTMParams(**{k: v.astype(npd) for k, v in self.params.arrays().items()}),
                    self.inputs.astype(npd),
                    InitialState(self.initial_state.c.astype(npd), self.initial_state.h.astype(npd)),
                    self.sequence_length,
                    **self._cells_with(lambda _prefix, cell: cell_astype(cell, dtype)))

    def _with_batch_major(self, inputs: np.ndarray, sequence_length: np.ndarray | None, **changes: Any) -> Case:
        """A copy whose inputs are ``inputs`` [B, T, I], stored in this case's layout."""
        stored = inputs.transpose(1, 0, 2) if self.config.time_major else inputs
        return dataclasses.replace(self, inputs=np.ascontiguousarray(stored), sequence_length=sequence_length,
                                   **changes)

    def with_layout(self, time_major: bool) -> Case:
        """The same case with its inputs laid out time-major (``True``) or batch-major."""
        if bool(time_major) == self.config.time_major:
            return self
        x = self.batch_major_inputs
        return dataclasses.replace(self, config=self.config.replace(time_major=bool(time_major)),
                                   inputs=np.ascontiguousarray(x.transpose(1, 0, 2) if time_major else x))

    def with_sequence_length(self, lengths: Any) -> Case:
        """A copy with row lengths ``lengths`` ([B] ints, or None for full length)."""
        return dataclasses.replace(self, sequence_length=as_lengths(lengths))

    def slice_time(self, start: int, stop: int) -> Case:
        """The same case over time steps ``[start, stop)`` (initial state unchanged; each row's
        length counted from ``start`` and cut at ``stop``)."""
        lengths = None
        if self.sequence_length is not None:
            lengths = np.clip(self.lengths() - start, 0, stop - start).astype(np.int32)
        return self._with_batch_major(self.batch_major_inputs[:, start:stop], lengths)

    def slice_batch(self, rows: Any) -> Case:
        """The same case restricted to batch rows ``rows`` (an index array or slice)."""
        lengths = None if self.sequence_length is None else np.ascontiguousarray(self.sequence_length[rows])
        return self._with_batch_major(
            self.batch_major_inputs[rows], lengths,
            initial_state=rows_of(self.initial_state, rows),
            **self._cells_with(lambda _prefix, cell: dataclasses.replace(
                cell, initial_state=rows_of(cell.initial_state, rows))),
        )

    def with_initial_state(self, c: np.ndarray, h: np.ndarray) -> Case:
        return dataclasses.replace(self, initial_state=InitialState(c, h))

    def describe(self) -> dict[str, Any]:
        """Config, shapes and counts: the JSON-able summary reports use."""
        return {
            "config": self.config.to_dict(),
            "batch": self.batch,
            "time": self.time,
            "input_size": self.config.input_size,
            "num_units": self.config.num_units,
            "output_size": self.config.output_size,
            "time_major": self.config.time_major,
            "sequence_length": None if self.sequence_length is None else [int(v) for v in self.sequence_length],
            "layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "cells": [{"layer": k + 1, "direction": d, "config": cell.config.to_dict()} for k, d, cell in self.cells()[1:]],
            "features": sorted(self.features()),
            "nonzero_values": self.nonzero_values(),
        }

    def nonzero_entries(self) -> list[dict[str, Any]]:
        """Every non-zero number: ``{"array", "index", "value"}``, in :meth:`arrays` order."""
        entries = []
        for name, array in self.arrays().items():
            wide = array.astype(np.float64)
            for index in zip(*np.nonzero(wide)):
                entries.append({"array": name, "index": [int(i) for i in index], "value": float(wide[index])})
        return entries

    # --- persistence -----------------------------------------------------------------
    def save_npz(self, path: Any) -> None:
        """Save as ``.npz`` (no pickles): one array per :meth:`arrays` name plus ``config`` as JSON text."""
        store = storage_dtype(self.config.dtype)
        payload = {name: np.asarray(a).astype(store) for name, a in self.arrays().items()}
        payload["config"] = np.array(json.dumps(self.config.to_dict(), sort_keys=True))
        if self.sequence_length is not None:
            payload["sequence_length"] = np.asarray(self.sequence_length, dtype=np.int32)
        if not self.single_cell:
            topology = {"upper": [c.config.to_dict() for c in self.upper],
                        "backward": [c.config.to_dict() for c in self.backward]}
            payload["topology"] = np.array(json.dumps(topology, sort_keys=True))
        # Through a temporary file renamed over ``path``: a full disk leaves no partial case behind,
        # and a symlink planted at ``path`` is replaced, not written through.
        with atomic_write(path) as fh:
            np.savez(fh, **payload)  # type: ignore[arg-type]  # numpy's stub types the first kwarg as allow_pickle

    @classmethod
    def load_npz(cls, path: Any) -> Case:
        """Load a case saved by :meth:`save_npz`; raise InvalidArgument (naming the file) if it is not one.

        Reads only a regular file (not a FIFO, a device or a symlink to one) of at most
        :data:`MAX_CASE_BYTES`, and refuses, from the zip's central directory and each array's
        header and before decompressing anything, members that would hold more than that together.
        """
        with open_regular(path, MAX_CASE_BYTES) as fh:
            try:
                files = read_npz(fh, str(path))
            except InvalidArgument:
                raise
            except Exception as exc:  # zipfile, OSError, ValueError: all mean "not a readable case"
                raise InvalidArgument(f"{path}: not a readable case file ({type(exc).__name__}: {exc})") from None
        return cls.from_arrays(files, source=str(path))

    @classmethod
    def from_arrays(cls, files: Mapping[str, np.ndarray], *, source: str = "case") -> Case:
        """Build from the mapping :meth:`save_npz` writes (``config`` JSON text plus arrays)."""
        if "config" not in files:
            raise InvalidArgument(f"{source}: missing 'config' entry")
        try:
            config = LSTMConfig.from_dict(json.loads(str(files["config"])))
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(f"{source}: bad config ({exc})") from None
        npd = config.np_dtype
        missing = [k for k in ("inputs", "c0", "h0", "kernel", "bias") if k not in files]
        if missing:
            raise InvalidArgument(f"{source}: missing array(s) {', '.join(missing)}")
        arr = {k: np.asarray(v).astype(npd) for k, v in files.items()
               if k not in ("config", "sequence_length", "topology")}
        params = LSTMParams(**{k: arr[k] for k in PARAM_NAMES if k in arr})
        try:
            lengths = as_lengths(files.get("sequence_length"))
            topology = json.loads(str(files["topology"])) if "topology" in files else {}
            cells = {}
            for key, direction, first in (("upper", FORWARD, 1), ("backward", BACKWARD, 0)):
                cells[key] = tuple(
                    cell_from_arrays(LSTMConfig.from_dict(d), cell_prefix(first + k, direction), arr, source)
                    for k, d in enumerate(topology.get(key, [])))
            case = cls(config, params, arr["inputs"], InitialState(arr["c0"], arr["h0"]), lengths, **cells)
            return case.validate()
        except InvalidArgument as exc:
            raise InvalidArgument(f"{source}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Result:
    """What an LSTM computed, batch-major: outputs [B, T, P] and the final state c [B, H], h [B, P] of
    the first cell; for a network of several cells ``more`` holds the top layer's backward outputs
    (``outputs_bw``) and every other cell's final state, by the names of conformance.spec._topology."""

    outputs: np.ndarray
    c: np.ndarray
    h: np.ndarray
    more: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"outputs": self.outputs, "c": self.c, "h": self.h, **self.more}

    def astype(self, dtype: Any) -> Result:
        return Result(self.outputs.astype(dtype), self.c.astype(dtype), self.h.astype(dtype),
                      {k: v.astype(dtype) for k, v in self.more.items()})

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Result:
        """The inverse of :meth:`arrays`."""
        more = {k: v for k, v in arrays.items() if k not in ("outputs", "c", "h")}
        return cls(arrays["outputs"], arrays["c"], arrays["h"], more)
