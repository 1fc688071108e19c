"""Batches that share parameter sets: :func:`amortized_cases` (for candidates that are expensive per parameters).

A converter pipeline (TF -> TFLite, TF -> ONNX) pays ~0.2-3 s to convert a model for one
parameter set and ~1 ms to run it.  Drawing a fresh config and fresh weights for every case
would spend the run converting; here one *parameter set* -- config, weights, batch size,
number of steps and, for a network, its further cells -- is drawn once, as an ordinary case
of :func:`strategies.cases`' distribution, and ``inputs_per_params - 1`` more cases reuse it
with their own inputs, initial state and row lengths (a group has lengths or not, as its first case).  The candidate caches its converted
model per parameter set (batch and time included: converted models have static shapes).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection
from typing import Any

import numpy as np
from hypothesis.strategies._internal.strategies import SearchStrategy

from conformance.spec import DEFAULT_FEATURES, DTYPES, Case
from strategies._cases import _CaseSpec, _draw_case, _draw_initial_state
from strategies._checks import check_int
from strategies._draw import Chooser, Rejected, RngChooser
from strategies._lengths import draw_lengths, fill_padding
from strategies._seeded import CaseBatch, seeded_spec
from strategies._values import draw_inputs


def amortized_cases(
    *,
    inputs_per_params: int = 8,
    count: int = 16,
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
) -> SearchStrategy[CaseBatch]:
    """Lists (:class:`CaseBatch`) of cases from one seed, ``inputs_per_params`` consecutive cases sharing
    one parameter set (config, params, batch, time, a network's further cells and their states).

    The first case of each group is drawn exactly as :func:`seeded_cases` draws a case; the others
    replace its inputs [B, T, I] ([T, B, I] time-major), initial state and row lengths only.
    A batch holds ``max(count, inputs_per_params)`` cases rounded up to whole groups.  The other
    arguments are :func:`seeded_cases`'.
    """
    inputs_per_params = check_int("inputs_per_params", inputs_per_params, minimum=1)
    count, spec = seeded_spec(count=count, long_sequences=long_sequences, min_long_time=min_long_time,
                              max_long_time=max_long_time, features=features, dtypes=dtypes, min_batch=min_batch,
                              max_batch=max_batch, min_time=min_time, max_time=max_time, min_units=min_units,
                              max_units=max_units, min_input_size=min_input_size, max_input_size=max_input_size,
                              require=require, weight_scales=weight_scales)
    groups = -(-max(count, inputs_per_params) // inputs_per_params)
    return _AmortizedCases(spec, inputs_per_params, groups)


def same_params(template: Case, ch: Chooser, spec: _CaseSpec) -> Case:
    """``template`` with fresh inputs, initial state (of its first cell) and row lengths, drawn as
    ``_draw_case`` draws them; everything a converted model bakes in is kept, whether the case has row
    lengths included (they are an input of the converted model or not at all)."""
    config, batch, time = template.config, template.batch, template.time
    inputs = draw_inputs(ch, config, batch, time)  # [B, T, I]
    state = _draw_initial_state(ch, spec, config, batch)
    lengths = None
    if template.sequence_length is not None:
        lengths = draw_lengths(ch, batch, time)
        inputs = fill_padding(ch, inputs, lengths)
    if config.time_major:
        inputs = np.ascontiguousarray(inputs.transpose(1, 0, 2))
    return dataclasses.replace(template, inputs=inputs, initial_state=state, sequence_length=lengths)


class _AmortizedCases(SearchStrategy):
    def __init__(self, spec: _CaseSpec, per_params: int, groups: int):
        super().__init__()
        self.spec, self.per_params, self.groups = spec, per_params, groups

    def __repr__(self) -> str:
        return f"amortized_cases(inputs_per_params={self.per_params!r}, groups={self.groups!r}, {self.spec})"

    def do_draw(self, data: Any) -> CaseBatch:
        seed = data.draw_integer(0, 2**64 - 1)
        chooser = RngChooser(np.random.default_rng(seed))
        drawn: list[Case] = []
        for _ in range(self.groups):
            template = self._retry(data, lambda: _draw_case(chooser, self.spec))
            drawn.append(template)
            for _ in range(self.per_params - 1):
                drawn.append(self._retry(data, functools.partial(same_params, template, chooser, self.spec)))
        return CaseBatch(seed, drawn)

    @staticmethod
    def _retry(data: Any, draw: Any) -> Case:
        for _attempt in range(100):  # a filter (required non-zero state, big kernel) refused: draw again
            try:
                return draw()
            except Rejected:
                continue
        data.mark_invalid("no case satisfied the filters in 100 draws")
        raise AssertionError("unreachable")  # pragma: no cover - mark_invalid raises
