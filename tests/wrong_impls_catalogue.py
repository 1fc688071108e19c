"""More deliberately wrong LSTM implementations: one per family of the grown catalogue, and mistakes outside it.

Written as a person porting TF's LSTMCell would get them wrong (subclasses of :class:`tests.wrong_impls.Cell`
overriding one piece, in float64 unless said), independently of the catalogue's knobs.  ``WRONG`` maps a
catalogue variant's name to (class, config/case changes that expose it), as tests/wrong_impls.py does;
``FITTED`` the variants whose fitted value the explanation must state; ``HINTED`` mistakes outside the
catalogue to the structural hint they must get; ``PRECISION`` right-but-narrower candidates.

Shapes: inputs [B, T, I]; kernel [I + P, 4H] in gate order i, j, f, o; bias [4H]; state (c [B, H], h [B, P]).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.wrong_impls import PEEPHOLES, Cell, ProjClipIgnored, _sigmoid


# ------------------------------------------------------------------ forget bias constants
class ForgetBiasHardcodedHalf(Cell):
    """A port that copied 0.5 from a paper's config instead of reading forget_bias."""

    def forget_bias(self):
        return 0.5


class LibraryAddsOneOnTopOfFoldedBias(Cell):
    """The converter folds forget_bias into bias[2H:3H]; the target library then adds its own +1 to f."""

    def bias(self):
        b = self.p["bias"].copy()
        b[2 * self.H : 3 * self.H] += self.cfg.forget_bias
        return b

    def forget_bias(self):
        return 1.0


# ------------------------------------------------------------------ hard-coded clips
class CellStateClippedAtHalf(Cell):
    """``c = np.clip(c, -0.5, 0.5)`` left in from a stability experiment."""

    def clip_cell(self, c):
        return np.clip(super().clip_cell(c), -0.5, 0.5)


class GatesClippedAtOne(Cell):
    """Clips every gate's input to [-1, 1] right before its activation (a converter's ONNX clip=1.0)."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        i, j, f = (np.clip(a, -1.0, 1.0) for a in (i + pi, j, f + self.forget_bias() + pf))
        c_new = self.clip_cell(_sigmoid(f) * c + _sigmoid(i) * self.act(j))
        o = np.clip(o + self.peep_o(c, c_new), -1.0, 1.0)
        return c_new, self.project(_sigmoid(o) * self.act(c_new))


class OutputClippedAtQuarter(Cell):
    """Clips h_t to [-0.25, 0.25] before the projection (a saturating fixed-point output stage)."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        forget = _sigmoid(f + self.forget_bias() + pf)
        c_new = self.clip_cell(forget * c + _sigmoid(i + pi) * self.act(j))
        m = np.clip(_sigmoid(o + self.peep_o(c, c_new)) * self.act(c_new), -0.25, 0.25)
        return c_new, self.project(m)


class CellClipOnlyForOutput(Cell):
    """Clips a copy of c for the output and carries the raw c."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        c_new = _sigmoid(f + self.forget_bias() + pf) * c + _sigmoid(i + pi) * self.act(j)
        shown = np.clip(c_new, -self.cfg.cell_clip, self.cfg.cell_clip)
        return c_new, self.project(_sigmoid(o + self.peep_o(c, shown)) * self.act(shown))


class CellClipAppliedToH(Cell):
    """Reads cell_clip as a bound on the hidden output."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        c_new = _sigmoid(f + self.forget_bias() + pf) * c + _sigmoid(i + pi) * self.act(j)
        m = np.clip(_sigmoid(o + self.peep_o(c, c_new)) * self.act(c_new), -self.cfg.cell_clip, self.cfg.cell_clip)
        return c_new, self.project(m)


# ------------------------------------------------------------------ state handling in the loop
class StateUnpackedAsHC(Cell):
    """``h, c = state`` on TF's (c, h) tuple inside the loop: each step reads the pair the wrong way round."""

    def step(self, x, c, h):
        return super().step(x, h, c)


class CellStateAsRecurrentInput(Cell):
    """Concatenates the cell state with x_t where h_{t-1} belongs."""

    def step(self, x, c, h):
        return super().step(x, c, c)


