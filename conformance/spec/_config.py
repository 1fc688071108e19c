"""The option space: features, dtypes, activations, and the options of one TF ``LSTMCell``.

Plain Python and numpy: no TensorFlow, no Hypothesis, no candidates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.spec._errors import InvalidArgument

#: Every optional behaviour a candidate may declare; the baseline is none of them
#: (forget_bias 1.0, zero initial state, tanh, no peepholes/clip/projection).
#: The cell's own options.
CELL_FEATURES: tuple[str, ...] = (
    "forget_bias",  # forget_bias other than TF's default 1.0
    "initial_state",  # non-zero initial (c, h)
    "peepholes",
    "cell_clip",
    "projection",
    "proj_clip",
    "activation",  # a cell activation other than tanh
)
#: How the sequence is laid out and how long each row is (``dynamic_rnn``'s options): opt-in.
SEQUENCE_FEATURES: tuple[str, ...] = (
    "sequence_length",  # per-row lengths: outputs past a row's end are zeros, its state stops there
    "time_major",  # inputs [T, B, I] and outputs [T, B, P]
)
#: Networks of several cells (``MultiRNNCell``, ``bidirectional_dynamic_rnn``, their stack): opt-in.
TOPOLOGY_FEATURES: tuple[str, ...] = (
    "stacked",  # 2 or more layers, each with its own sizes, options and parameters
    "bidirectional",  # a backward cell per layer, run on each row reversed within its length
)
FEATURES: tuple[str, ...] = CELL_FEATURES + SEQUENCE_FEATURES + TOPOLOGY_FEATURES
#: What a candidate that declares nothing is assumed to support: every cell option, on full-length,
#: batch-major sequences, one forward layer (the other features change the calling contract, so they are
#: declared).
DEFAULT_FEATURES: tuple[str, ...] = CELL_FEATURES

DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
#: The dtypes simplest first (float32 is the easiest to read): the order strategies shrink
#: toward, the post-minimiser tries, and fuzz slices run in.
DTYPES_SIMPLEST_FIRST: tuple[str, ...] = ("float32", "float64", "float16", "bfloat16")

#: Cell activations accepted by TF's LSTMCell (by Keras name) that the spec implements.
ACTIVATIONS: tuple[str, ...] = ("tanh", "sigmoid", "relu", "softsign")

PARAM_NAMES: tuple[str, ...] = (
    "kernel",
    "bias",
    "w_i_diag",
    "w_f_diag",
    "w_o_diag",
    "proj_kernel",
)

#: Gate order of the canonical kernel/bias column blocks.
GATE_ORDER: tuple[str, ...] = ("i", "j", "f", "o")


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype for a dtype name of :data:`DTYPES` (bfloat16 via ml_dtypes)."""
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    if name not in DTYPES:
        raise InvalidArgument(f"dtype={name!r} is not one of {', '.join(DTYPES)}")
    return np.dtype(name)


def rounded_to(dtype: str, value: float) -> float:
    """``value`` rounded to ``dtype`` and back to a Python float (as TF converts a float option)."""
    return float(np.asarray(value, dtype=numpy_dtype(dtype)).astype(np.float64))


def dtype_name(dtype: Any) -> str:
    """Inverse of :func:`numpy_dtype`."""
    name = np.dtype(dtype).name
    return name


def storage_dtype(name: str) -> np.dtype:
    """The dtype arrays are saved with in ``.npz`` files (bfloat16 is widened, exactly, to float32)."""
    return np.dtype("float32") if name == "bfloat16" else numpy_dtype(name)


def _check_finite_positive(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InvalidArgument(f"{name}={value!r} must be a number or None")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{name}={value!r} must be a finite number > 0 or None")


def _check_size(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be an integer >= {minimum}")


@dataclasses.dataclass(frozen=True)
class LSTMConfig:
    """The options of one TF ``LSTMCell``, names as in its constructor.

    ``input_size`` is the last dimension of the inputs; ``dtype`` is one of
    :data:`DTYPES`; ``activation`` one of :data:`ACTIVATIONS`.
    """

    num_units: int
    input_size: int
    forget_bias: float = 1.0
    use_peepholes: bool = False
    cell_clip: float | None = None
    num_proj: int | None = None
    proj_clip: float | None = None
    activation: str = "tanh"
    dtype: str = "float32"
    #: ``dynamic_rnn``'s ``time_major``: inputs [T, B, I] and outputs [T, B, P] (states stay [B, .]).
    time_major: bool = False

    def __post_init__(self) -> None:
        _check_size("num_units", self.num_units)
        _check_size("input_size", self.input_size)
        if self.num_proj is not None:
            _check_size("num_proj", self.num_proj)
        fb = self.forget_bias
        if isinstance(fb, bool) or not isinstance(fb, (int, float, np.floating, np.integer)) or not math.isfinite(fb):
            raise InvalidArgument(f"forget_bias={fb!r} must be a finite number")
        for flag in ("use_peepholes", "time_major"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise InvalidArgument(f"{flag}={getattr(self, flag)!r} must be True or False")
        _check_finite_positive("cell_clip", self.cell_clip)
        _check_finite_positive("proj_clip", self.proj_clip)
        if self.proj_clip is not None and self.num_proj is None:
            raise InvalidArgument(f"proj_clip={self.proj_clip!r} needs num_proj (TF ignores proj_clip without a projection)")
        if self.activation not in ACTIVATIONS:
            raise InvalidArgument(f"activation={self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if self.dtype not in DTYPES:
            raise InvalidArgument(f"dtype={self.dtype!r} is not one of {', '.join(DTYPES)}")
        # Normalise numeric types so configs compare, hash and serialise cleanly.
        object.__setattr__(self, "num_units", int(self.num_units))
        object.__setattr__(self, "input_size", int(self.input_size))
        object.__setattr__(self, "forget_bias", float(self.forget_bias))
        object.__setattr__(self, "use_peepholes", bool(self.use_peepholes))
        object.__setattr__(self, "time_major", bool(self.time_major))
        if self.num_proj is not None:
            object.__setattr__(self, "num_proj", int(self.num_proj))
        for name in ("cell_clip", "proj_clip"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def output_size(self) -> int:
        """P: ``num_proj`` if set, else ``num_units``."""
        return self.num_proj if self.num_proj is not None else self.num_units

    @property
    def np_dtype(self) -> np.dtype:
        return numpy_dtype(self.dtype)

    def features(self) -> frozenset[str]:
        """The :data:`FEATURES` this config uses (initial_state and sequence_length belong to the case)."""
        used = set()
        if self.forget_bias != 1.0:
            used.add("forget_bias")
        if self.use_peepholes:
            used.add("peepholes")
        if self.cell_clip is not None:
            used.add("cell_clip")
        if self.num_proj is not None:
            used.add("projection")
        if self.proj_clip is not None:
            used.add("proj_clip")
        if self.activation != "tanh":
            used.add("activation")
        if self.time_major:
            used.add("time_major")
        return frozenset(used)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LSTMConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"config has unknown field(s) {', '.join(unknown)}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> LSTMConfig:
        return dataclasses.replace(self, **changes)


#: Upper bounds of the size options: past them a case does not fit in memory (or a run would never end).
MAX_TIME_LIMIT = 100_000  # max_time, min_time
MAX_SIZE_LIMIT = 4096  # max_batch, max_units, max_input_size
