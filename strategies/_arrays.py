"""Arrays that are fast to generate and still shrink to readable cases.

Drawing every element through Hypothesis is slow (DESIGN.md section 3) and a bare
seed does not shrink.  Each array here is drawn as one of three *modes*, in
shrink order:

0. ``zeros``  all zero;
1. ``sparse`` a few explicit ``(flat index, value)`` entries, each a Hypothesis
   choice, so they shrink element by element toward small round numbers;
2. ``dense``  ``scale * standard_normal(shape)`` from a drawn seed, plus a few
   explicit "special" entries, so realistic dense arrays cost ~4 choices.

Hypothesis shrinks dense toward sparse and zeros where the failure allows; the
runner's post-minimisation (conformance._minimize) then zeroes and rounds what
is left.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

#: Dense scales: 1.0 first (shrink target); the large ones saturate sigmoid/tanh.
WEIGHT_SCALES = (1.0, 0.5, 0.1, 2.0, 5.0, 20.0)
INPUT_SCALES = (1.0, 0.1, 3.0, 30.0, 300.0)
#: Values a sparse or special entry shrinks toward, first; then a float.
ROUND_VALUES = (1.0, -1.0, 0.5, -0.5, 2.0, -2.0)

_SEEDS = st.integers(0, 2**32 - 1)


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
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
        raise InvalidArgument(f"max_entries={max_entries!r} must be an integer >= 1")
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
    # One strategy object per distinct argument set, its parts built once: a strategy
    # built afresh for every example costs Hypothesis more (validation, caches) than
    # drawing from it does.
    size = math.prod(shape)
    # 0 zeros, 1 sparse, 2..5 dense: dense is the most common when generating, the last when shrinking.
    modes = st.integers(0 if allow_zeros else 1, 5)
    entries = None
    if size:
        entry = st.tuples(st.integers(0, size - 1), _entry_values(max_magnitude))
        entries = (st.lists(entry, min_size=1, max_size=max_entries), st.lists(entry, max_size=max_entries))
    return _draw_array(shape, dtype, modes, st.sampled_from(scales), entries)


@st.composite
def _draw_array(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    dtype: np.dtype,
    modes: st.SearchStrategy[int],
    scales: st.SearchStrategy[float],
    entries: tuple[st.SearchStrategy[list[tuple[int, float]]], ...] | None,
) -> np.ndarray:
    mode = min(draw(modes), 2)
    size = math.prod(shape)
    out = np.zeros(size, dtype=np.float64)
    if mode == 2:
        seed = draw(_SEEDS)
        out = np.random.default_rng(seed).standard_normal(size) * draw(scales)
    if mode >= 1 and entries is not None:
        for index, value in draw(entries[mode - 1]):
            out[index] = value
    return out.reshape(shape).astype(dtype)


@functools.lru_cache(maxsize=None)
def _entry_values(max_magnitude: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from(ROUND_VALUES),
        st.floats(-max_magnitude, max_magnitude, allow_nan=False, allow_infinity=False, width=32),
    )
