"""A cell's parameters and initial state, in TF's canonical layout (conformance/spec/_case.py has the shapes)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from conformance.spec._config import PARAM_NAMES, LSTMConfig
from conformance.spec._errors import InvalidArgument


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
            check_array(f"params.{name}", getattr(self, name), shape, config.np_dtype)


def check_array(name: str, array: Any, shape: tuple[int, ...] | None, dtype: np.dtype) -> None:
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


def zero_state(config: LSTMConfig, batch: int) -> InitialState:
    """The zero initial state for ``batch`` rows."""
    npd = config.np_dtype
    return InitialState(np.zeros((batch, config.num_units), npd), np.zeros((batch, config.output_size), npd))
