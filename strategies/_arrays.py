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

import numpy as np
from hypothesis import strategies as st

#: Dense scales: 1.0 first (shrink target); the large ones saturate sigmoid/tanh.
WEIGHT_SCALES = (1.0, 0.5, 0.1, 2.0, 5.0, 20.0)
INPUT_SCALES = (1.0, 0.1, 3.0, 30.0, 300.0)
#: Values a sparse or special entry shrinks toward, first; then a float.
ROUND_VALUES = (1.0, -1.0, 0.5, -0.5, 2.0, -2.0)


def _entry_values(max_magnitude: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from(ROUND_VALUES),
        st.floats(-max_magnitude, max_magnitude, allow_nan=False, allow_infinity=False, width=32),
    )


@st.composite
def lstm_arrays(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    dtype: np.dtype,
    *,
    scales: tuple[float, ...] = WEIGHT_SCALES,
    max_magnitude: float = 8.0,
    max_entries: int = 3,
    allow_zeros: bool = True,
) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` in one of the modes above (values rounded to ``dtype``)."""
    size = int(np.prod(shape))
    # 0 zeros, 1 sparse, 2..5 dense: dense is the most common when generating, the last when shrinking.
    mode = min(draw(st.integers(0 if allow_zeros else 1, 5)), 2)
    out = np.zeros(size, dtype=np.float64)
    if mode == 2:
        seed = draw(st.integers(0, 2**32 - 1))
        scale = draw(st.sampled_from(scales))
        out = np.random.default_rng(seed).standard_normal(size) * scale
    if mode >= 1 and size:
        entries = draw(st.lists(st.tuples(st.integers(0, size - 1), _entry_values(max_magnitude)),
                                min_size=1 if mode == 1 else 0, max_size=max_entries))
        for index, value in entries:
            out[index] = value
    return out.reshape(shape).astype(dtype)