class HiddenNeverFedBack(Cell):
    """Passes a fresh zero h to every step (the returned h is right)."""

    def step(self, x, c, h):
        return super().step(x, c, np.zeros_like(h))


class CellStateNotCarried(Cell):
    """Starts every step from a zero cell state."""

    def step(self, x, c, h):
        return super().step(x, np.zeros_like(c), h)


# ------------------------------------------------------------------ activations
def gate_function_cell(gate: str, fn):
    """A cell computing one of the gates i, f, o with ``fn`` instead of the logistic sigmoid."""

    class WrongGateFunction(Cell):
        def step(self, x, c, h):
            i, j, f, o = self.split(self.preactivation(x, h))
            pi, pf = self.peep_if(c)
            i, f = i + pi, f + self.forget_bias() + pf
            gi = fn(i) if gate == "i" else _sigmoid(i)
            gf = fn(f) if gate == "f" else _sigmoid(f)
            c_new = self.clip_cell(gf * c + gi * self.act(j))
            o = o + self.peep_o(c, c_new)
            go = fn(o) if gate == "o" else _sigmoid(o)
            return c_new, self.project(go * self.act(c_new))

    WrongGateFunction.__name__ = f"Gate_{gate}_{getattr(fn, '__name__', 'fn')}"
    return WrongGateFunction


def _keras2_hard_sigmoid(a):
    return np.minimum(np.maximum(0.2 * a + 0.5, 0.0), 1.0)


def _no_activation(a):
    return a


class CellActivatedTwiceForOutput(Cell):
    """Stores tanh(c) as the cell state for the output and applies tanh again."""

    def act_out(self, a):
        return self.act(self.act(a))


class CandidateActivatedTwice(Cell):
    def act_in(self, a):
        return self.act(self.act(a))


class HardTanhOutput(Cell):
    def act_out(self, a):
        return np.minimum(np.maximum(a, -1.0), 1.0)


class HardTanhCandidate(Cell):
    def act_in(self, a):
        return np.minimum(np.maximum(a, -1.0), 1.0)


# ------------------------------------------------------------------ sign errors
class InputGateSignFlipped(Cell):
    def input_gate(self, i_pre, forget):
        return 1.0 - _sigmoid(i_pre)


class CandidateSubtracted(Cell):
    """``c = f * c - i * tanh(j)``."""

    def act_in(self, a):
        return -self.act(a)


class ForgetGateInverted(Cell):
    """Uses the forget gate as a 'remember less' gate: (1 - sigmoid(f)) * c."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        kept = (1.0 - _sigmoid(f + self.forget_bias() + pf)) * c
        c_new = self.clip_cell(kept + _sigmoid(i + pi) * self.act(j))
        return c_new, self.project(_sigmoid(o + self.peep_o(c, c_new)) * self.act(c_new))


class OutputGateInverted(Cell):
    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        c_new = self.clip_cell(_sigmoid(f + self.forget_bias() + pf) * c + _sigmoid(i + pi) * self.act(j))
        return c_new, self.project(_sigmoid(-(o + self.peep_o(c, c_new))) * self.act(c_new))


# ------------------------------------------------------------------ biases, layouts, coupling
def bias_block_dropped_cell(block: int):
    """A converter that copies only three of the four bias blocks."""

    class BiasBlockDropped(Cell):
        def bias(self):
            b = self.p["bias"].copy()
            b[block * self.H : (block + 1) * self.H] = 0.0
            return b

    return BiasBlockDropped


class KernelAsFourGateMatrices(Cell):
    """Reads the kernel buffer as W[gate][row][unit] (one matrix per gate, stacked)."""

    def kernel(self):
        rows = self.I + self.P
        per_gate = self.p["kernel"].ravel().reshape(4, rows, self.H)
        return np.concatenate([per_gate[g] for g in range(4)], axis=1)


class GatesInterleavedPerUnit(Cell):
    """Indexes column 4 * unit + gate (an interleaved, per-unit layout) for kernel and bias."""

    def _unit_major(self, a):
        return np.concatenate([a[..., g::4] for g in range(4)], axis=-1)

    def kernel(self):
        return self._unit_major(self.p["kernel"])

    def bias(self):
        return self._unit_major(self.p["bias"])


class ForgetFromInputGate(Cell):
    """ONNX input_forget=1 as written in its docs: f = 1 - i."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, _ = self.peep_if(c)
        gi = _sigmoid(i + pi)
        c_new = self.clip_cell((1.0 - gi) * c + gi * self.act(j))
        return c_new, self.project(_sigmoid(o + self.peep_o(c, c_new)) * self.act(c_new))


