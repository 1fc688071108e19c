"""Hypothesis strategies for configs, parameters, sequences, initial states and whole cases.

Every strategy is narrowed by ``features``/``dtypes`` (what a candidate
declares; by default :data:`conformance.spec.DEFAULT_FEATURES`, the cell's options) and shrinks
toward the baseline: float32, tanh, forget_bias 1.0, no peepholes/clip/projection, zero initial
state, full-length batch-major rows, batch 1, time 1, size 1.
:func:`seeded_cases` draws batches of cases of the same distribution from one
seed each (fast, but only the seed is a choice; see strategies._draw).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies._internal.strategies import SearchStrategy

from conformance.spec import (
    ACTIVATIONS,
    DEFAULT_FEATURES,
    DTYPES,
    DTYPES_SIMPLEST_FIRST,
    FEATURES,
    Case,
    InitialState,
    LSTMConfig,
    LSTMLayer,
    LSTMParams,
    rounded_to,
    zero_state,
)
from strategies._checks import check_int, check_range, check_required, check_scales, check_subset
from strategies._draw import Chooser, DataChooser, filtered, one_of_values
from strategies._lengths import draw_lengths, fill_padding
from strategies._sizes import Tail, draw_large, network_fits
from strategies._topology import draw_topology
from strategies._values import draw_inputs, draw_params, draw_state

T = TypeVar("T")

_FORGET_BIASES = (0.0, -1.0, 2.0, 0.5, 5.0)
_CLIPS = (0.5, 1.0, 0.25, 2.0, 0.1)
#: Length of the occasional long sequence of :func:`cases` (the default of its ``long_times``).
_LONG_TIMES = st.integers(100, 160)


def _pick(ch: Chooser, values: Sequence[T]) -> T:
    """One of ``values``, shrinking toward the first (no choice at all for a single value)."""
    return values[0] if len(values) == 1 else values[ch.integer(0, len(values) - 1)]


def _positive_value(ch: Chooser, dtype: str) -> float:
    return max(rounded_to(dtype, one_of_values(ch, _CLIPS, 0.01, 8.0)), 2.0**-8)


@dataclasses.dataclass(frozen=True)
class _ConfigSpec:
    features: frozenset[str]
    dtypes: frozenset[str]
    activations: frozenset[str]
    min_units: int
    max_units: int
    min_input_size: int
    max_input_size: int
    min_proj: int
    max_proj: int
    require: frozenset[str] = frozenset()


def _draw_config(ch: Chooser, s: _ConfigSpec) -> LSTMConfig:
    def use(feature: str) -> bool:  # required features cost no choice, so they never shrink away
        return feature in s.require or (feature in s.features and ch.boolean())

    dtype = _pick(ch, [d for d in DTYPES_SIMPLEST_FIRST if d in s.dtypes])
    num_units = ch.integer(s.min_units, s.max_units)
    input_size = ch.integer(s.min_input_size, s.max_input_size)
    forget_bias = 1.0
    if use("forget_bias"):
        def value() -> float:
            return rounded_to(dtype, one_of_values(ch, _FORGET_BIASES, -6.0, 6.0))

        forget_bias = filtered(ch, value, lambda v: v != 1.0) if "forget_bias" in s.require else value()
    activation = "tanh"
    if "activation" in s.features:
        # In ACTIVATIONS order, not the set's: a set of strings iterates in a per-process hash
        # order, and the same --seed must draw the same cases in every process (and worker).
        others = tuple(a for a in ACTIVATIONS if a in s.activations and a != "tanh")
        activation = _pick(ch, others if "activation" in s.require else ("tanh",) + others)
    use_peepholes = use("peepholes")
    cell_clip = _positive_value(ch, dtype) if use("cell_clip") else None
    num_proj = proj_clip = None
    if use("projection") or "proj_clip" in s.require:
        num_proj = ch.integer(s.min_proj, s.max_proj)
        if use("proj_clip"):
            proj_clip = _positive_value(ch, dtype)
    time_major = use("time_major")
    return LSTMConfig(
        num_units=num_units, input_size=input_size, forget_bias=forget_bias, use_peepholes=use_peepholes,
        cell_clip=cell_clip, num_proj=num_proj, proj_clip=proj_clip, activation=activation, dtype=dtype,
        time_major=time_major,
    )


class _Drawn(SearchStrategy):
    """A strategy that runs ``draw(chooser)`` on Hypothesis' choices (see strategies._draw)."""

    def __init__(self, draw: Callable[[Chooser], Any], label: str):
        super().__init__()
        self._draw, self._label = draw, label

    def __repr__(self) -> str:
        return self._label

    def do_draw(self, data: Any) -> Any:
        return self._draw(DataChooser(data))


