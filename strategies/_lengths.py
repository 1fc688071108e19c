"""Row lengths (``dynamic_rnn``'s ``sequence_length``) and the padding past them."""

from __future__ import annotations

import numpy as np

from strategies._draw import Chooser


def draw_padding(ch: Chooser, time: int, least: int) -> int:
    """Padded steps of one row (T - L), at least ``least``: shrinks toward ``least`` (full length
    when 0); otherwise as often an empty row, a one-step row or any length."""
    which = ch.integer(0, 7)
    if which <= 1:
        return least
    if which == 2:
        return time  # L = 0
    if which == 3:
        return max(time - 1, least)  # L = 1
    return ch.integer(least, time)


def draw_lengths(ch: Chooser, batch: int, time: int) -> np.ndarray:
    """Row lengths [B] that matter: ragged (shrinking toward full length), all equal, or every row
    shorter than T; each row's padding is full length, empty, one step or anything between."""
    mode = ch.integer(0, 3)  # 0-1 ragged, 2 all equal, 3 every row shorter than T
    if mode == 2:
        padding = [draw_padding(ch, time, 0)] * batch
    else:
        padding = [draw_padding(ch, time, 1 if mode == 3 else 0) for _ in range(batch)]
    return np.array([time - d for d in padding], dtype=np.int32)


def fill_padding(ch: Chooser, inputs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``inputs`` [B, T, I] with every padded step (t >= L[b]) holding noise: a candidate that reads
    the padding must show it."""
    padded = np.arange(inputs.shape[1])[None, :] >= lengths[:, None]
    count = int(padded.sum()) * inputs.shape[2]
    if not count:
        return inputs
    out = inputs.astype(np.float64)
    out[padded] = ch.normal(count).reshape(-1, inputs.shape[2])
    return out.astype(inputs.dtype)
