"""How every writer prints a number a person compares: the one rule for got/expected pairs.

A float64 mismatch of 2e-10 must print two visibly different numbers (``%.6g`` printed
``0.299754`` twice), so a value is printed with the *shortest digits that round-trip in its
dtype* (float64: ``repr``; float32, float16, bfloat16: the fewest significant digits whose
parse, rounded to the dtype, gives the value back), and a difference with 2 significant
digits.  Two distinct values of one dtype therefore never print alike.  The console, the
comparison message, the HTML and Markdown reports and the generated numpy snippet all call
these functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conformance.spec._config import DTYPES, numpy_dtype


def _dtype(dtype: Any) -> np.dtype | None:
    """The numpy dtype for a dtype name or dtype; None (print as float64) for anything unknown."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        return numpy_dtype(dtype) if dtype in DTYPES else None
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def shortest(value: Any, dtype: Any = None) -> str:
    """``value`` with the shortest digits that round-trip in ``dtype`` (a name of DTYPES, a numpy dtype,
    or None for float64): ``shortest(0.1, "float32") == "0.1"``, ``shortest(0.1 + 2e-10) ==
    "0.1000000002"``.  A value that is not a number of ``dtype`` (e.g. the float64 spec's value in
    a float32 case) is printed as a float64, so it is never shown rounded to a value it is not."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return repr(x)
    npd = _dtype(dtype)
    if npd is None or npd == np.float64 or npd.kind not in "fV":
        return repr(x)
    typed = np.array(x, dtype=npd)
    if float(typed) != x:  # not a value of this dtype: its own float64 digits
        return repr(x)
    for digits in range(1, 18):
        text = f"{x:.{digits}g}"
        if float(np.array(float(text), dtype=npd)) == x:
            return text
    return repr(x)


def difference(got: Any, expected: Any) -> str:
    """``|got - expected|`` with 2 significant digits (``inf``/``nan`` when either is not finite)."""
    try:
        d = abs(float(got) - float(expected))
    except (TypeError, ValueError):
        return "n/a"
    return f"{d:.2g}"


def distinct(a: float, b: float) -> tuple[str, str]:
    """Two magnitudes (a difference and its allowed bound) with 2 significant digits, more when 2
    would print them alike (``2.2e-10 > 2.2e-10`` reads as a contradiction)."""
    for digits in range(2, 18):
        ta, tb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if ta != tb or a == b:
            return ta, tb
    return repr(float(a)), repr(float(b))


def pair_text(got: Any, expected: Any, dtype: Any = None) -> str:
    """``got G, expected E (|diff| D)``: the one way a got/expected pair is printed."""
    return f"got {shortest(got, dtype)}, expected {shortest(expected, dtype)} (|diff| {difference(got, expected)})"