def configs(
    *,
    features: Collection[str] = DEFAULT_FEATURES,
    dtypes: Collection[str] = DTYPES,
    activations: Collection[str] = ACTIVATIONS,
    min_units: int = 1,
    max_units: int = 16,
    min_input_size: int = 1,
    max_input_size: int = 16,
    min_proj: int = 1,
    max_proj: int = 16,
    require: Collection[str] = (),
) -> st.SearchStrategy[LSTMConfig]:
    """LSTMConfigs using only ``features`` (of :data:`conformance.FEATURES`) and ``dtypes``.

    ``initial_state`` and ``sequence_length`` in ``features`` are accepted (they are properties of
    the case, see :func:`cases`); ``time_major`` draws configs with ``time_major=True`` too.
    ``require``: features (a subset of ``features``) every config uses, e.g. ``["peepholes"]``
    (``activation`` then means a non-tanh one, ``forget_bias`` one other than 1.0).
    """
    spec = _config_spec(features=features, dtypes=dtypes, activations=activations, min_units=min_units,
                        max_units=max_units, min_input_size=min_input_size, max_input_size=max_input_size,
                        min_proj=min_proj, max_proj=max_proj, require=require)
    return _Drawn(functools.partial(_draw_config, s=spec), f"configs({spec})")


def _config_spec(*, features, dtypes, activations=ACTIVATIONS, min_units=1, max_units, min_input_size=1,
                 max_input_size, min_proj=1, max_proj, require) -> _ConfigSpec:
    features = check_subset("features", features, FEATURES, allow_empty=True)
    require = check_required(require, features)
    dtypes = check_subset("dtypes", dtypes, DTYPES, allow_empty=False)
    activations = check_subset("activations", activations, ACTIVATIONS, allow_empty=False)
    min_units, max_units = check_range("units", min_units, max_units)
    min_input_size, max_input_size = check_range("input_size", min_input_size, max_input_size)
    min_proj, max_proj = check_range("proj", min_proj, max_proj)
    return _ConfigSpec(features, dtypes, activations, min_units, max_units, min_input_size, max_input_size,
                       min_proj, max_proj, require - {"initial_state", "sequence_length", "stacked", "bidirectional"})


def params(config: LSTMConfig, *, weight_scales: tuple[float, ...] | None = None) -> st.SearchStrategy[LSTMParams]:
    """Canonical parameters for ``config``: kernel [I+P, 4H] (gates i, j, f, o), bias [4H], peepholes, projection.

    ``weight_scales``: draw kernel and bias densely at these scales (e.g. ``(8.0, 20.0)``
    saturates the gates), and only kernels holding some entry of magnitude >= the
    smallest scale.  None: the usual mix of zero, sparse and dense arrays.
    """
    if not isinstance(config, LSTMConfig):
        raise InvalidArgument(f"config={config!r} must be an LSTMConfig")
    return _params(config, check_scales(weight_scales))


def _params(config: LSTMConfig, weight_scales: tuple[float, ...] | None) -> st.SearchStrategy[LSTMParams]:
    return _Drawn(functools.partial(draw_params, config=config, weight_scales=weight_scales),
                  f"params({config!r}, weight_scales={weight_scales!r})")


def input_sequences(config: LSTMConfig, batch: int, time: int) -> st.SearchStrategy[np.ndarray]:
    """Inputs [batch, time, input_size] in the config's dtype; scales reach saturation and float16's range."""
    return _Drawn(functools.partial(draw_inputs, config=config, batch=batch, time=time),
                  f"input_sequences({config!r}, {batch!r}, {time!r})")


def initial_states(config: LSTMConfig, batch: int, *, nonzero: bool = True) -> st.SearchStrategy[InitialState]:
    """``InitialState(c [B, H], h [B, P])``; all zeros unless ``nonzero``."""
    if not nonzero:
        return st.just(zero_state(config, batch))
    return _nonzero_states(config, batch)


