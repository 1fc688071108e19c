"""Argument checks shared by every layer: one integer validator, one finite-number filter."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conformance.spec._errors import InvalidArgument


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
              optional: bool = False) -> None:
    """Raise ``InvalidArgument("name=value must be an integer >= minimum")`` unless ``value`` is an int in range.

    ``bool`` is not an integer here; numpy integers are; ``optional`` allows None.
    """
    if value is None and optional:
        return
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f">= {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        what = "an integer" + (" " + " and ".join(bounds) if bounds else "")
        raise InvalidArgument(f"{name}={value!r} must be {what}" + (" or None" if optional else ""))


def finite_or_none(x: Any) -> float | None:
    """``x`` as a float when it is a finite number, else None (JSON has no NaN or infinity)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def as_lengths(lengths: Any) -> np.ndarray | None:
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


def check_lengths(lengths: Any, batch: int, time: int) -> None:
    if lengths is None:
        return
    if not isinstance(lengths, np.ndarray) or lengths.dtype.kind not in "iu":
        raise InvalidArgument(f"sequence_length must be an integer numpy array [batch] or None, got {lengths!r}")
    if lengths.shape != (batch,):
        raise InvalidArgument(f"sequence_length has shape {lengths.shape}, expected ({batch},) [batch]")
    bad = [int(v) for v in lengths if not 0 <= v <= time]
    if bad:
        raise InvalidArgument(f"sequence_length={[int(v) for v in lengths]!r}: {bad[0]} is outside 0..{time} (time)")