# ------------------------------------------------------------------ peepholes
class NoOutputPeephole(Cell):
    def peep_o(self, c_prev, c_new):
        return 0.0


class OnlyOutputPeephole(Cell):
    def peep_if(self, c_prev):
        return 0.0, 0.0


class OutputPeepholeBeforeClip(Cell):
    def output_cell(self, c_raw, c_clipped):
        return c_clipped

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        raw = _sigmoid(f + self.forget_bias() + pf) * c + _sigmoid(i + pi) * self.act(j)
        clipped = self.clip_cell(raw)
        m = _sigmoid(o + self.p["w_o_diag"] * raw) * self.act(clipped)
        return clipped, self.project(m)


_FB = {"forget_bias": 2.5}
WRONG: dict[str, tuple[type[Cell], dict[str, Any]]] = {
    "forget_bias_hardcoded": (ForgetBiasHardcodedHalf, _FB),
    "forget_bias_plus_constant": (LibraryAddsOneOnTopOfFoldedBias, _FB),
    "cell_state_clipped_constant": (CellStateClippedAtHalf, {}),
    "gate_preactivations_clipped_constant": (GatesClippedAtOne, {}),
    "output_clipped_constant": (OutputClippedAtQuarter, {}),
    "cell_clip_output_only": (CellClipOnlyForOutput, {"cell_clip": 0.3}),
    "cell_clip_on_hidden": (CellClipAppliedToH, {"cell_clip": 0.3}),
    "c_fed_back_as_h": (CellStateAsRecurrentInput, {}),
    "state_swapped_in_recurrence": (StateUnpackedAsHC, {}),
    "h_not_fed_back": (HiddenNeverFedBack, {}),
    "c_not_carried": (CellStateNotCarried, {}),
    "output_activation_twice": (CellActivatedTwiceForOutput, {}),
    "input_activation_twice": (CandidateActivatedTwice, {}),
    "output_activation_hard_tanh": (HardTanhOutput, {}),
    "input_activation_hard_tanh": (HardTanhCandidate, {}),
    "gate_negated_i": (InputGateSignFlipped, {}),
    "gate_negated_j": (CandidateSubtracted, {}),
    "gate_negated_f": (ForgetGateInverted, {}),
    "gate_negated_o": (OutputGateInverted, {}),
    "kernel_gate_major": (KernelAsFourGateMatrices, {}),
    "gate_columns_interleaved": (GatesInterleavedPerUnit, {}),
    "coupled_forget_input": (ForgetFromInputGate, {}),
    "peephole_output_missing": (NoOutputPeephole, PEEPHOLES),
    "peepholes_output_only": (OnlyOutputPeephole, PEEPHOLES),
    "peephole_output_unclipped_c": (OutputPeepholeBeforeClip, {**PEEPHOLES, "cell_clip": 0.3}),
}
for _k, _g in enumerate("ijfo"):
    WRONG[f"bias_missing_on_{_g}"] = (bias_block_dropped_cell(_k), {})
for _gate in "ifo":
    WRONG[f"{_gate}_gate_tanh" if _gate != "i" else "input_gate_tanh"] = (gate_function_cell(_gate, np.tanh), {})
    WRONG[f"{_gate}_gate_identity" if _gate != "i" else "input_gate_identity"] = (
        gate_function_cell(_gate, _no_activation), {})
    WRONG[f"{_gate}_gate_hard_sigmoid" if _gate != "i" else "input_gate_hard_sigmoid"] = (
        gate_function_cell(_gate, _keras2_hard_sigmoid), {})
for _old, _new in (("f_gate", "forget_gate"), ("o_gate", "output_gate")):
    for _fn in ("tanh", "identity", "hard_sigmoid"):
        WRONG[f"{_new}_{_fn}"] = WRONG.pop(f"{_old}_{_fn}")

