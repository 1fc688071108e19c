"""Arrays that are fast to generate and still shrink to readable cases.

Drawing every element through Hypothesis is slow (benchmarks/README.md) and a bare
seed does not shrink.  Each array here is drawn as one of three *modes*, in
shrink order:

0. ``zeros``  all zero;
1. ``sparse`` 1..max_entries explicit ``(flat index, value)`` entries, each a
   Hypothesis choice, so they shrink element by element toward small round numbers;
2. ``dense``  ``scale * standard_normal(shape)`` from a drawn seed, plus (in about
   3 draws of 7) a few explicit "special" entries: a realistic dense array of any
   size costs 4 choices (mode, seed, scale, count of specials).

Generation cost is per Hypothesis choice (~25-60 us each, with its bookkeeping),
not per element, so an array costs the same whatever its size.  Shrinking:
Hypothesis moves an array to zeros or sparse where the failure allows, and a
dense one it cannot leave to the simplest dense array (seed 0, the first scale),
which is the same whatever the starting point; the runner's post-minimisation
(conformance.run._minimize) then zeroes and rounds elements while the case still
fails (tests/test_oracle_perf_strategies.py).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies._internal.strategies import SearchStrategy

from strategies._checks import check_int
from strategies._draw import DataChooser, draw_array

#: Dense scales: 1.0 first (shrink target); the large ones saturate sigmoid/tanh.
WEIGHT_SCALES = (1.0, 0.5, 0.1, 2.0, 5.0, 20.0)
INPUT_SCALES = (1.0, 0.1, 3.0, 30.0, 300.0)

def lstm_arrays(
    shape: tuple[int, ...],
    dtype: Any,
    *,
    scales: tuple[float, ...] = WEIGHT_SCALES,
    max_magnitude: float = 8.0,
    max_entries: int = 3,
    allow_zeros: bool = True,
) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``shape`` and ``dtype`` in one of the modes above (values rounded to ``dtype``).

    ``scales``: standard deviations of the dense mode, the first one its shrink
    target; ``max_magnitude``: bound of an explicit entry's value; ``max_entries``:
    most explicit entries (sparse mode: 1..max_entries, dense: 0..max_entries);
    ``allow_zeros``: whether the all-zero mode may be drawn.
    """
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, tuple) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise InvalidArgument(f"shape={shape!r} must be a tuple of integers >= 0")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise InvalidArgument(f"dtype={dtype!r} is not a numpy dtype") from None
    if dtype.kind != "f" and dtype.name != "bfloat16":
        raise InvalidArgument(f"dtype={dtype!r} must be a floating-point dtype")
    scales = tuple(scales) if isinstance(scales, (tuple, list)) else scales
    if not isinstance(scales, tuple) or not scales or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in scales
    ):
        raise InvalidArgument(f"scales={scales!r} must be a non-empty tuple of finite numbers > 0")
    if isinstance(max_magnitude, bool) or not isinstance(max_magnitude, (int, float)) or not (
        math.isfinite(max_magnitude) and max_magnitude > 0
    ):
        raise InvalidArgument(f"max_magnitude={max_magnitude!r} must be a finite number > 0")
    max_entries = check_int("max_entries", max_entries, minimum=1)
    if not isinstance(allow_zeros, bool):
        raise InvalidArgument(f"allow_zeros={allow_zeros!r} must be True or False")
    return _lstm_arrays(
        tuple(int(d) for d in shape), dtype, tuple(float(v) for v in scales), float(max_magnitude), max_entries,
        allow_zeros,
    )


@functools.lru_cache(maxsize=4096)
def _lstm_arrays(
    shape: tuple[int, ...], dtype: np.dtype, scales: tuple[float, ...], max_magnitude: float, max_entries: int,
    allow_zeros: bool,
) -> st.SearchStrategy[np.ndarray]:
    # One strategy object per distinct argument set: a strategy built afresh for every
    # example costs Hypothesis more (validation, caches) than drawing from it does.
    return _LSTMArrays(shape, dtype, scales, max_magnitude, max_entries, allow_zeros)


class _LSTMArrays(SearchStrategy):
    """The strategy :func:`lstm_arrays` returns: :func:`strategies._draw.draw_array` on Hypothesis' choices.

    It draws Hypothesis' primitive choices directly (``data.draw_integer`` /
    ``draw_float``) rather than composing strategies: generation cost is per
    choice and per strategy layer, and an array here costs 3 choices when dense
    (mode, seed, scale), plus 1 for the count of special entries and 2-3 per
    entry.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, scales: tuple[float, ...], max_magnitude: float,
                 max_entries: int, allow_zeros: bool):
        super().__init__()
        self.shape, self.dtype, self.scales = shape, dtype, scales
        self.max_magnitude, self.max_entries, self.allow_zeros = max_magnitude, max_entries, allow_zeros
        self.size = math.prod(shape)

    def __repr__(self) -> str:
        return (f"lstm_arrays({self.shape!r}, {self.dtype.name!r}, scales={self.scales!r}, "
                f"max_magnitude={self.max_magnitude!r}, max_entries={self.max_entries!r}, "
                f"allow_zeros={self.allow_zeros!r})")

    def do_draw(self, data: Any) -> np.ndarray:
        return draw_array(DataChooser(data), self.shape, self.dtype, self.scales, self.max_magnitude,
                          self.max_entries, self.allow_zeros)
