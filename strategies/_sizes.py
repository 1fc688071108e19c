"""The large-size tail of the case distribution: sizes where real kernels break.

Real LSTM kernels go wrong above the ordinary sizes (batch <= 4, units and input <= 16,
time <= 24): a remainder tile past 32 or 64 units, rows handed to a second thread past 8 or
16, an input buffer of fixed width, a state ring buffer that wraps after a few hundred
steps.  One case in :attr:`Tail.every` is *large*: one axis (batch, time, units or input
size, time twice as often as each other; a second one in four large cases) is drawn above its ordinary
range, up to the tail's reach: a quarter of the time on a kernel boundary (``2**k - 1``, ``2**k``,
``2**k + 1``: 7, 8, 9, 15, 16, 17, ..., 1023, 1024, 1025), a quarter log-uniformly (an octave, then a
size in it), half the time uniformly (batch, units and input: the larger of two uniform sizes), so that a
threshold anywhere from 8 to the reach's half is passed often.  A large case's arrays are dense more
often, and its kernel is scaled to its width (strategies._values: LARGE_*), so that what goes wrong at a
size shows.

Cost is bounded by a work cap (:func:`work`: the cell's multiply-adds over the case plus a cost per
unit, row and step and per step) and by the elements of the largest per-step array,
``B * T * max(I, H)``.  The axes that are not large are halved (time first, then batch, input, units)
until the case fits, then the second large axis, then the first, each to the largest size that fits; a
large case is a network only where the further cells fit too (:func:`network_fits`).  A large array
costs no more to draw than a small one (strategies._draw: a dense block is tiled through it).
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

    every: int = 16
    max_batch: int = 1024
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


def boundary_size(ch: Chooser, lo: int, hi: int, *, top_heavy: bool = False) -> int:
    """A size in [lo, hi]: a quarter of the time log-uniform (an octave, then a size in it: small sizes), a
    quarter a kernel boundary, half the time uniform (a threshold ``t`` is passed by a share ``1 - t / hi`` of
    these: half of them pass ``hi / 2``), or with ``top_heavy`` the larger of two uniform sizes (a share
    ``1 - (t / hi)**2``: three quarters pass ``hi / 2``).  Shrinks toward ``lo``."""
    if lo >= hi:
        return hi
    bounds = [v for v in BOUNDARIES if lo <= v <= hi]
    how = ch.integer(0, 3)
    if how == 1 and bounds:
        return bounds[ch.integer(0, len(bounds) - 1)]
    if how >= 2:
        size = ch.integer(lo, hi)
        return max(size, ch.integer(lo, hi)) if top_heavy else size
    octave = ch.integer(lo.bit_length() - 1, hi.bit_length() - 1)
    return ch.integer(max(lo, 2**octave), min(hi, 2 ** (octave + 1) - 1))


#: What one time step costs beyond its multiply-adds, in multiply-adds (the oracle's and a candidate's
#: per-step overhead: a 1000-step case of size 4 costs about what 16 steps of 1024 units do).
STEP_COST = 2**14
#: What one unit of one row costs per step beyond the matmul, in multiply-adds: the gates' elementwise
#: work in the oracle, a candidate and the judge's float64 spec (measured: a 923-row 993-step case of one
#: unit costs ~70 ms more than a one-row one).
UNIT_STEP_COST = 64


def work(sizes: dict[str, int]) -> tuple[int, int]:
    """(cost, largest per-step array's elements) of a case of these sizes (one cell).

    Cost, in multiply-adds: the cell's matmul over the steps the oracle runs (its loop runs 8 steps per
    iteration, padded), ``B * T8 * (I + H) * 4H``, plus :data:`UNIT_STEP_COST` per unit, row and step and
    :data:`STEP_COST` per step.
    """
    B, T, I, H = sizes["batch"], sizes["time"], sizes["input"], sizes["units"]
    steps = 8 * -(-T // 8)
    return B * steps * ((I + H) * 4 * H + UNIT_STEP_COST * H) + STEP_COST * steps, B * T * max(I, H)


def network_fits(tail: Tail, sizes: dict[str, int], ordinary: dict[str, int]) -> bool:
    """Whether a large case of these sizes may also be a network within the work cap: up to five more cells
    (3 layers, both directions), each of up to the ordinary units, reading up to twice the first's width."""
    upper = {"batch": sizes["batch"], "time": sizes["time"], "input": 2 * max(sizes["units"], ordinary["units"]),
             "units": ordinary["units"]}
    return work(sizes)[0] + 5 * work(upper)[0] <= tail.max_work


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
        # A long sequence costs per step (a Python step in most candidates and in the judge's spec); a wide
        # batch, input or unit axis is one matmul a step: those lean to the top of their range.
        out[axis] = boundary_size(ch, ordinary[axis] + 1, tail.reach(axis), top_heavy=axis != "time")
    order = [a for a in AXES if a not in large] + large[::-1]

    def over() -> bool:
        macs, elements = work(out)
        return macs > tail.max_work or elements > tail.max_elements

    def fits(axis: str, size: int) -> bool:
        out[axis] = size
        return not over()

    for axis in order:
        if axis in large and over():
            # The largest size that fits (work grows with every size): halving 1024 units that just miss the
            # cap would give 512, and a threshold near 512 would never be passed.
            lo, hi = minimum[axis], out[axis]
            if fits(axis, lo):
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (mid, hi) if fits(axis, mid) else (lo, mid)
            out[axis] = lo
            continue
        while over() and out[axis] > minimum[axis]:
            out[axis] = max(minimum[axis], out[axis] // 2)
    return out
