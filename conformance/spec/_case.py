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
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.spec._config import PARAM_NAMES, LSTMConfig, storage_dtype
from conformance.spec._errors import InvalidArgument
from conformance.spec._files import MAX_CASE_BYTES, atomic_write, open_regular, size_text

#: The most members a case ``.npz`` may have (:meth:`Case.save_npz` writes at most 10).
MAX_CASE_MEMBERS = 64


@dataclasses.dataclass(frozen=True)
class LSTMParams:
    """Canonical TF-layout parameters; see the module docstring for shapes."""

    kernel: np.ndarray
    bias: np.ndarray
    w_i_diag: np.ndarray | None = None
    w_f_diag: np.ndarray | None = None
    w_o_diag: np.ndarray | None = None
    proj_kernel: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The parameters that are set, by name, in :data:`PARAM_NAMES` order."""
        return {n: getattr(self, n) for n in PARAM_NAMES if getattr(self, n) is not None}

    def replace(self, **changes: Any) -> LSTMParams:
        return dataclasses.replace(self, **changes)

    def validate(self, config: LSTMConfig) -> None:
        """Raise InvalidArgument unless every array has the shape and dtype ``config`` implies."""
        I, H, P = config.input_size, config.num_units, config.output_size
        want: dict[str, tuple[int, ...] | None] = {
            "kernel": (I + P, 4 * H),
            "bias": (4 * H,),
            "w_i_diag": (H,) if config.use_peepholes else None,
            "w_f_diag": (H,) if config.use_peepholes else None,
            "w_o_diag": (H,) if config.use_peepholes else None,
            "proj_kernel": (H, P) if config.num_proj is not None else None,
        }
        for name, shape in want.items():
            _check_array(f"params.{name}", getattr(self, name), shape, config.np_dtype)


def _check_array(name: str, array: Any, shape: tuple[int, ...] | None, dtype: np.dtype) -> None:
    if shape is None:
        if array is not None:
            raise InvalidArgument(f"{name} must be None for this config, got an array of shape {np.shape(array)}")
        return
    if not isinstance(array, np.ndarray):
        raise InvalidArgument(f"{name} must be a numpy array of shape {shape}, got {type(array).__name__}")
    if array.shape != shape:
        raise InvalidArgument(f"{name} has shape {array.shape}, expected {shape}")
    if array.dtype != dtype:
        raise InvalidArgument(f"{name} has dtype {array.dtype}, expected {dtype}")


@dataclasses.dataclass(frozen=True)
class InitialState:
    """``c`` [B, H] and ``h`` [B, P] (TF's ``LSTMStateTuple(c, h)`` order)."""

    c: np.ndarray
    h: np.ndarray

    def is_zero(self) -> bool:
        return not (np.any(np.asarray(self.c, dtype=np.float64)) or np.any(np.asarray(self.h, dtype=np.float64)))


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
        used = set(self.config.features())
        if not self.initial_state.is_zero():
            used.add("initial_state")
        if self.sequence_length is not None:
            used.add("sequence_length")
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
        _check_array("inputs", self.inputs, (T, B, cfg.input_size) if cfg.time_major else (B, T, cfg.input_size),
                     cfg.np_dtype)
        _check_lengths(self.sequence_length, B, T)
        self.params.validate(cfg)
        try:
            _check_array("initial_state.c", self.initial_state.c, (B, cfg.num_units), cfg.np_dtype)
            _check_array("initial_state.h", self.initial_state.h, (B, cfg.output_size), cfg.np_dtype)
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
        return out

    def nonzero_values(self) -> int:
        """How many numbers in inputs, parameters and initial state are non-zero."""
        return int(sum(np.count_nonzero(a.astype(np.float64)) for a in self.arrays().values()))

    def with_arrays(self, arrays: Mapping[str, np.ndarray]) -> Case:
        """A copy with some arrays (by :meth:`arrays` names) replaced."""
        params = self.params.replace(**{k: v for k, v in arrays.items() if k in PARAM_NAMES})
        inputs = arrays.get("inputs", self.inputs)
        state = InitialState(c=arrays.get("c0", self.initial_state.c), h=arrays.get("h0", self.initial_state.h))
        return Case(self.config, params, inputs, state, self.sequence_length)

    def astype(self, dtype: str) -> Case:
        """The same numbers in another dtype (rounded where it is narrower)."""
        cfg = self.config.replace(dtype=dtype)
        npd = cfg.np_dtype
        return Case(cfg, LSTMParams(**{k: v.astype(npd) for k, v in self.params.arrays().items()}),
                    self.inputs.astype(npd),
                    InitialState(self.initial_state.c.astype(npd), self.initial_state.h.astype(npd)),
                    self.sequence_length)

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
        return dataclasses.replace(self, sequence_length=_as_lengths(lengths))

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
            initial_state=InitialState(np.ascontiguousarray(self.initial_state.c[rows]),
                                       np.ascontiguousarray(self.initial_state.h[rows])),
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
                files = _read_npz(fh, str(path))
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
        arr = {k: np.asarray(v).astype(npd) for k, v in files.items() if k not in ("config", "sequence_length")}
        params = LSTMParams(**{k: arr[k] for k in PARAM_NAMES if k in arr})
        try:
            lengths = _as_lengths(files.get("sequence_length"))
            case = cls(config, params, arr["inputs"], InitialState(arr["c0"], arr["h0"]), lengths)
            return case.validate()
        except InvalidArgument as exc:
            raise InvalidArgument(f"{source}: {exc}") from None


def _as_lengths(lengths: Any) -> np.ndarray | None:
    """``lengths`` as an int32 [B] array (None stays None); InvalidArgument for non-integers."""
    if lengths is None:
        return None
    a = np.asarray(lengths)
    if a.dtype.kind == "b" or (a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(a == np.round(a)))):
        raise InvalidArgument(f"sequence_length={a.tolist()!r} must be integers")
    if a.ndim != 1:
        raise InvalidArgument(f"sequence_length has shape {a.shape}, expected [batch]")
    if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
        raise InvalidArgument(f"sequence_length={a.tolist()!r} is out of range")
    return a.astype(np.int32)


