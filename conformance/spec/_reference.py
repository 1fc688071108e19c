"""The executable spec: TF ``LSTMCell`` semantics in float64 numpy.

Per step, with gate order i, j, f, o and ``m`` the output (the projected h)::

    z = concat([x_t, m_{t-1}]) @ kernel + bias          # [B, 4H]
    i, j, f, o = split(z, 4)
    i += w_i_diag * c_{t-1};  f += w_f_diag * c_{t-1}     # peepholes
    c_t = sigmoid(f + forget_bias) * c_{t-1} + sigmoid(i) * act(j)
    c_t = clip(c_t, -cell_clip, cell_clip)
    o += w_o_diag * c_t
    m_t = sigmoid(o) * act(c_t)
    m_t = clip(m_t @ proj_kernel, -proj_clip, proj_clip)  # projection

(docs/mapping.md lays out the same in other libraries' terms.)  This is what "correct"
means when the oracle and a candidate disagree with each other; it is checked against
the TF oracle by property tests over the whole option space (tests/test_oracle.py).

The spec is one loop with *knobs* (:class:`Semantics`).  The default knobs are
TF's semantics; every other setting is a convention some other LSTM (or a
mistaken port) uses, which is how conformance.diagnose._variants describes the variants
the diagnosis tries: a variant is a knob setting, never a second implementation.

Sequence lengths are applied after the loop (:func:`_apply_lengths`): up to a row's end the
masked recurrence is the unmasked one.  Shapes, as everywhere: inputs [B, T, I] (the spec reads
a time-major case's inputs as such), kernel [I + P, 4H] with column blocks
in gate order i, j, f, o, bias [4H], peepholes [H], proj_kernel [H, P];
outputs [B, T, P], final c [B, H], h [B, P].
"""

from __future__ import annotations

import numpy as np

from conformance.spec._case import Case, Result
from conformance.spec._config import LSTMConfig, rounded_to
from conformance.spec._params import InitialState, LSTMParams
from conformance.spec._semantics import FUNCTIONS, TF_SEMANTICS, TWICE, Semantics


def _in_dtype(value: float | None, cfg) -> float | None:
    return None if value is None else rounded_to(cfg.dtype, value)


def _kernel_as_used(kernel: np.ndarray, cfg: LSTMConfig, s: Semantics) -> np.ndarray:
    """The [I + P, 4H] matrix the knobs multiply ``concat`` by (``kernel`` itself for TF)."""
    I, H, P = cfg.input_size, cfg.num_units, cfg.output_size
    k = kernel
    if s.kernel_layout == "reshaped":
        k = k.reshape(4 * H, I + P).T
    elif s.kernel_layout == "gate_major":
        k = k.reshape(4, I + P, H).transpose(1, 0, 2).reshape(I + P, 4 * H)
    if s.column_layout == "interleaved":
        k = _blocked(k, H)
    if s.input_blocks_transposed or s.recurrent_blocks_transposed:
        k = k.copy()
        x_rows, h_rows = (slice(0, I), slice(I, I + P)) if s.concat == "xh" else (slice(P, P + I), slice(0, P))
        for g in range(4):
            cols = slice(g * H, (g + 1) * H)
            if s.input_blocks_transposed:
                k[x_rows, cols] = k[x_rows, cols].T.copy()
            if s.recurrent_blocks_transposed:
                k[h_rows, cols] = k[h_rows, cols].T.copy()
    return k


def _blocked(a: np.ndarray, H: int) -> np.ndarray:
    """Columns stored unit by unit (column 4u + g) rearranged into TF's four gate blocks (g * H + u)."""
    return a.reshape(a.shape[:-1] + (H, 4)).swapaxes(-1, -2).reshape(a.shape)


def _activation(name: str | None, default: str):
    if name == TWICE:
        act = FUNCTIONS[default]
        return lambda a: act(act(a))
    return FUNCTIONS[name or default]