#: Fitted variants: the fitted value their explanation must state.
FITTED = {
    "forget_bias_hardcoded": "a hard-coded 0.5",
    "forget_bias_plus_constant": "forget_bias +1 (",
    "cell_state_clipped_constant": "+-0.5 though",
    "gate_preactivations_clipped_constant": "+-1 (",
    "output_clipped_constant": "+-0.25 before",
}


# ------------------------------------------------------------------ outside the catalogue (structural hints)
class OutputsReversed(Cell):
    """Collects the step outputs by prepending (``outs.insert(0, h)``): they come out in reverse time order."""

    def laid_out(self, outputs):
        return super().laid_out(outputs[:, ::-1])


class RunsBackToFront(Cell):
    """Iterates ``for t in reversed(range(T))`` and writes outputs in the order computed."""

    def batch_major(self):
        return super().batch_major()[:, ::-1]


class OutputsOneStepLate(Cell):
    """Appends the output held *before* the step (the initial h first, the last step's output lost)."""

    def emit(self, t, active, h_new):
        if t == 0:
            self._held = self.case.initial_state.h.astype(np.float64)
        out, self._held = self._held, h_new
        return np.where(active[:, None], out, 0.0)


class RowsRolled(Cell):
    """Keeps h in a ring buffer indexed one row off: row b reads row b - 1's h (the same row when B == 1)."""

    def step(self, x, c, h):
        return super().step(x, c, np.roll(h, 1, axis=0))


class FinalStateOneStepEarly(Cell):
    """Returns the state saved at the top of the last iteration instead of after it."""

    def final(self, c, h):
        if len(self.history) < 2:
            return c, h
        return self.history[-2]


def _pade_tanh(a):
    return np.clip(a * (27.0 + a * a) / (27.0 + 9.0 * a * a), -1.0, 1.0)


class PadeTanh(Cell):
    """tanh replaced by the [3/2] Pade approximation x (27 + x^2) / (27 + 9 x^2), clipped to [-1, 1]."""

    def __init__(self, case):
        super().__init__(case)
        if self.cfg.activation == "tanh":
            self.act = _pade_tanh


class PadeSigmoid(Cell):
    """sigmoid computed as (1 + pade_tanh(x / 2)) / 2."""

    def gate(self, a):
        return 0.5 * (1.0 + _pade_tanh(0.5 * a))

    def input_gate(self, i_pre, forget):
        return self.gate(i_pre)


class ProjectedOutputSaturates(Cell):
    """A fixed-point output stage: the projected output saturates at +-0.2 (no proj_clip configured)."""

    def project(self, m):
        return np.clip(super().project(m), -0.2, 0.2)


def _reset_every_3():
    from tests.wrong_impls import reset_every_cell

    return reset_every_cell(3)


#: name -> (class, config/case changes, the structural hint it must get)
HINTED: dict[str, tuple[type[Cell], dict[str, Any], str]] = {
    "reset_every_3": (_reset_every_3(), {"time": 6}, "state_reset"),
    "outputs_reversed": (OutputsReversed, {}, "outputs_reversed"),
    "runs_back_to_front": (RunsBackToFront, {}, "inputs_reversed"),
    "outputs_one_step_late": (OutputsOneStepLate, {}, "outputs_shifted"),
    "rows_rolled": (RowsRolled, {"batch": 3}, "rows_leak"),
    "final_state_one_step_early": (FinalStateOneStepEarly, {}, "final_state_step"),
    "pade_tanh": (PadeTanh, {}, "approximated_activation"),
    "pade_sigmoid": (PadeSigmoid, {}, "approximated_activation"),
    "projected_output_saturates": (ProjectedOutputSaturates, {"num_proj": 2}, "saturation"),
}


# ------------------------------------------------------------------ right, but narrower arithmetic
class Float32Accumulation(Cell):
    """A float64 port whose matmul runs in float32 (weights cast once for speed)."""

    def preactivation(self, x, h):
        xh = np.concatenate([x, h], axis=1).astype(np.float32)
        return (xh @ self.kernel().astype(np.float32) + self.bias().astype(np.float32)).astype(np.float64)


