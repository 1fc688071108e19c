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
