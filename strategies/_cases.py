"""Hypothesis strategies for configs, parameters, sequences, initial states and whole cases.

Every strategy is narrowed by ``features``/``dtypes`` (what a candidate
declares) and shrinks toward the baseline: float32, tanh, forget_bias 1.0, no
peepholes/clip/projection, zero initial state, batch 1, time 1, size 1.
"""

from __future__ import annotations

import functools
from typing import Collection

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conformance._spec import (
    ACTIVATIONS,
    DTYPES,
    FEATURES,
    Case,
    InitialState,
    LSTMConfig,
    LSTMParams,
    numpy_dtype,
)
from strategies._arrays import INPUT_SCALES, WEIGHT_SCALES, lstm_arrays

#: Shrink order of dtypes: float32 is the simplest to read.
_DTYPE_ORDER = ("float32", "float64", "float16", "bfloat16")
_FORGET_BIASES = (0.0, -1.0, 2.0, 0.5, 5.0)
_CLIPS = (0.5, 1.0, 0.25, 2.0, 0.1)


def _check_range(name: str, lo: int, hi: int, minimum: int = 1) -> None:
    for label, v in ((f"min_{name}", lo), (f"max_{name}", hi)):
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise InvalidArgument(f"{label}={v!r} must be an integer >= {minimum}")
    if lo > hi:
        raise InvalidArgument(f"min_{name}={lo!r} must be <= max_{name}={hi!r}")


def _check_subset(name: str, values: Collection[str], known: tuple[str, ...], allow_empty: bool) -> frozenset[str]:
    if isinstance(values, str):
        raise InvalidArgument(f"{name}={values!r} must be a collection of names, not a string")
    bad = sorted(set(values) - set(known))
    if bad:
        raise InvalidArgument(f"{name}={sorted(values)!r} has unknown {bad}; known: {', '.join(known)}")
    if not values and not allow_empty:
        raise InvalidArgument(f"{name}=[] must name at least one of {', '.join(known)}")
    return frozenset(values)


def _round_to(dtype: str, value: float) -> float:
    return float(np.asarray(value, dtype=numpy_dtype(dtype)).astype(np.float64))


@functools.lru_cache(maxsize=None)  # one strategy object per dtype: building one per draw is slow
def _positive_values(dtype: str) -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(_CLIPS), st.floats(0.01, 8.0)).map(lambda v: max(_round_to(dtype, v), 2.0**-8))


@st.composite
def _configs(draw, features, dtypes, activations, min_units, max_units, min_input_size, max_input_size,
             min_proj, max_proj, require=frozenset()):
    def use(feature: str) -> bool:  # required features cost no choice, so they never shrink away
        return feature in require or (feature in features and draw(st.booleans()))

    dtype = draw(st.sampled_from([d for d in _DTYPE_ORDER if d in dtypes]))
    num_units = draw(st.integers(min_units, max_units))
    input_size = draw(st.integers(min_input_size, max_input_size))
    forget_bias = 1.0
    if use("forget_bias"):
        values = st.one_of(st.sampled_from(_FORGET_BIASES), st.floats(-6.0, 6.0)).map(lambda v: _round_to(dtype, v))
        forget_bias = draw(values.filter(lambda v: v != 1.0) if "forget_bias" in require else values)
    activation = "tanh"
    if "activation" in features:
        # In ACTIVATIONS order, not the set's: a set of strings iterates in a per-process hash
        # order, and the same --seed must draw the same cases in every process (and worker).
        others = tuple(a for a in ACTIVATIONS if a in activations and a != "tanh")
        activation = draw(st.sampled_from(others if "activation" in require else ("tanh",) + others))
    use_peepholes = use("peepholes")
    cell_clip = None
    if use("cell_clip"):
        cell_clip = draw(_positive_values(dtype))
    num_proj = proj_clip = None
    if use("projection") or "proj_clip" in require:
        num_proj = draw(st.integers(min_proj, max_proj))
        if use("proj_clip"):
            proj_clip = draw(_positive_values(dtype))
    return LSTMConfig(
        num_units=num_units, input_size=input_size, forget_bias=forget_bias, use_peepholes=use_peepholes,
        cell_clip=cell_clip, num_proj=num_proj, proj_clip=proj_clip, activation=activation, dtype=dtype,
    )