def _nonzero_states(config: LSTMConfig, batch: int) -> st.SearchStrategy[InitialState]:
    return _Drawn(functools.partial(draw_state, config=config, batch=batch),
                  f"initial_states({config!r}, {batch!r})")


@dataclasses.dataclass(frozen=True)
class _CaseSpec:
    config: _ConfigSpec | None  # None: the config is drawn from ``configs_strategy``
    configs_strategy: st.SearchStrategy[LSTMConfig] | None
    initial_state: bool
    min_batch: int
    max_batch: int
    min_time: int
    max_time: int
    long_times: st.SearchStrategy[int] | tuple[int, int] | None
    require_state: bool = False
    weight_scales: tuple[float, ...] | None = None
    sequence_length: bool = False
    require_lengths: bool = False
    stacked: bool = False
    require_stacked: bool = False
    bidirectional: bool = False
    require_bidirectional: bool = False
    tail: Tail | None = None


def _draw_initial_state(ch: Chooser, s: _CaseSpec, config: LSTMConfig, batch: int, *,
                        large: bool = False) -> InitialState:
    """The first cell's initial state: non-zero where required, else drawn or zero (half and half) where the
    spec allows one, else zero."""
    if s.require_state:
        return filtered(ch, lambda: draw_state(ch, config, batch, large=large), lambda st_: not st_.is_zero())
    if s.initial_state and ch.boolean():
        return draw_state(ch, config, batch, large=large)
    return zero_state(config, batch)


def _draw_case(ch: Chooser, s: _CaseSpec) -> Case:
    config = _draw_config(ch, s.config) if s.config is not None else ch.strategy(s.configs_strategy)
    batch = ch.integer(s.min_batch, s.max_batch)
    tailed = s.tail is not None and s.config is not None
    every = s.tail.every if s.tail is not None and tailed else 1
    # One draw in eight is a long sequence; shrinking moves to the short branch.  With a tail the same
    # draw, scaled by ``every``, also says whether the case is large (which % every == every - 1): the
    # seeded RNG then draws exactly the same ordinary cases as without one (floor(8*every*r) // every
    # == floor(8*r)), and Hypothesis shrinks a large case toward an ordinary one.
    which = 0
    if s.long_times is not None:
        which = ch.integer(0, 8 * every - 1)
    elif tailed and every > 1:
        which = ch.integer(0, every - 1)
    if s.long_times is not None and which // every == 7:
        time = ch.integer(*s.long_times) if isinstance(s.long_times, tuple) else ch.strategy(s.long_times)
    else:
        time = ch.integer(s.min_time, s.max_time)
    large, network = tailed and which % every == every - 1, True
    if large:
        config, batch, time, network = _large(ch, s, config, batch, time)
    p = draw_params(ch, config, s.weight_scales, large=large)
    inputs = draw_inputs(ch, config, batch, time, large=large)  # [B, T, I]
    state = _draw_initial_state(ch, s, config, batch, large=large)
    lengths = None
    if s.require_lengths or (s.sequence_length and ch.boolean()):
        lengths = draw_lengths(ch, batch, time)
        inputs = fill_padding(ch, inputs, lengths)
    if config.time_major:
        inputs = np.ascontiguousarray(inputs.transpose(1, 0, 2))
    upper: tuple[LSTMLayer, ...] = ()
    backward: tuple[LSTMLayer, ...] = ()
    if s.stacked or s.bidirectional:
        if s.config is None:
            ch.reject()  # a network's further cells are drawn from a config spec, not a configs strategy
        upper, backward = draw_topology(
            ch, config, batch, config_spec=s.config, stacked=s.stacked and network, require_stacked=s.require_stacked,
            bidirectional=s.bidirectional and network, require_bidirectional=s.require_bidirectional,
            initial_state=s.initial_state, draw_config=_draw_config,
            draw_params=lambda ch_, cfg: draw_params(ch_, cfg, s.weight_scales, large=large),
            draw_state=functools.partial(draw_state, large=large))
    return Case(config, p, inputs, state, lengths, upper, backward)