def _check_lengths(lengths: Any, batch: int, time: int) -> None:
    if lengths is None:
        return
    if not isinstance(lengths, np.ndarray) or lengths.dtype.kind not in "iu":
        raise InvalidArgument(f"sequence_length must be an integer numpy array [batch] or None, got {lengths!r}")
    if lengths.shape != (batch,):
        raise InvalidArgument(f"sequence_length has shape {lengths.shape}, expected ({batch},) [batch]")
    bad = [int(v) for v in lengths if not 0 <= v <= time]
    if bad:
        raise InvalidArgument(f"sequence_length={[int(v) for v in lengths]!r}: {bad[0]} is outside 0..{time} (time)")


def _read_npz(fh: Any, name: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (what ``np.load`` gives, without pickles), read within :data:`MAX_CASE_BYTES`."""
    limit = f"the limit of {size_text(MAX_CASE_BYTES)} (MAX_CASE_BYTES)"
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_CASE_MEMBERS:
            raise InvalidArgument(f"{name}: {len(infos)} members, over the limit of {MAX_CASE_MEMBERS}")
        total = sum(info.file_size for info in infos)
        if total > MAX_CASE_BYTES:
            raise InvalidArgument(f"{name}: refusing to decompress {total} bytes, over {limit}")
        files = {}
        for info in infos:
            with zf.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f"{info.filename}: unsupported .npy format version {version}")
                # The data follows the header inside the member: a header claiming more is a lie, and
                # numpy would allocate what it claims before finding out.
                claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if claimed > info.file_size:
                    raise InvalidArgument(f"{name}: {info.filename} claims {claimed} bytes but holds "
                                          f"{info.file_size} (limit {size_text(MAX_CASE_BYTES)})")
            with zf.open(info) as member:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                files[key] = np.lib.format.read_array(member, allow_pickle=False)
    return files


@dataclasses.dataclass(frozen=True)
class Result:
    """What an LSTM computed: outputs [B, T, P] and the final state c [B, H], h [B, P]."""

    outputs: np.ndarray
    c: np.ndarray
    h: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {"outputs": self.outputs, "c": self.c, "h": self.h}

    def astype(self, dtype: Any) -> Result:
        return Result(self.outputs.astype(dtype), self.c.astype(dtype), self.h.astype(dtype))


def zero_state(config: LSTMConfig, batch: int) -> InitialState:
    """The zero initial state for ``batch`` rows."""
    npd = config.np_dtype
    return InitialState(np.zeros((batch, config.num_units), npd), np.zeros((batch, config.output_size), npd))