class Float16Gates(Cell):
    """A float32 port that stores the gate values in float16 (a mixed-precision kernel)."""

    def gate(self, a):
        return _sigmoid(a).astype(np.float16).astype(np.float64)

    def input_gate(self, i_pre, forget):
        return self.gate(i_pre)


#: name -> (class, dtype of the run, the narrower dtype the diagnosis must name)
PRECISION: dict[str, tuple[type[Cell], str, str]] = {
    "float32_accumulation": (Float32Accumulation, "float64", "float32"),
    "float16_gates": (Float16Gates, "float32", "float16"),
}


# ------------------------------------------------------------------ standalone ports (no shared Cell)
# Each is written from scratch in the style of the library or tutorial it imitates, implementing
# forget_bias, a non-zero initial state and config.activation (what it declares), with one mistake.
_PORT_FEATURES = ("forget_bias", "initial_state", "activation")


def _port_inputs(case):
    cfg = case.config
    x = case.inputs.astype(np.float64)
    W = case.params.kernel.astype(np.float64)
    b = case.params.bias.astype(np.float64)
    acts = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda a: np.maximum(a, 0.0),
            "softsign": lambda a: a / (1.0 + np.abs(a))}
    return cfg, x, W, b, acts[cfg.activation]


def _port_return(case, outs, c, h):
    npd = case.config.np_dtype
    return np.stack(outs, axis=1).astype(npd), (c.astype(npd), h.astype(npd))


def torch_style_port(case):
    """W_ih / W_hh split from TF's kernel, gates chunked in PyTorch's order i, f, g, o."""
    cfg, x, W, b, act = _port_inputs(case)
    I = cfg.input_size
    w_ih, w_hh = W[:I].T, W[I:].T  # [4H, I], [4H, H]
    h = case.initial_state.h.astype(np.float64)
    c = case.initial_state.c.astype(np.float64)
    outs = []
    for t in range(x.shape[1]):
        gates = x[:, t] @ w_ih.T + h @ w_hh.T + b
        ingate, forgetgate, cellgate, outgate = np.split(gates, 4, axis=1)
        c = _sigmoid(forgetgate + cfg.forget_bias) * c + _sigmoid(ingate) * act(cellgate)
        h = _sigmoid(outgate) * act(c)
        outs.append(h)
    return _port_return(case, outs, c, h)


def keras2_style_port(case):
    """Keras 2's LSTMCell: kernel and recurrent_kernel, recurrent_activation left at hard_sigmoid."""
    cfg, x, W, b, act = _port_inputs(case)
    I, H = cfg.input_size, cfg.num_units
    kernel, recurrent = W[:I], W[I:]
    h_tm1, c_tm1 = case.initial_state.h.astype(np.float64), case.initial_state.c.astype(np.float64)
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h_tm1 @ recurrent + b
        z0, z1, z2, z3 = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        i = np.clip(0.2 * z0 + 0.5, 0.0, 1.0)
        f = np.clip(0.2 * (z2 + cfg.forget_bias) + 0.5, 0.0, 1.0)
        c_tm1 = f * c_tm1 + i * act(z1)
        o = np.clip(0.2 * z3 + 0.5, 0.0, 1.0)
        h_tm1 = o * act(c_tm1)
        outs.append(h_tm1)
    return _port_return(case, outs, c_tm1, h_tm1)


def c_style_port(case):
    """Scalar loops as in a C port, indexing the weights W[g * (I + P) + k] (the transposed layout)."""
    cfg, x, W, b, act = _port_inputs(case)
    B, T, I = x.shape
    H = cfg.num_units
    n_in = I + H
    flat = W.ravel()
    c = case.initial_state.c.astype(np.float64).copy()
    h = case.initial_state.h.astype(np.float64).copy()
    outs = []
    for t in range(T):
        xh = np.concatenate([x[:, t], h], axis=1)
        z = np.zeros((B, 4 * H))
        for g in range(4 * H):
            acc = np.full(B, b[g])
            for k in range(n_in):
                acc = acc + xh[:, k] * flat[g * n_in + k]
            z[:, g] = acc
        i, j, f, o = (z[:, k * H:(k + 1) * H] for k in range(4))
        c = _sigmoid(f + cfg.forget_bias) * c + _sigmoid(i) * act(j)
        h = _sigmoid(o) * act(c)
        outs.append(h)
    return _port_return(case, outs, c, h)


