"""Batches of cases from one seed: :func:`seeded_cases` (fast to generate; see strategies._draw)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies._internal.strategies import SearchStrategy

from conformance.spec import DEFAULT_FEATURES, DTYPES, Case
from strategies._cases import _case_spec, _CaseSpec, _draw_case
from strategies._checks import check_int, check_range
from strategies._draw import Rejected, RngChooser
from strategies._sizes import Tail


class CaseBatch(list):
    """The cases :func:`seeded_cases` drew from one seed (a list; ``seed`` says which)."""

    def __init__(self, seed: int, cases: list[Case]):
        super().__init__(cases)
        self.seed = seed

    def __repr__(self) -> str:  # a failing batch is printed: its seed says it all, not 16 cases' arrays
        return f"CaseBatch(seed={self.seed}, {len(self)} cases)"


def seeded_cases(
    *,
    count: int = 8,
    features: Collection[str] = DEFAULT_FEATURES,
    dtypes: Collection[str] = DTYPES,
    min_batch: int = 1,
    max_batch: int = 4,
    min_time: int = 1,
    max_time: int = 24,
    long_sequences: bool = True,
    min_long_time: int = 100,
    max_long_time: int = 160,
    min_units: int = 1,
    max_units: int = 16,
    min_input_size: int = 1,
    max_input_size: int = 16,
    require: Collection[str] = (),
    weight_scales: tuple[float, ...] | None = None,
    tail: Tail | None = None,
) -> st.SearchStrategy[CaseBatch]:
    """Lists (:class:`CaseBatch`) of ``count`` cases drawn from :func:`cases`' distribution by a seeded RNG.

    One Hypothesis choice (a 64-bit seed) per list instead of ~30-60 per case: many
    times faster to generate, and the same seed always gives the same cases (so a
    stored failure replays), but shrinking the seed does not simplify a case.  Use it
    where something else minimises a failing case (the runner's ``conformance.run._minimize``);
    :func:`cases` is the strategy whose every choice shrinks.  ``long_sequences``: one
    case in eight is ``min_long_time..max_long_time`` steps long.  ``tail``: one case in
    ``tail.every`` is large (see :func:`cases`).  The other arguments are :func:`cases`'.
    """
    count, spec = seeded_spec(count=count, long_sequences=long_sequences, min_long_time=min_long_time,
                              max_long_time=max_long_time, features=features, dtypes=dtypes, min_batch=min_batch,
                              max_batch=max_batch, min_time=min_time, max_time=max_time, min_units=min_units,
                              max_units=max_units, min_input_size=min_input_size, max_input_size=max_input_size,
                              require=require, weight_scales=weight_scales, tail=tail)
    return _SeededCases(spec, count)


def seeded_spec(*, count: int, long_sequences: bool, min_long_time: int, max_long_time: int,
                **spec_args: Any) -> tuple[int, _CaseSpec]:
    """The checked ``count`` and the case spec of a seeded strategy (:func:`seeded_cases`, and
    :func:`strategies.amortized_cases`, which draws its first case of each group the same way);
    ``spec_args``: the rest of :func:`seeded_cases`' arguments.  InvalidArgument for a bad one."""
    count = check_int("count", count, minimum=1)
    if not isinstance(long_sequences, bool):
        raise InvalidArgument(f"long_sequences={long_sequences!r} must be True or False")
    min_long_time, max_long_time = check_range("long_time", min_long_time, max_long_time)
    return count, _case_spec(configs=None, long_times=(min_long_time, max_long_time) if long_sequences else None,
                             **spec_args)


class _SeededCases(SearchStrategy):
    def __init__(self, spec: _CaseSpec, count: int):
        super().__init__()
        self.spec, self.count = spec, count

    def __repr__(self) -> str:
        return f"seeded_cases(count={self.count!r}, {self.spec})"

    def do_draw(self, data: Any) -> CaseBatch:
        seed = data.draw_integer(0, 2**64 - 1)
        chooser = RngChooser(np.random.default_rng(seed))
        drawn = []
        for _ in range(self.count):
            for _attempt in range(100):  # a filter (required non-zero state, big kernel) refused: draw again
                try:
                    drawn.append(_draw_case(chooser, self.spec))
                    break
                except Rejected:
                    continue
            else:
                data.mark_invalid("no case satisfied the filters in 100 draws")
        return CaseBatch(seed, drawn)