def configs(
    *,
    features: Collection[str] = FEATURES,
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

    ``initial_state`` in ``features`` is accepted (it is a property of the case, see :func:`cases`).
    ``require``: features (a subset of ``features``) every config uses, e.g. ``["peepholes"]``
    (``activation`` then means a non-tanh one, ``forget_bias`` one other than 1.0).
    """
    features = _check_subset("features", features, FEATURES, allow_empty=True)
    require = _check_required(require, features)
    dtypes = _check_subset("dtypes", dtypes, DTYPES, allow_empty=False)
    activations = _check_subset("activations", activations, ACTIVATIONS, allow_empty=False)
    _check_range("units", min_units, max_units)
    _check_range("input_size", min_input_size, max_input_size)
    _check_range("proj", min_proj, max_proj)
    return _configs(features, dtypes, activations, min_units, max_units, min_input_size, max_input_size,
                    min_proj, max_proj, require - {"initial_state"})


def _check_required(require: Collection[str], features: frozenset[str]) -> frozenset[str]:
    require = _check_subset("require", require, FEATURES, allow_empty=True)
    if not require <= features:
        raise InvalidArgument(f"require={sorted(require)!r} names {sorted(require - features)} outside "
                              f"features={sorted(features)!r}")
    if "proj_clip" in require and "projection" not in features:
        raise InvalidArgument("require=['proj_clip'] needs 'projection' in features")
    return require


def _check_scales(weight_scales: tuple[float, ...] | None) -> tuple[float, ...] | None:
    if weight_scales is None:
        return None
    scales = tuple(weight_scales)
    if not scales or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
                             for v in scales):
        raise InvalidArgument(f"weight_scales={weight_scales!r} must be a non-empty tuple of finite numbers > 0")
    return tuple(float(v) for v in scales)


def params(config: LSTMConfig, *, weight_scales: tuple[float, ...] | None = None) -> st.SearchStrategy[LSTMParams]:
    """Canonical parameters for ``config``: kernel [I+P, 4H] (gates i, j, f, o), bias [4H], peepholes, projection.

    ``weight_scales``: draw kernel and bias densely at these scales (e.g. ``(8.0, 20.0)``
    saturates the gates), and only kernels holding some entry of magnitude >= the
    smallest scale.  None: the usual mix of zero, sparse and dense arrays.
    """
    if not isinstance(config, LSTMConfig):
        raise InvalidArgument(f"config={config!r} must be an LSTMConfig")
    return _params(config, _check_scales(weight_scales))


@functools.lru_cache(maxsize=4096)  # one strategy object per config: building one per draw is slow
def _params(config: LSTMConfig, weight_scales: tuple[float, ...] | None) -> st.SearchStrategy[LSTMParams]:
    I, H, P, npd = config.input_size, config.num_units, config.output_size, config.np_dtype

    def diag() -> st.SearchStrategy[np.ndarray | None]:
        return lstm_arrays((H,), npd) if config.use_peepholes else st.none()

    kernel = lstm_arrays((I + P, 4 * H), npd, scales=tuple(s / 2 for s in WEIGHT_SCALES))
    bias = lstm_arrays((4 * H,), npd)
    if weight_scales is not None:
        smallest = min(weight_scales)
        kernel = lstm_arrays((I + P, 4 * H), npd, scales=weight_scales, allow_zeros=False).filter(
            lambda a: float(np.max(np.abs(a.astype(np.float64)))) >= smallest)
        bias = lstm_arrays((4 * H,), npd, scales=weight_scales, allow_zeros=False)
    return st.builds(
        LSTMParams,
        kernel=kernel,
        bias=bias,
        w_i_diag=diag(),
        w_f_diag=diag(),
        w_o_diag=diag(),
        proj_kernel=lstm_arrays((H, P), npd) if config.num_proj is not None else st.none(),
    )


def input_sequences(config: LSTMConfig, batch: int, time: int) -> st.SearchStrategy[np.ndarray]:
    """Inputs [batch, time, input_size] in the config's dtype; scales reach saturation and float16's range."""
    return lstm_arrays((batch, time, config.input_size), config.np_dtype, scales=INPUT_SCALES, max_entries=4)


def initial_states(config: LSTMConfig, batch: int, *, nonzero: bool = True) -> st.SearchStrategy[InitialState]:
    """``InitialState(c [B, H], h [B, P])``; all zeros unless ``nonzero``."""
    npd = config.np_dtype
    if not nonzero:
        return st.just(InitialState(np.zeros((batch, config.num_units), npd), np.zeros((batch, config.output_size), npd)))
    return _nonzero_states(config, batch)


@functools.lru_cache(maxsize=4096)  # one strategy object per (config, batch): building one per draw is slow
def _nonzero_states(config: LSTMConfig, batch: int) -> st.SearchStrategy[InitialState]:
    npd = config.np_dtype
    return st.builds(InitialState, c=lstm_arrays((batch, config.num_units), npd, scales=(1.0, 0.5, 3.0)),
                     h=lstm_arrays((batch, config.output_size), npd, scales=(0.5, 1.0)))


_configs_strategy = configs  # `cases` has an argument named `configs`


@st.composite
def _cases(draw, configs_strategy, initial_state, min_batch, max_batch, min_time, max_time, long_times,
           require_state=False, weight_scales=None):
    config = draw(configs_strategy)
    batch = draw(st.integers(min_batch, max_batch))
    # One draw in eight is a long sequence; shrinking moves to the short branch.
    if long_times is not None and draw(st.integers(0, 7)) == 7:
        time = draw(long_times)
    else:
        time = draw(st.integers(min_time, max_time))
    p = draw(params(config, weight_scales=weight_scales))
    inputs = draw(input_sequences(config, batch, time))
    if require_state:
        state = draw(initial_states(config, batch).filter(lambda s: not s.is_zero()))
    else:
        state = draw(initial_states(config, batch, nonzero=initial_state and draw(st.booleans())))
    return Case(config, p, inputs, state)


def cases(
    *,
    configs: st.SearchStrategy[LSTMConfig] | None = None,
    features: Collection[str] = FEATURES,
    dtypes: Collection[str] = DTYPES,
    min_batch: int = 1,
    max_batch: int = 4,
    min_time: int = 1,
    max_time: int = 24,
    long_times: st.SearchStrategy[int] | None = st.integers(100, 160),
    max_units: int = 16,
    max_input_size: int = 16,
    require: Collection[str] = (),
    weight_scales: tuple[float, ...] | None = None,
) -> st.SearchStrategy[Case]:
    """Whole cases: a config (from ``configs``, else built from ``features``/``dtypes``), parameters,
    inputs [B, T, I] and an initial state (non-zero only if ``"initial_state" in features``).

    ``long_times`` (or None) gives the length of the occasional long sequence.
    ``require``: features every case exercises (see :func:`configs`; ``"initial_state"``
    makes every initial state non-zero).  ``weight_scales``: see :func:`params`.
    """
    features = _check_subset("features", features, FEATURES, allow_empty=True)
    require = _check_required(require, features)
    weight_scales = _check_scales(weight_scales)
    _check_range("batch", min_batch, max_batch)
    _check_range("time", min_time, max_time)
    if configs is None:
        configs = _configs_strategy(features=features, dtypes=dtypes, max_units=max_units,
                                       max_input_size=max_input_size, max_proj=max_units, require=require)
    elif not isinstance(configs, st.SearchStrategy):
        raise InvalidArgument(f"configs={configs!r} must be a strategy of LSTMConfig")
    if long_times is not None and not isinstance(long_times, st.SearchStrategy):
        raise InvalidArgument(f"long_times={long_times!r} must be a strategy of int or None")
    return _cases(configs, "initial_state" in features, min_batch, max_batch, min_time, max_time, long_times,
                  "initial_state" in require, weight_scales)