def reference_trace(
    case: Case,
    noise: tuple[np.random.Generator, float] | None = None,
    *,
    semantics: Semantics | None = None,
    gate_rounding: bool = False,
) -> tuple[Result, np.ndarray]:
    """Run ``case`` in float64; return the Result and the first cell's state after every step [B, T, H].

    ``noise=(rng, u)`` multiplies every pre-activation and every new state (with
    ``gate_rounding``, the input and forget gates' values too) by ``1 + u * r`` with
    ``r`` uniform in [-1, 1]: a model of rounding to a dtype whose unit roundoff is
    ``u`` (used to measure how sensitive a case is).
    ``semantics`` (default: TF's) selects a convention variant; see :class:`Semantics`.
    A network of several cells (stacked, bidirectional) is composed in conformance.spec._network.
    """
    s = TF_SEMANTICS if semantics is None else semantics
    if not case.single_cell:
        from conformance.spec._network import network_trace

        return network_trace(case, s, noise, gate_rounding)
    x = case.batch_major_inputs.astype(np.float64)
    if s.layout == "swapped":  # rows read as steps and steps as rows (applicable() ensures B == T)
        x = x.transpose(1, 0, 2)
    lengths = None if case.sequence_length is None else case.lengths()
    outputs, cells, c, m = cell_trace(case.config, case.params, case.initial_state, x, lengths, s, noise,
                                      gate_rounding, swapped=s.layout == "swapped")
    if s.final_state == "hc":
        return Result(outputs=outputs, c=m, h=c), cells
    return Result(outputs=outputs, c=c, h=m), cells


