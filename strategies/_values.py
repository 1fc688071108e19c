"""The numbers of a case: parameters, inputs and initial states, drawn from a :class:`Chooser`.

Shapes: kernel [I + P, 4H] and bias [4H] in gate order i, j, f, o; peepholes [H]; projection [H, P];
inputs [B, T, I] (batch-major); initial state c [B, H], h [B, P].  An ordinary case's arrays are all
zeros, sparse or dense (strategies._draw.draw_array); a large case's (strategies._sizes) are drawn to
show what goes wrong at its size (the ``LARGE_*`` constants).
"""

from __future__ import annotations

import math

import numpy as np

from conformance.spec import InitialState, LSTMConfig, LSTMParams
from strategies._arrays import INPUT_SCALES, WEIGHT_SCALES
from strategies._draw import Chooser, draw_array, filtered

#: How much more often an array is dense than zeros or sparse (strategies._draw.draw_array).
DENSE_WEIGHT = 4
#: A large case's arrays (strategies._sizes).  A large case is drawn to reach a kernel's size-dependent path
#: (a remainder tile, a second thread's rows, the columns past a buffer, the steps past a ring's length), and
#: that path shows only where the arrays it reads are non-zero there and the outputs it reaches are judged:
#: * dense in LARGE_DENSE_WEIGHT draws of LARGE_DENSE_WEIGHT + 2 (a sparse array of a few entries almost
#:   never puts one in the part that goes wrong);
#: * the kernel's scales are those of a kernel of LARGE_FAN_IN rows (I + P), scaled by
#:   ``sqrt(LARGE_FAN_IN / (I + P))`` beyond (fan-in-scaled initialisations and trained models keep a
#:   gate's pre-activation in one range at any width; unscaled, a 1000-row kernel saturates every gate);
#: * each array's scale is one of the first LARGE_SCALES of its list (the moderate ones: the extremes,
#:   which ordinary cases draw, saturate the gates and make a long sequence's late steps ill-conditioned,
#:   so not judged, and a mistake there shows in no output that is).
LARGE_DENSE_WEIGHT, LARGE_FAN_IN, LARGE_SCALES = 14, 16, 3


def value_array(ch: Chooser, shape: tuple[int, ...], dtype: np.dtype, scales: tuple[float, ...] = WEIGHT_SCALES, *,
                max_entries: int = 3, allow_zeros: bool = True, large: bool = False, given: bool = False) -> np.ndarray:
    """An array (strategies._draw.draw_array); ``large``: a large case's (:data:`LARGE_DENSE_WEIGHT`,
    :data:`LARGE_SCALES` unless the scales are ``given`` by the user)."""
    if large:
        return draw_array(ch, shape, dtype, scales if given else scales[:LARGE_SCALES], 8.0, max_entries,
                          allow_zeros, LARGE_DENSE_WEIGHT)
    return draw_array(ch, shape, dtype, scales, 8.0, max_entries, allow_zeros, DENSE_WEIGHT)


def draw_params(ch: Chooser, config: LSTMConfig, weight_scales: tuple[float, ...] | None, *,
                large: bool = False) -> LSTMParams:
    """Kernel [I + P, 4H], bias [4H] (gate order i, j, f, o), peepholes [H] and projection [H, P] where the
    config has them; ``large``: a large case's (:data:`LARGE_FAN_IN`; ``weight_scales`` given by the user
    are used as given)."""
    I, H, P, npd = config.input_size, config.num_units, config.output_size, config.np_dtype
    if weight_scales is None:
        shrink = math.sqrt(LARGE_FAN_IN / (I + P)) if large and I + P > LARGE_FAN_IN else 1.0
        kernel = value_array(ch, (I + P, 4 * H), npd, tuple(s / 2 * shrink for s in WEIGHT_SCALES), large=large)
        bias = value_array(ch, (4 * H,), npd, large=large)
    else:
        smallest = min(weight_scales)
        kernel = filtered(ch, lambda: value_array(ch, (I + P, 4 * H), npd, weight_scales, allow_zeros=False,
                                                  large=large, given=True),
                          lambda a: float(np.max(np.abs(a.astype(np.float64)))) >= smallest)
        bias = value_array(ch, (4 * H,), npd, weight_scales, allow_zeros=False, large=large, given=True)
    diag = [value_array(ch, (H,), npd, large=large) if config.use_peepholes else None for _ in range(3)]
    proj_kernel = value_array(ch, (H, P), npd, large=large) if config.num_proj is not None else None
    return LSTMParams(kernel=kernel, bias=bias, w_i_diag=diag[0], w_f_diag=diag[1], w_o_diag=diag[2],
                      proj_kernel=proj_kernel)


def draw_inputs(ch: Chooser, config: LSTMConfig, batch: int, time: int, *, large: bool = False) -> np.ndarray:
    return value_array(ch, (batch, time, config.input_size), config.np_dtype, INPUT_SCALES, max_entries=4, large=large)


def draw_state(ch: Chooser, config: LSTMConfig, batch: int, *, large: bool = False) -> InitialState:
    npd = config.np_dtype
    return InitialState(c=value_array(ch, (batch, config.num_units), npd, (1.0, 0.5, 3.0), large=large),
                        h=value_array(ch, (batch, config.output_size), npd, (0.5, 1.0), large=large))
