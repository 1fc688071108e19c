"""The large-size tail of the case distribution: sizes where real kernels break.

Real LSTM kernels go wrong above the ordinary sizes (batch <= 4, units and input <= 16,
time <= 24): a remainder tile past 32 or 64 units, rows handed to a second thread past 8 or
16, an input buffer of fixed width, a state ring buffer that wraps after a few hundred
steps.  One case in :attr:`Tail.every` is *large*: one axis (batch, time, units or input
size, time twice as often as each other; a second one in four large cases) is drawn above its ordinary range, up to the tail's
reach: a third of the time on a kernel boundary (``2**k - 1``, ``2**k``, ``2**k + 1``: 7, 8,
9, 15, 16, 17, ..., 1023, 1024, 1025), a third log-uniformly (an octave, then a size in it),
a third uniformly, so that a threshold anywhere from 8 to the reach's half is passed often.

Cost is bounded by a work cap (:func:`work`: the cell's multiply-adds over the case plus a cost per
step) and by the elements of the largest per-step array, ``B * T * max(I, H)``.
The axes that are not large are halved (time first, then batch, input, units) until the
case fits, then the second large axis, then the first.  A large array costs no more to draw
than a small one (strategies._draw: a dense block is tiled through it).
"""

from __future__ import annotations

import dataclasses

from strategies._draw import Chooser

#: Sizes kernels care about: powers of two and their neighbours, 7 .. 4097.
BOUNDARIES: tuple[int, ...] = tuple(v for p in range(3, 13) for v in (2**p - 1, 2**p, 2**p + 1))

#: The axes a large case may be large on, in the order the work cap shrinks the others.
AXES: tuple[str, ...] = ("time", "batch", "input", "units")


@dataclasses.dataclass(frozen=True)
class Tail:
    """How the tail is drawn: one case in ``every`` is large, up to these sizes and this work."""

    every: int = 32
    max_batch: int = 64
    max_time: int = 1000
    max_units: int = 1024
    max_input_size: int = 1024
    #: Cost of a case (see :func:`work`): 2**25 is about 40 ms of the oracle's and a candidate's time.
    max_work: int = 2**25
    #: Elements of the largest per-step array, ``B * T * max(I, H)``.
    max_elements: int = 2**20

    def reach(self, axis: str) -> int:
        return {"batch": self.max_batch, "time": self.max_time, "units": self.max_units,
                "input": self.max_input_size}[axis]


def boundary_size(ch: Chooser, lo: int, hi: int) -> int:
    """A size in [lo, hi]: a third of the time a kernel boundary, a third log-uniform (an octave, then a
    size in it: small thresholds), a third uniform (large ones: half of these pass ``hi / 2``).
    Shrinks toward ``lo``."""
    if lo >= hi:
        return hi
    bounds = [v for v in BOUNDARIES if lo <= v <= hi]
    how = ch.integer(0, 2)
    if how == 2 and bounds:
        return bounds[ch.integer(0, len(bounds) - 1)]
    if how == 1:
        return ch.integer(lo, hi)
    octave = ch.integer(lo.bit_length() - 1, hi.bit_length() - 1)
    return ch.integer(max(lo, 2**octave), min(hi, 2 ** (octave + 1) - 1))


#: What one time step costs beyond its multiply-adds, in multiply-adds (the oracle's and a candidate's
#: per-step overhead: a 1000-step case of size 4 costs about what 16 steps of 1024 units do).
STEP_COST = 2**14


def work(sizes: dict[str, int]) -> tuple[int, int]:
    """(cost, largest per-step array's elements) of a case of these sizes.

    Cost, in multiply-adds: the cell's matmul over the steps the oracle runs (its loop runs 8 steps per
    iteration, padded), ``B * T8 * (I + H) * 4H``, plus :data:`STEP_COST` per step.
    """
    B, T, I, H = sizes["batch"], sizes["time"], sizes["input"], sizes["units"]
    steps = 8 * -(-T // 8)
    return B * steps * (I + H) * 4 * H + STEP_COST * steps, B * T * max(I, H)


def draw_large(ch: Chooser, tail: Tail, sizes: dict[str, int], ordinary: dict[str, int],
               minimum: dict[str, int]) -> dict[str, int]:
    """``sizes`` (the ordinary draw: batch, time, input, units) with one or two axes made large.

    ``ordinary``: each axis' ordinary maximum; an axis is large above it, up to the tail's reach
    (axes whose reach is not above it stay ordinary).  Returns the new sizes, within the work cap
    as far as halving can take them without going below ``minimum``.
    """
    eligible = [a for a in AXES if tail.reach(a) > ordinary[a]]
    if not eligible:
        return sizes
    out = dict(sizes)
    # Time counts twice: a mistake past a step count (a ring buffer, a blocked time loop) needs one long
    # sequence that also shows it, and fewer of those show it than for the other axes (a state that
    # settles, a 16-bit sequence judged only up to where it is well-conditioned).
    weighted = eligible + [a for a in eligible if a == "time"]
    first = weighted[ch.integer(0, len(weighted) - 1)]
    large = [first]
    if len(eligible) > 1 and ch.integer(0, 3) == 3:
        others = [a for a in eligible if a != first]
        large.append(others[ch.integer(0, len(others) - 1)])
    for axis in large:
        out[axis] = boundary_size(ch, ordinary[axis] + 1, tail.reach(axis))
    order = [a for a in AXES if a not in large] + large[::-1]

    def over() -> bool:
        macs, elements = work(out)
        return macs > tail.max_work or elements > tail.max_elements

    for axis in order:
        while over() and out[axis] > minimum[axis]:
            out[axis] = max(minimum[axis], out[axis] // 2)
    return out
