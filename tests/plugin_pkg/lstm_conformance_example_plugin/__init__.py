"""An example third-party candidate package (tests/test_plugin.py installs it).

Two entry points in group ``lstm_conformance.candidates``: a correct numpy LSTM and
one that forgets ``forget_bias``.  Declared through the optional ``@candidate``.
"""

import numpy as np

from conformance import candidate


def _run(case, forget_bias):
    """inputs [B, T, I]; kernel [I+P, 4H] in gate order i, j, f, o; zero-or-given initial (c, h)."""
    work = np.float64
    kernel, bias = case.params.kernel.astype(work), case.params.bias.astype(work)
    c, h = case.initial_state.c.astype(work), case.initial_state.h.astype(work)
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    outputs = []
    for t in range(case.time):
        z = np.concatenate([case.inputs[:, t].astype(work), h], axis=1) @ kernel + bias
        i, j, f, o = np.split(z, 4, axis=1)
        c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(j)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    npd = case.config.np_dtype
    return np.stack(outputs, axis=1).astype(npd), (c.astype(npd), h.astype(npd))


@candidate(features=["forget_bias", "initial_state"], dtypes=["float32", "float64"])
def plugin_lstm(case):
    """Example plugin: a correct float64 numpy LSTMCell."""
    return _run(case, case.config.forget_bias)


@candidate(features=["forget_bias"], dtypes=["float32", "float64"])
def plugin_lstm_no_forget_bias(case):
    """Example plugin: the forget_bias mistake."""
    return _run(case, 0.0)
