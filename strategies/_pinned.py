"""Cases whose config and weights are pinned (``check --params FILE``, a model's own weights): only the
inputs, the initial state, the row lengths and the layout are drawn."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
from hypothesis.errors import InvalidArgument
from hypothesis.strategies._internal.strategies import SearchStrategy

from conformance.spec import Case, PinnedParams, zero_state
from strategies._checks import check_int, check_range
from strategies._draw import Chooser, DataChooser, Rejected, RngChooser
from strategies._lengths import draw_lengths, fill_padding
from strategies._seeded import CaseBatch
from strategies._values import draw_inputs, draw_state

#: The features a pinned run still draws (the others are the pinned config's).
DRAWN_FEATURES = frozenset({"initial_state", "sequence_length", "time_major"})


def pinned_cases(
    pinned: PinnedParams,
    *,
    count: int = 16,
    seeded: bool = True,
    features: Collection[str] = (),
    min_batch: int = 1,
    max_batch: int = 4,
    min_time: int = 1,
    max_time: int = 24,
    long_times: tuple[int, int] | None = None,
    require: Collection[str] = (),
) -> SearchStrategy[list[Case]]:
    """Batches of ``count`` cases with ``pinned``'s config and parameters (exactly, every case), and drawn
    inputs [B, T, I], initial states (``initial_state`` in ``features``), row lengths (``sequence_length``)
    and layout (``time_major``).  ``seeded``: one Hypothesis choice (a seed) per batch (a :class:`CaseBatch`);
    otherwise every choice is Hypothesis' and ``count`` must be 1 (a one-case list).  ``long_times``: one case in eight that long."""
    if not isinstance(pinned, PinnedParams):
        raise InvalidArgument(f"pinned={pinned!r} must be a PinnedParams")
    count = check_int("count", count, minimum=1)
    if not seeded and count != 1:
        raise InvalidArgument(f"count={count!r} must be 1 when seeded=False (one case per Hypothesis example)")
    min_batch, max_batch = check_range("batch", min_batch, max_batch)
    min_time, max_time = check_range("time", min_time, max_time)
    if long_times is not None:
        long_times = check_range("long_time", *long_times)
    drawn = frozenset(features) & DRAWN_FEATURES
    missing = sorted(set(require) - drawn - pinned.config.features())
    if missing:
        raise InvalidArgument(f"require={sorted(require)!r}: {missing} neither drawn nor used by the pinned config")
    return _PinnedCases(pinned, count, seeded, drawn, frozenset(require), (min_batch, max_batch),
                        (min_time, max_time), long_times)


class _PinnedCases(SearchStrategy):
    def __init__(self, pinned: PinnedParams, count: int, seeded: bool, drawn: frozenset[str],
                 require: frozenset[str], batch: tuple[int, int], time: tuple[int, int],
                 long_times: tuple[int, int] | None):
        super().__init__()
        self.pinned, self.count, self.seeded, self.drawn, self.require = pinned, count, seeded, drawn, require
        self.batch, self.time, self.long_times = batch, time, long_times

    def __repr__(self) -> str:
        return (f"pinned_cases({self.pinned.origin!r}, count={self.count!r}, seeded={self.seeded!r}, "
                f"features={sorted(self.drawn)!r})")

    def do_draw(self, data: Any) -> list[Case]:
        if not self.seeded:  # one case, every choice Hypothesis' (it shrinks them); a plain list, no seed
            return [self._draw(DataChooser(data))]
        seed = data.draw_integer(0, 2**64 - 1)
        chooser = RngChooser(np.random.default_rng(seed))
        cases = []
        for _ in range(self.count):
            for _attempt in range(100):
                try:
                    cases.append(self._draw(chooser))
                    break
                except Rejected:
                    continue
            else:
                data.mark_invalid("no pinned case satisfied the filters in 100 draws")
        return CaseBatch(seed, cases)

    def _draw(self, ch: Chooser) -> Case:
        config = self.pinned.config
        batch = ch.integer(*self.batch)
        if self.long_times is not None and ch.integer(0, 7) == 7:
            time = ch.integer(*self.long_times)
        else:
            time = ch.integer(*self.time)
        inputs = draw_inputs(ch, config, batch, time)  # [B, T, I]
        state = zero_state(config, batch)
        if "initial_state" in self.require or ("initial_state" in self.drawn and ch.boolean()):
            state = draw_state(ch, config, batch)
            if "initial_state" in self.require and state.is_zero():
                ch.reject()
        lengths = None
        if "sequence_length" in self.require or ("sequence_length" in self.drawn and ch.boolean()):
            lengths = draw_lengths(ch, batch, time)
            inputs = fill_padding(ch, inputs, lengths)
        time_major = "time_major" in self.require or ("time_major" in self.drawn and ch.boolean())
        if time_major:
            inputs = np.ascontiguousarray(inputs.transpose(1, 0, 2))
        return Case(config.replace(time_major=time_major), self.pinned.params, inputs, state, lengths)
