"""One description of the case distribution, two ways to drive it.

Every case is drawn by the functions here from a :class:`Chooser`: a handful of
primitive choices (an integer in a range, a coin, a bounded float, a block of
standard normals).  Two choosers drive them:

- :class:`DataChooser` makes each choice a Hypothesis choice (``ConjectureData``'s
  primitive draws).  Hypothesis can then shrink every choice toward the simpler
  case: this is what ``strategies.cases()`` and the other public strategies draw with.
- :class:`RngChooser` makes each choice from a numpy ``Generator``.  A whole case
  then costs one Hypothesis choice (the seed, see ``strategies.seeded_cases``):
  Hypothesis' cost is per choice (~35 us each with its bookkeeping, ~0.7 ms per
  example), so this is several times faster, but the seed does not shrink; the
  runner's post-minimiser (``conformance.run._minimize``) shrinks such a case instead.

Both draw from the same code, so they cover the same distribution: every mode,
scale, feature and size the one reaches the other reaches too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np

T = TypeVar("T")

#: Values a sparse or special entry shrinks toward, first; then a float.
ROUND_VALUES = (1.0, -1.0, 0.5, -0.5, 2.0, -2.0)
#: Most normal numbers a dense array draws: a larger one (the size tail's) repeats this block
#: through it, so it costs no more RNG than an ordinary array.  A prime, so the repetition never
#: lines up with a power-of-two row, tile or gate width (an aliasing mistake still shows).
DENSE_BLOCK = 65521


class Chooser(Protocol):
    """The primitive choices every draw here is made of."""

    def integer(self, lo: int, hi: int, *, shrink_towards: int | None = None) -> int: ...

    def boolean(self) -> bool: ...

    def floating(self, lo: float, hi: float) -> float: ...

    def normal(self, size: int) -> np.ndarray:
        """``size`` standard normal numbers (a dense block)."""
        ...

    def strategy(self, strategy: Any) -> Any:
        """A value of a Hypothesis strategy (only where Hypothesis makes the choices)."""
        ...

    def reject(self) -> None:
        """Give up this draw (a filter refused it); raises."""
        ...


class Rejected(Exception):
    """An :class:`RngChooser` draw that a filter refused (the caller draws the case again)."""


class DataChooser:
    """Choices made by Hypothesis (``data`` is a ``ConjectureData``); each one shrinks toward its low end."""

    def __init__(self, data: Any):
        self.data = data

    def integer(self, lo: int, hi: int, *, shrink_towards: int | None = None) -> int:
        if shrink_towards is None:
            return self.data.draw_integer(lo, hi)
        return self.data.draw_integer(lo, hi, shrink_towards=shrink_towards)

    def boolean(self) -> bool:
        return self.data.draw_boolean()

    def floating(self, lo: float, hi: float) -> float:
        return self.data.draw_float(lo, hi, allow_nan=False)

    def normal(self, size: int) -> np.ndarray:
        # One choice (a seed) for a whole block: shrinking it to 0 gives the canonical block.
        return np.random.default_rng(self.data.draw_integer(0, 2**32 - 1)).standard_normal(size)

    def strategy(self, strategy: Any) -> Any:
        return self.data.draw(strategy)

    def reject(self) -> None:
        self.data.mark_invalid("filtered out")


class RngChooser:
    """Choices made by a numpy Generator: uniform over each range, a fair coin."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def integer(self, lo: int, hi: int, *, shrink_towards: int | None = None) -> int:
        # rng.random() is ~10x cheaper per call than rng.integers(); ranges here are small.
        return lo + min(int(self.rng.random() * (hi - lo + 1)), hi - lo)

    def boolean(self) -> bool:
        return self.rng.random() < 0.5

    def floating(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.rng.random()

    def normal(self, size: int) -> np.ndarray:
        return self.rng.standard_normal(size)

    def strategy(self, strategy: Any) -> Any:
        raise TypeError(f"a seeded draw cannot draw from the strategy {strategy!r}")

    def reject(self) -> None:
        raise Rejected()


def one_of_values(ch: Chooser, values: tuple[float, ...], lo: float, hi: float) -> float:
    """One of ``values`` (shrinking toward the first) or, half the time, a float in [lo, hi]."""
    if ch.integer(0, 1):
        return ch.floating(lo, hi)
    return values[ch.integer(0, len(values) - 1)]


def filtered(ch: Chooser, draw: Callable[[], T], ok: Callable[[T], bool], tries: int = 3) -> T:
    """``draw()`` until ``ok``; after ``tries`` the whole draw is rejected (as Hypothesis' ``filter`` does)."""
    for _ in range(tries):
        value = draw()
        if ok(value):
            return value
    ch.reject()
    raise AssertionError("unreachable: reject() raises")  # pragma: no cover


def draw_array(
    ch: Chooser,
    shape: tuple[int, ...],
    dtype: np.dtype,
    scales: tuple[float, ...],
    max_magnitude: float,
    max_entries: int,
    allow_zeros: bool,
    dense_weight: int = 4,
) -> np.ndarray:
    """An array of ``shape``/``dtype``: all zeros, sparse (1..max_entries explicit entries) or dense.

    Dense: ``scale * standard_normal(shape)`` (past DENSE_BLOCK elements, that block repeated) plus, in about 3 draws of 7, a few explicit
    "special" entries (a saturating weight, a round number).  Choices, in shrink order:
    mode (zeros, sparse, then dense), the normal block, the scale (toward the first of
    ``scales``), the count of entries (toward 0, or 1 for sparse), each entry's index
    (toward 0) and value (toward ROUND_VALUES[0], then a float).  ``dense_weight``: how much more often
    dense is drawn than zeros or sparse (4: dense in 4 draws of 6, or of 5 without zeros).
    """
    size = math.prod(shape)
    # 0 zeros, 1 sparse, 2.. dense: dense is the most common when generating, the last when shrinking.
    mode = min(ch.integer(0 if allow_zeros else 1, 1 + dense_weight), 2)
    out = np.zeros(size, dtype=np.float64)
    entries = 0
    if mode == 2:
        block = ch.normal(min(size, DENSE_BLOCK))
        if size > DENSE_BLOCK:
            block = np.resize(block, size)
        out = block * scales[ch.integer(0, len(scales) - 1)]
        entries = max(0, ch.integer(0, 2 * max_entries) - max_entries)
    elif mode == 1:
        entries = ch.integer(1, max_entries, shrink_towards=1)
    if size:
        for _ in range(entries):
            index = ch.integer(0, size - 1)
            which = ch.integer(0, len(ROUND_VALUES))
            out[index] = ROUND_VALUES[which] if which < len(ROUND_VALUES) else ch.floating(-max_magnitude, max_magnitude)
    return out.reshape(shape).astype(dtype)