def onnx_style_port(case):
    """Weights exported to ONNX without reordering, the runtime reading them as i, o, f, c."""
    cfg, x, W, b, act = _port_inputs(case)
    H = cfg.num_units
    Ht, Ct = case.initial_state.h.astype(np.float64), case.initial_state.c.astype(np.float64)
    outs = []
    for t in range(x.shape[1]):
        gates = np.concatenate([x[:, t], Ht], axis=1) @ W + b
        it, ot, ft, ct = (gates[:, k * H:(k + 1) * H] for k in range(4))
        Ct = _sigmoid(ft + cfg.forget_bias) * Ct + _sigmoid(it) * act(ct)
        Ht = _sigmoid(ot) * act(Ct)
        outs.append(Ht)
    return _port_return(case, outs, Ct, Ht)


def tutorial_style_port(case):
    """A from-scratch tutorial LSTM: ``state.h = state.s * state.o`` (no activation of the cell state)."""
    cfg, x, W, b, act = _port_inputs(case)
    H = cfg.num_units
    s = case.initial_state.c.astype(np.float64)
    h = case.initial_state.h.astype(np.float64)
    outs = []
    for t in range(x.shape[1]):
        xc = np.hstack((x[:, t], h))
        a = xc @ W + b
        g, i, f, o = act(a[:, H:2 * H]), _sigmoid(a[:, :H]), _sigmoid(a[:, 2 * H:3 * H] + cfg.forget_bias), \
            _sigmoid(a[:, 3 * H:])
        s = g * i + s * f
        h = s * o
        outs.append(h)
    return _port_return(case, outs, s, h)


def state_tuple_port(case):
    """Unpacks TF's LSTMStateTuple (c, h) as Keras's [h, c] before the loop."""
    cfg, x, W, b, act = _port_inputs(case)
    h, c = case.initial_state.c.astype(np.float64), case.initial_state.h.astype(np.float64)
    outs = []
    for t in range(x.shape[1]):
        z = np.concatenate([x[:, t], h], axis=1) @ W + b
        i, j, f, o = np.split(z, 4, axis=1)
        c = _sigmoid(f + cfg.forget_bias) * c + _sigmoid(i) * act(j)
        h = _sigmoid(o) * act(c)
        outs.append(h)
    return _port_return(case, outs, c, h)


def two_bias_port(case):
    """Two Linear layers (input and recurrent), each given TF's bias."""
    cfg, x, W, b, act = _port_inputs(case)
    I = cfg.input_size
    c, h = case.initial_state.c.astype(np.float64), case.initial_state.h.astype(np.float64)
    outs = []
    for t in range(x.shape[1]):
        z = (x[:, t] @ W[:I] + b) + (h @ W[I:] + b)
        i, j, f, o = np.split(z, 4, axis=1)
        c = _sigmoid(f + cfg.forget_bias) * c + _sigmoid(i) * act(j)
        h = _sigmoid(o) * act(c)
        outs.append(h)
    return _port_return(case, outs, c, h)


def stable_port(case):
    """Clamps the cell state to [-1, 1] "for numerical stability"."""
    cfg, x, W, b, act = _port_inputs(case)
    c, h = case.initial_state.c.astype(np.float64), case.initial_state.h.astype(np.float64)
    outs = []
    for t in range(x.shape[1]):
        i, j, f, o = np.split(np.concatenate([x[:, t], h], axis=1) @ W + b, 4, axis=1)
        c = np.clip(_sigmoid(f + cfg.forget_bias) * c + _sigmoid(i) * act(j), -1.0, 1.0)
        h = _sigmoid(o) * act(c)
        outs.append(h)
    return _port_return(case, outs, c, h)


#: name -> (port function, the variant it must be diagnosed as, case changes that expose it)
STANDALONE: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "torch_style": (torch_style_port, "gate_order_ifjo", {}),
    "keras2_style": (keras2_style_port, "hard_sigmoid", {}),
    "c_style": (c_style_port, "kernel_reshaped", {}),
    "onnx_style": (onnx_style_port, "gate_order_iofj", {}),
    "tutorial_style": (tutorial_style_port, "output_activation_missing", {}),
    "state_tuple": (state_tuple_port, "initial_state_swapped", {}),
    "two_bias": (two_bias_port, "bias_twice", {}),
    "stable": (stable_port, "cell_state_clipped_constant", {"time": 8, "forget_bias": 2.5}),  # c must pass 1
}