def _large(ch: Chooser, s: _CaseSpec, config: LSTMConfig, batch: int,
           time: int) -> tuple[LSTMConfig, int, int, bool]:
    """The config, batch and time of a large case (strategies._sizes): one or two axes above their ordinary
    range; and whether it may be a network within the work cap (unless one is required)."""
    assert s.tail is not None and s.config is not None
    sizes = {"batch": batch, "time": time, "input": config.input_size, "units": config.num_units}
    ordinary = {"batch": s.max_batch, "time": s.max_time, "input": s.config.max_input_size, "units": s.config.max_units}
    minimum = {"batch": s.min_batch, "time": s.min_time, "input": s.config.min_input_size,
               "units": s.config.min_units}
    out = draw_large(ch, s.tail, sizes, ordinary, minimum)
    network = network_fits(s.tail, out, ordinary)
    return config.replace(num_units=out["units"], input_size=out["input"]), out["batch"], out["time"], network


def check_tail(tail: Tail | None) -> Tail | None:
    if tail is None:
        return None
    if not isinstance(tail, Tail):
        raise InvalidArgument(f"tail={tail!r} must be a strategies.Tail or None")
    for field in dataclasses.fields(Tail):
        check_int(f"tail.{field.name}", getattr(tail, field.name), minimum=1)
    return tail


def cases(
    *,
    configs: st.SearchStrategy[LSTMConfig] | None = None,
    features: Collection[str] = DEFAULT_FEATURES,
    dtypes: Collection[str] = DTYPES,
    min_batch: int = 1,
    max_batch: int = 4,
    min_time: int = 1,
    max_time: int = 24,
    long_times: st.SearchStrategy[int] | None = _LONG_TIMES,
    min_units: int = 1,
    max_units: int = 16,
    min_input_size: int = 1,
    max_input_size: int = 16,
    require: Collection[str] = (),
    weight_scales: tuple[float, ...] | None = None,
    tail: Tail | None = None,
) -> st.SearchStrategy[Case]:
    """Whole cases: a config (from ``configs``, else built from ``features``/``dtypes``), parameters,
    inputs [B, T, I] ([T, B, I] for a time-major config), an initial state (non-zero only if
    ``"initial_state" in features``) and row lengths (only if ``"sequence_length" in features``:
    ragged, equal, empty and one-step rows, with noise in every padded step).

    ``long_times`` (or None) gives the length of the occasional long sequence.
    ``require``: features every case exercises (see :func:`configs`; ``"initial_state"``
    makes every initial state non-zero).  ``weight_scales``: see :func:`params`.
    ``tail``: a :class:`strategies.Tail` makes one case in ``tail.every`` large (batch, time, units
    or input size above their ranges, up to the tail's reach; strategies._sizes); None: none is.
    """
    if configs is not None and not isinstance(configs, st.SearchStrategy):
        raise InvalidArgument(f"configs={configs!r} must be a strategy of LSTMConfig")
    if long_times is not None and not isinstance(long_times, st.SearchStrategy):
        raise InvalidArgument(f"long_times={long_times!r} must be a strategy of int or None")
    spec = _case_spec(configs=configs, features=features, dtypes=dtypes, min_batch=min_batch, max_batch=max_batch,
                      min_time=min_time, max_time=max_time, long_times=long_times, min_units=min_units,
                      max_units=max_units, min_input_size=min_input_size, max_input_size=max_input_size,
                      require=require, weight_scales=weight_scales, tail=tail)
    return _Drawn(functools.partial(_draw_case, s=spec), f"cases({spec})")


def _case_spec(*, configs, features, dtypes, min_batch, max_batch, min_time, max_time, long_times, min_units,
               max_units, min_input_size, max_input_size, require, weight_scales, tail=None) -> _CaseSpec:
    features = check_subset("features", features, FEATURES, allow_empty=True)
    require = check_required(require, features)
    weight_scales = check_scales(weight_scales)
    min_batch, max_batch = check_range("batch", min_batch, max_batch)
    min_time, max_time = check_range("time", min_time, max_time)
    config = None
    if configs is None:
        config = _config_spec(features=features, dtypes=dtypes, min_units=min_units, max_units=max_units,
                              min_input_size=min_input_size, max_input_size=max_input_size, max_proj=max_units,
                              require=require)
    return _CaseSpec(config, configs, "initial_state" in features, min_batch, max_batch, min_time, max_time,
                     long_times, "initial_state" in require, weight_scales, "sequence_length" in features,
                     "sequence_length" in require, "stacked" in features, "stacked" in require,
                     "bidirectional" in features, "bidirectional" in require, check_tail(tail))