def cell_trace(
    cfg: LSTMConfig,
    params: LSTMParams,
    state: InitialState,
    x: np.ndarray,
    lengths: np.ndarray | None,
    s: Semantics,
    noise: tuple[np.random.Generator, float] | None = None,
    gate_rounding: bool = False,
    *,
    swapped: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One cell over ``x`` [B, T, I] (float64) with row ``lengths`` (None: full length): outputs [B, T, P],
    the carried cell state per step [B, T, H], and the final c [B, H], m [B, P] (see reference_trace).
    ``swapped``: ``x`` is read with rows and steps swapped (the ``layout`` knob); the outputs are turned back."""

    def jitter(a: np.ndarray, magnitude=None) -> np.ndarray:
        # Rounding error of a sum is relative to the sum of its terms' magnitudes, not to the
        # result (cancellation): ``magnitude()`` gives that sum where it differs from |a|.
        if noise is None:
            return a
        rng, u = noise
        scale = np.abs(a) if magnitude is None else magnitude()
        return a + u * scale * rng.uniform(-1.0, 1.0, size=a.shape)

    def jitter_gate(a: np.ndarray) -> np.ndarray:
        return jitter(a) if gate_rounding else a

    p = {k: v.astype(np.float64) for k, v in params.arrays().items()}
    c = state.c.astype(np.float64)
    m = state.h.astype(np.float64)
    c_init, m_init = c, m
    if s.initial_state == "ignored":
        c, m = np.zeros_like(c), np.zeros_like(m)
    elif s.initial_state == "swapped":
        c, m = m, c
    kernel = _kernel_as_used(p["kernel"], cfg, s)
    bias = p["bias"] * s.bias_scale if s.bias_scale != 1.0 else p["bias"]
    if s.column_layout == "interleaved":
        bias = _blocked(bias, cfg.num_units)
    act_j = _activation(s.input_activation, cfg.activation)
    act_c = _activation(s.output_activation, cfg.activation)
    rec_i, rec_f, rec_o = (_activation(name, s.recurrent_activation) for name in
                           (s.input_gate_activation, s.forget_gate_activation, s.output_gate_activation))
    # TF converts the Python floats forget_bias/cell_clip/proj_clip to the cell's dtype.
    fb = rounded_to(cfg.dtype, cfg.forget_bias if s.forget_bias_value is None else s.forget_bias_value) * s.forget_bias_scale
    cell_clip = _in_dtype(cfg.cell_clip, cfg) if s.cell_clip != "ignored" else None
    proj_clip = _in_dtype(cfg.proj_clip, cfg) if s.proj_clip != "ignored" else None
    peep = cfg.use_peepholes and s.peepholes != "ignored"
    if peep:
        diag = dict(zip("ifo", (p[f"w_{g}_diag"] for g in s.peephole_order)))
    pre_clip = cell_clip if s.cell_clip == "preactivation" else None
    state_clip = cell_clip if s.cell_clip in ("state", "after_output", "output_only") else None
    hidden_clip = cell_clip if s.cell_clip == "hidden" else None
    if s.gate_clip_value is not None:
        pre_clip = s.gate_clip_value if pre_clip is None else min(pre_clip, s.gate_clip_value)

    def gate_input(a: np.ndarray) -> np.ndarray:
        return a if pre_clip is None else np.clip(a, -pre_clip, pre_clip)

    B, T, _ = x.shape
    H, P = cfg.num_units, cfg.output_size
    # The magnitudes a noisy run's sums are relative to (jitter): the weights' are the same every step.
    abs_kernel, abs_bias = (np.abs(kernel), np.abs(bias)) if noise is not None else (kernel, bias)
    abs_proj = np.abs(p["proj_kernel"]) if noise is not None and "proj_kernel" in p else None
    outputs = np.empty((B, T, P))
    cells = np.empty((B, T, H))
    for t in range(T):
        # What the step is fed (the knob's mistake is made where the state is read, the initial one included).
        if s.feedback == "c_as_h":
            m = c
        elif s.feedback == "h_as_c":
            c = m
        elif s.feedback == "swapped":
            c, m = m, c
        elif s.feedback == "no_h":
            m = np.zeros_like(m)
        elif s.feedback == "no_c":
            c = np.zeros_like(c)
        parts = [x[:, t], m] if s.concat == "xh" else [m, x[:, t]]
        xm = np.concatenate(parts, axis=1)
        z = jitter(xm @ kernel + bias, lambda xm=xm: np.abs(xm) @ abs_kernel + abs_bias)
        g = {name: z[:, k * H : (k + 1) * H] for k, name in enumerate(s.gate_order)}
        if s.bias_dropped_gate != "none":
            k = s.gate_order.index(s.bias_dropped_gate)
            g[s.bias_dropped_gate] = g[s.bias_dropped_gate] - bias[k * H : (k + 1) * H]
        if fb:
            for name in ("ijfo" if s.forget_bias_gate == "all" else s.forget_bias_gate):
                g[name] = g[name] + fb
        if s.forget_bias_offset:
            g["f"] = g["f"] + s.forget_bias_offset
        i, j, f, o = g["i"], g["j"], g["f"], g["o"]
        if peep and s.peepholes != "output_only":
            # "if_new_c": a two-pass port; i and f peek at the c_t a first pass computes without them.
            peek = (rec_f(gate_input(f)) * c + rec_i(gate_input(i)) * act_j(gate_input(j))
                    if s.peepholes == "if_new_c" else c)
            f = f + diag["f"] * peek
            i = i + diag["i"] * peek
        neg = s.negated_gate  # a sign error on the whole pre-activation, peephole included
        i, f = (-i if neg == "i" else i), (-f if neg == "f" else f)
        # A gate value's own rounding (relative u at ~1.0) dwarfs what its pre-activation's
        # rounding moves it near saturation, and a forget gate rounded the same way every step
        # moves c linearly in time (see Judge.rounded_gate_dtypes in conformance.judge for when).
        if s.coupled_forget_input:
            admit = jitter_gate(rec_i(gate_input(i)))
            forget = 1.0 - admit
        else:
            forget = jitter_gate(rec_f(gate_input(f)))
            admit = 1.0 - forget if s.coupled_input_forget else jitter_gate(rec_i(gate_input(i)))
        kept, added = forget * c, admit * act_j(gate_input(j))
        if neg == "j":  # the candidate subtracted: c_t = f * c - i * act(j)
            added = -added
        c_new = jitter(kept + added, lambda kept=kept, added=added: np.abs(kept) + np.abs(added))
        c_raw = c_out = c_new  # what the output sees
        if state_clip is not None:
            clipped = np.clip(c_new, -state_clip, state_clip)
            if s.cell_clip in ("state", "output_only"):
                c_out = clipped
            if s.cell_clip != "output_only":
                c_new = clipped
        if s.state_clip_value is not None:
            c_new = np.clip(c_new, -s.state_clip_value, s.state_clip_value)
            c_out = np.clip(c_out, -s.state_clip_value, s.state_clip_value)
        # The output peephole sees the new (clipped) cell state in TF.
        if peep and s.peepholes != "no_output":
            o = o + diag["o"] * (c if s.peepholes == "output_old_c" else c_raw if s.peepholes == "output_unclipped_c"
                                 else c_out)
        if neg == "o":
            o = -o
        if cfg.num_proj is not None and s.projection == "cell_state":
            m = c_out
        elif cfg.num_proj is not None and s.projection == "before_output_gate":
            m = jitter(rec_o(gate_input(o)) * jitter(act_c(c_out) @ p["proj_kernel"]))
        else:
            m = jitter(rec_o(gate_input(o)) * act_c(c_out))
        if hidden_clip is not None:
            m = np.clip(m, -hidden_clip, hidden_clip)
        if s.output_clip_value is not None:
            m = np.clip(m, -s.output_clip_value, s.output_clip_value)
        if cfg.num_proj is not None:
            if proj_clip is not None and s.proj_clip == "before":
                m = np.clip(m, -proj_clip, proj_clip)
            if s.projection != "before_output_gate":  # that one multiplied by proj_kernel already
                m_pre = m
                m = jitter(m_pre @ p["proj_kernel"], lambda m_pre=m_pre: np.abs(m_pre) @ abs_proj)
            if proj_clip is not None and s.proj_clip == "after":
                m = np.clip(m, -proj_clip, proj_clip)
        c = c_new
        outputs[:, t] = m
        cells[:, t] = c
    if swapped:
        outputs, cells = outputs.transpose(1, 0, 2), cells.transpose(1, 0, 2)
    if lengths is not None:
        return _apply_lengths(lengths, s, outputs, cells, c_init, m_init)
    return outputs, cells, c, m


def _apply_lengths(lengths: np.ndarray, s: Semantics, outputs: np.ndarray, cells: np.ndarray, c0: np.ndarray,
                   m0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``dynamic_rnn``'s ``sequence_length`` applied to a recurrence run over all T steps.

    Up to a row's end the masked recurrence and the unmasked one are the same computation, so
    masking afterwards is exact: the state of row b stops at step ``L[b] - 1`` (``c0``/``m0``,
    the state the recurrence started from, for an empty row).  Returns outputs [B, T, P],
    cells [B, T, H] (the carried state: frozen past the end unless ``final_state_step="end"``),
    and the final c [B, H], m [B, P].
    """
    B, T = outputs.shape[:2]
    if s.zero_length_as_one:
        lengths = np.maximum(lengths, 1)
    rows = np.arange(B)
    last = np.maximum(lengths - 1, 0)
    empty = lengths == 0
    if s.empty_row_state == "initial":
        c_empty, m_empty = c0, m0
    elif s.empty_row_state == "zeros":
        c_empty, m_empty = np.zeros_like(c0), np.zeros_like(m0)
    else:
        c_empty, m_empty = cells[:, -1], outputs[:, -1]
    c_len = np.where(empty[:, None], c_empty, cells[rows, last])
    m_len = np.where(empty[:, None], m_empty, outputs[rows, last])
    padded = np.arange(T)[None, :] >= lengths[:, None]  # [B, T]
    fill = {"zeros": np.zeros_like(m_len), "repeat_last": np.where(empty[:, None], 0.0, m_len), "initial_h": m0}
    new_outputs = outputs if s.padded_outputs == "computed" else np.where(
        padded[:, :, None], fill[s.padded_outputs][:, None, :], outputs)
    if s.final_state_step == "end":
        return new_outputs, cells, cells[:, -1], outputs[:, -1]
    return new_outputs, np.where(padded[:, :, None], c_len[:, None, :], cells), c_len, m_len


def reference(case: Case, *, semantics: Semantics | None = None) -> Result:
    """TF LSTMCell semantics in float64: outputs [B, T, P], final c [B, H], h [B, P]."""
    return reference_trace(case, semantics=semantics)[0]


def reference_noisy(
    case: Case, noise: tuple[np.random.Generator, float] | None, *, semantics: Semantics | None = None,
    gate_rounding: bool = False,
) -> Result:
    """:func:`reference`, optionally with rounding noise (see :func:`reference_trace`)."""
    return reference_trace(case, noise, semantics=semantics, gate_rounding=gate_rounding)[0]