def port_candidate(name: str):
    """The candidate (declaring forget_bias, initial_state, activation) of a :data:`STANDALONE` port."""
    from conformance import candidate

    fn = STANDALONE[name][0]
    return candidate(fn, name=name.replace("_", "-"), features=list(_PORT_FEATURES), dtypes=("float32", "float64"),
                     description=fn.__doc__ or name)


# ------------------------------------------------------------------ conventions added for issue 16's misses
class OutputReusedAsCellState(Cell):
    """Keeps a single state variable: the h it returns is what the next step also treats as its cell state."""

    def step(self, x, c, h):
        state = h  # "the state" of the previous step, used for both roles
        return super().step(x, state, state)


class ForgetPeepholeCopiedFromInput(Cell):
    """The forget gate's peephole line was copied from the input gate's and never edited."""

    def peep_if(self, c_prev):
        w = self.p["w_i_diag"]
        return w * c_prev, w * c_prev


class InputPeepholeUsesForgetWeights(Cell):
    """Both i and f peek through w_f_diag (w_i_diag is loaded but unused)."""

    def peep_if(self, c_prev):
        w = self.p["w_f_diag"]
        return w * c_prev, w * c_prev


class ProjectionInsideOutputGate(Cell):
    """Projects act(c_t) and only then gates it: h = sigmoid(o) * (tanh(c) @ W_proj) (works when P == H)."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        c_new = self.clip_cell(_sigmoid(f + self.forget_bias() + pf) * c + _sigmoid(i + pi) * self.act(j))
        squashed = self.act(c_new) @ self.p["proj_kernel"]
        m = _sigmoid(o + self.peep_o(c, c_new)) * squashed
        clip = self.cfg.proj_clip
        return c_new, m if clip is None else np.clip(m, -clip, clip)


class CellStateProjected(Cell):
    """Feeds the new cell state, not the gated output, to the projection layer."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        pi, pf = self.peep_if(c)
        c_new = self.clip_cell(_sigmoid(f + self.forget_bias() + pf) * c + _sigmoid(i + pi) * self.act(j))
        return c_new, self.project(c_new)


WRONG.update({
    "h_fed_back_as_c": (OutputReusedAsCellState, {}),
    "peephole_f_uses_w_i": (ForgetPeepholeCopiedFromInput, PEEPHOLES),
    "peephole_i_uses_w_f": (InputPeepholeUsesForgetWeights, PEEPHOLES),
    "projection_before_output_gate": (ProjectionInsideOutputGate, {"num_proj": 2}),
    "projection_of_cell_state": (CellStateProjected, {"num_proj": 3}),
})

#: Ties the evidence of a minimized case cannot break (the clip never bites on what the variant clips):
#: name -> (class, changes, the variant it must be diagnosed as, first).
TIED = {
    "clip_on_h_large_clip": (CellClipAppliedToH, {"cell_clip": 1.0, "forget_bias": 2.5, "time": 8},
                             "cell_clip_on_hidden"),
    "proj_clip_ignored_large_clip": (ProjClipIgnored, {"num_units": 4, "num_proj": 3, "proj_clip": 0.9, "time": 6},
                                     "proj_clip_ignored"),
}


class PeepholesReadUpdatedCell(Cell):
    """Updates the cell state first, then lets i and f peek at that updated value and updates it again."""

    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        fb = self.forget_bias()
        draft = _sigmoid(f + fb) * c + _sigmoid(i) * self.act(j)
        c_new = _sigmoid(f + fb + self.p["w_f_diag"] * draft) * c + _sigmoid(i + self.p["w_i_diag"] * draft) * self.act(j)
        c_new = self.clip_cell(c_new)
        return c_new, self.project(_sigmoid(o + self.peep_o(c, c_new)) * self.act(c_new))


WRONG["peepholes_if_new_c"] = (PeepholesReadUpdatedCell, PEEPHOLES)
