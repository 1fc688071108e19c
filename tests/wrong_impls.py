"""Deliberately wrong LSTM implementations, hand-written for the diagnosis tests.

These are written independently of conformance.spec._reference/_variants (a test that
generated them from the variant knobs would be circular): :class:`Cell` is TF's
LSTMCell spelled out plainly, one method per piece of the computation, and each
wrong implementation is a subclass that gets exactly one piece wrong the way a
real port does.  ``WRONG`` maps each catalogue variant's name to the wrong
implementation it should be diagnosed as, and to the config that exposes it.

Shapes: inputs [B, T, I] ([T, B, I] time-major); kernel [I + P, 4H] in gate order i, j, f, o;
bias [4H]; outputs [B, T, P] ([T, B, P] time-major); returned state (c [B, H], h [B, P]).
:class:`Cell` runs the sequence as ``dynamic_rnn`` does (row b's outputs are zeros at t >= L[b],
its state stops after step L[b] - 1); the sequence variants' classes get one piece of that wrong.
:class:`Network` composes Cells into stacked and bidirectional networks as TF's ``MultiRNNCell`` and
``(stack_)bidirectional_dynamic_rnn`` do; the network variants' classes get one piece of the composition wrong.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance import DEFAULT_FEATURES, candidate


def _sigmoid(a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-a))


_ACTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda a: np.maximum(a, 0.0),
    "softsign": lambda a: a / (1.0 + np.abs(a)),
}


class Cell:
    """TF's LSTMCell under dynamic_rnn, computed in float64, returned in the case's dtype."""

    #: The features the candidate built from this class declares (see :func:`as_candidate`).
    features: tuple[str, ...] = DEFAULT_FEATURES

    def __init__(self, case):
        self.case = case
        self.cfg = case.config
        self.H, self.I, self.P = self.cfg.num_units, self.cfg.input_size, self.cfg.output_size
        self.p = {k: v.astype(np.float64) for k, v in case.params.arrays().items()}
        self.act = _ACTS[self.cfg.activation]

    # --- the pieces ------------------------------------------------------------------
    def initial(self):
        return self.case.initial_state.c.astype(np.float64), self.case.initial_state.h.astype(np.float64)

    def kernel(self):
        return self.p["kernel"]

    def bias(self):
        return self.p["bias"]

    def preactivation(self, x, h):
        return np.concatenate([x, h], axis=1) @ self.kernel() + self.bias()

    def split(self, z):
        H = self.H
        return z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]  # i, j, f, o

    def forget_bias(self):
        return self.cfg.forget_bias

    def gate(self, a):
        return _sigmoid(a)

    def act_in(self, a):
        return self.act(a)

    def act_out(self, a):
        return self.act(a)

    def peep_if(self, c_prev):
        if not self.cfg.use_peepholes:
            return 0.0, 0.0
        return self.p["w_i_diag"] * c_prev, self.p["w_f_diag"] * c_prev

    def peep_o(self, c_prev, c_new):
        return self.p["w_o_diag"] * c_new if self.cfg.use_peepholes else 0.0

    def input_gate(self, i_pre, forget):
        return self.gate(i_pre)

    def clip_cell(self, c):
        clip = self.cfg.cell_clip
        return c if clip is None else np.clip(c, -clip, clip)

    def output_cell(self, c_raw, c_clipped):
        return c_clipped

    def project(self, m):
        if self.cfg.num_proj is None:
            return m
        m = m @ self.p["proj_kernel"]
        clip = self.cfg.proj_clip
        return m if clip is None else np.clip(m, -clip, clip)

    def before_step(self, t, c, h):
        return c, h

    def final(self, c, h):
        return c, h

    # --- the sequence: layout and row lengths (dynamic_rnn) -------------------------
    def batch_major(self):
        """The inputs as [B, T, I] (a time-major case's [T, B, I] transposed)."""
        x = self.case.inputs.astype(np.float64)
        return x.transpose(1, 0, 2) if self.cfg.time_major else x

    def laid_out(self, outputs):
        """Outputs [B, T, P] in the case's layout ([T, B, P] when time-major)."""
        return outputs.transpose(1, 0, 2) if self.cfg.time_major else outputs

    def lengths(self):
        """Row lengths [B], or None (every row runs all T steps)."""
        return None if self.case.sequence_length is None else np.asarray(self.case.sequence_length, np.int64)

    def carry(self, active, c_prev, h_prev, c_new, h_new):
        """The state carried to the next step: a finished row keeps its state."""
        return np.where(active[:, None], c_new, c_prev), np.where(active[:, None], h_new, h_prev)

    def emit(self, t, active, h_new):
        """outputs[:, t]: zeros past a row's end."""
        return np.where(active[:, None], h_new, 0.0)

    # --- the loop --------------------------------------------------------------------
    def step(self, x, c, h):
        i, j, f, o = self.split(self.preactivation(x, h))
        f = f + self.forget_bias()
        pi, pf = self.peep_if(c)
        forget = self.gate(f + pf)
        raw = forget * c + self.input_gate(i + pi, forget) * self.act_in(j)
        clipped = self.clip_cell(raw)
        seen = self.output_cell(raw, clipped)
        m = self.gate(o + self.peep_o(c, seen)) * self.act_out(seen)
        return clipped, self.project(m)

    def run(self):
        c, h = self.initial()
        x = self.batch_major()
        rows, steps = x.shape[0], x.shape[1]
        lengths = self.lengths()
        if lengths is None:
            lengths = np.full(rows, steps)
        self.history = []  # the carried (c, h) after every step
        outputs = []
        for t in range(steps):
            c, h = self.before_step(t, c, h)
            c_new, h_new = self.step(x[:, t], c, h)
            active = t < lengths
            outputs.append(self.emit(t, active, h_new))
            c, h = self.carry(active, c, h, c_new, h_new)
            self.history.append((c, h))
        npd = self.cfg.np_dtype
        first, second = self.final(c, h)
        outputs = self.laid_out(np.stack(outputs, axis=1))
        return outputs.astype(npd), (first.astype(npd), second.astype(npd))


# ------------------------------------------------------------------ forget bias
class ForgetBiasMissing(Cell):
    def forget_bias(self):
        return 0.0


class ForgetBiasDoubled(Cell):
    def bias(self):  # folded into the forget block ...
        b = self.p["bias"].copy()
        b[2 * self.H : 3 * self.H] += self.cfg.forget_bias
        return b  # ... and still added at run time by Cell.step


class ForgetBiasAllGates(Cell):
    def bias(self):
        return self.p["bias"] + self.cfg.forget_bias

    def forget_bias(self):
        return 0.0


def _forget_bias_on(block: int):
    class ForgetBiasOnBlock(Cell):
        def bias(self):
            b = self.p["bias"].copy()
            b[block * self.H : (block + 1) * self.H] += self.cfg.forget_bias
            return b

        def forget_bias(self):
            return 0.0

    return ForgetBiasOnBlock


class ForgetBiasFixedOne(Cell):
    def forget_bias(self):
        return 1.0


# ------------------------------------------------------------------ gate order (one parametrized impl)
def gate_order_cell(order: str):
    """Reads column block k as gate ``order[k]`` (e.g. "ifjo": Keras/PyTorch order)."""

    class GateOrder(Cell):
        def split(self, z):
            H = self.H
            blocks = {order[k]: z[:, k * H : (k + 1) * H] for k in range(4)}
            return blocks["i"], blocks["j"], blocks["f"], blocks["o"]

    return GateOrder


# ------------------------------------------------------------------ weights and bias
class ConcatHX(Cell):
    def preactivation(self, x, h):
        return np.concatenate([h, x], axis=1) @ self.kernel() + self.bias()


class KernelReshaped(Cell):
    def kernel(self):
        # A C port indexing W[gate * (I + P) + k] into TF's row-major [I + P, 4H] buffer.
        flat = self.p["kernel"].ravel()
        rows, cols = self.I + self.P, 4 * self.H
        w = np.empty((rows, cols))
        for k in range(rows):
            for g in range(cols):
                w[k, g] = flat[g * rows + k]
        return w


class InputKernelTransposed(Cell):
    def kernel(self):
        w = self.p["kernel"].copy()
        H, I = self.H, self.I
        for g in range(4):
            w[:I, g * H : (g + 1) * H] = self.p["kernel"][:I, g * H : (g + 1) * H].T
        return w


class RecurrentKernelTransposed(Cell):
    def kernel(self):
        w = self.p["kernel"].copy()
        H, I = self.H, self.I
        for g in range(4):
            w[I:, g * H : (g + 1) * H] = self.p["kernel"][I:, g * H : (g + 1) * H].T
        return w


class BiasTwice(Cell):
    def preactivation(self, x, h):
        return super().preactivation(x, h) + self.bias()


class BiasMissing(Cell):
    def bias(self):
        return 0.0


# ------------------------------------------------------------------ activations
class HardSigmoidKeras2(Cell):
    def gate(self, a):
        return np.minimum(np.maximum(0.2 * a + 0.5, 0.0), 1.0)


class HardSigmoidKeras3(Cell):
    def gate(self, a):
        return np.minimum(np.maximum(a + 3.0, 0.0), 6.0) / 6.0


class ActivationIgnored(Cell):
    def act_in(self, a):
        return np.tanh(a)

    def act_out(self, a):
        return np.tanh(a)


class InputActivationMissing(Cell):
    def act_in(self, a):
        return a


class OutputActivationMissing(Cell):
    def act_out(self, a):
        return a


def input_activation_cell(name: str):
    class InputActivation(Cell):
        def act_in(self, a):
            return _ACTS[name](a)

    return InputActivation


def output_activation_cell(name: str):
    class OutputActivation(Cell):
        def act_out(self, a):
            return _ACTS[name](a)

    return OutputActivation


class CoupledInputForget(Cell):
    def input_gate(self, i_pre, forget):
        return 1.0 - forget


# ------------------------------------------------------------------ peepholes
class PeepholesIgnored(Cell):
    def peep_if(self, c_prev):
        return 0.0, 0.0

    def peep_o(self, c_prev, c_new):
        return 0.0


class PeepholeOutputOldC(Cell):
    def peep_o(self, c_prev, c_new):
        return self.p["w_o_diag"] * c_prev


def peephole_weights_cell(for_i: str, for_f: str, for_o: str):
    """Uses diagonal ``w_{for_i}_diag`` on the input gate, and so on."""

    class PeepholeWeights(Cell):
        def peep_if(self, c_prev):
            return self.p[f"w_{for_i}_diag"] * c_prev, self.p[f"w_{for_f}_diag"] * c_prev

        def peep_o(self, c_prev, c_new):
            return self.p[f"w_{for_o}_diag"] * c_new

    return PeepholeWeights


# ------------------------------------------------------------------ clipping
class CellClipIgnored(Cell):
    def clip_cell(self, c):
        return c


class CellClipPreactivation(Cell):
    """ONNX Runtime's `clip`: every gate's input is clipped, the cell state never."""

    def _clip(self, a):
        return np.clip(a, -self.cfg.cell_clip, self.cfg.cell_clip)

    def gate(self, a):
        return _sigmoid(self._clip(a))

    def act_in(self, a):
        return self.act(self._clip(a))

    def clip_cell(self, c):
        return c


class CellClipAfterOutput(Cell):
    def output_cell(self, c_raw, c_clipped):
        return c_raw


class ProjClipBeforeProjection(Cell):
    def project(self, m):
        clip = self.cfg.proj_clip
        return np.clip(m, -clip, clip) @ self.p["proj_kernel"]


class ProjClipIgnored(Cell):
    def project(self, m):
        return m @ self.p["proj_kernel"]


# ------------------------------------------------------------------ state
class InitialStateIgnored(Cell):
    def initial(self):
        c, h = super().initial()
        return np.zeros_like(c), np.zeros_like(h)


class InitialStateSwapped(Cell):
    def initial(self):
        c, h = super().initial()
        return h, c


class FinalStateHC(Cell):
    def final(self, c, h):
        return h, c


# ------------------------------------------------------------------ sequence lengths and layout
LENGTH_FEATURES = DEFAULT_FEATURES + ("sequence_length",)


class PaddedOutputsRepeatLast(Cell):
    """Keras-style masking: a masked step outputs the previous step's output (zeros before any)."""

    features = LENGTH_FEATURES

    def emit(self, t, active, h_new):
        if t == 0:
            self.previous_output = np.zeros_like(h_new)
        self.previous_output = np.where(active[:, None], h_new, self.previous_output)
        return self.previous_output


class PaddedOutputsInitialH(Cell):
    """The output buffer starts as the initial h broadcast over time and is only written while a row runs."""

    features = LENGTH_FEATURES

    def emit(self, t, active, h_new):
        return np.where(active[:, None], h_new, self.case.initial_state.h.astype(np.float64))


class RunThenGatherFinalState(Cell):
    """Runs every row over all T steps (padding fed) and gathers each row's final state at step L - 1
    (the PyTorch idiom ``out[range(B), L - 1]``), but never zeroes the padded outputs."""

    features = LENGTH_FEATURES

    def carry(self, active, c_prev, h_prev, c_new, h_new):
        return c_new, h_new

    def emit(self, t, active, h_new):
        return h_new

    def final(self, c, h):
        c0, h0 = self.initial()
        cs = np.stack([c0] + [s[0] for s in self.history], axis=1)  # [B, T + 1, H]: index L is after step L - 1
        hs = np.stack([h0] + [s[1] for s in self.history], axis=1)
        lengths = self.lengths()
        at = np.full(cs.shape[0], cs.shape[1] - 1) if lengths is None else lengths
        rows = np.arange(cs.shape[0])
        return cs[rows, at], hs[rows, at]


class MaskedOutputsStateAtEnd(Cell):
    """Zeroes the padded outputs (a mask multiplied in) but lets the recurrence run on over the
    padding, returning the state after step T - 1."""

    features = LENGTH_FEATURES

    def carry(self, active, c_prev, h_prev, c_new, h_new):
        return c_new, h_new


class SequenceLengthIgnored(Cell):
    """Never looks at case.sequence_length: every row runs all T steps over the padding."""

    features = LENGTH_FEATURES

    def lengths(self):
        return None


class EmptyRowsRunOneStep(Cell):
    """Clamps the lengths to >= 1 (as pack_padded_sequence demands) before masking."""

    features = LENGTH_FEATURES

    def lengths(self):
        lengths = super().lengths()
        return None if lengths is None else np.maximum(lengths, 1)


class EmptyRowsZeroState(Cell):
    """Masks correctly, but builds the returned state from the rows that ran: an empty row gets zeros
    (what onnxruntime's LSTM returns in Y_h/Y_c for sequence_lens 0)."""

    features = LENGTH_FEATURES

    def final(self, c, h):
        lengths = self.lengths()
        if lengths is None:
            return c, h
        ran = (lengths > 0)[:, None]
        return np.where(ran, c, 0.0), np.where(ran, h, 0.0)


class GatherAtLengthMinusOne(Cell):
    """Lets the state run over the padding (outputs masked) and gathers each row's final state from
    the per-step history at index L - 1 with Python indexing: L = 0 wraps to the last step."""

    features = LENGTH_FEATURES

    def carry(self, active, c_prev, h_prev, c_new, h_new):
        return c_new, h_new

    def final(self, c, h):
        lengths = self.lengths()
        if lengths is None:
            return c, h
        rows = range(len(lengths))
        return (np.stack([self.history[int(L) - 1][0][b] for b, L in zip(rows, lengths)]),
                np.stack([self.history[int(L) - 1][1][b] for b, L in zip(rows, lengths)]))


class TimeMajorConfused(Cell):
    """Declares time_major but reads inputs as [B, T, I] whatever the layout, and returns the outputs so
    (fails with a shape error unless B == T)."""

    features = DEFAULT_FEATURES + ("sequence_length", "time_major")

    def batch_major(self):
        return self.case.inputs.astype(np.float64)

    def laid_out(self, outputs):
        return outputs


# ------------------------------------------------------------------ stacked and bidirectional networks
NETWORK_FEATURES = DEFAULT_FEATURES + ("sequence_length", "time_major", "stacked", "bidirectional")


def _reverse_each_row(a, lengths):
    """Row b's first lengths[b] steps reversed, its padding left where it is (tf.reverse_sequence)."""
    out = a.copy()
    for b, n in enumerate(lengths):
        out[b, :n] = a[b, :n][::-1]
    return out


class Network:
    """A stack of layers, each one forward cell and (bidirectional) one backward cell, composed the way
    ``stack_bidirectional_dynamic_rnn`` / ``MultiRNNCell`` do, from :class:`Cell` (one cell under
    dynamic_rnn).  One method per piece of the composition; each wrong network overrides one.

    Returns what a candidate returns for the case: ``(outputs, (c, h))`` for one forward layer,
    ``(outputs, ((c1, h1), ..., (cK, hK)))`` for a forward stack, and ``((out_fw, out_bw),
    (((c, h)_fw, (c, h)_bw) per layer))`` when bidirectional; outputs in the case's layout.
    """

    features: tuple[str, ...] = NETWORK_FEATURES

    def __init__(self, case):
        from conformance.spec._topology import BACKWARD, FORWARD

        self.case = case
        self.FW, self.BW = FORWARD, BACKWARD
        self.layers = {(k, d): cell for k, d, cell in case.cells()}
        self.T = case.time

    # --- the pieces ------------------------------------------------------------------
    def rows(self):
        """Each row's length [B] (T for every row without sequence_length)."""
        if self.case.sequence_length is None:
            return np.full(self.case.batch, self.T, np.int64)
        return np.asarray(self.case.sequence_length, np.int64)

    def cell_of(self, k, d):
        """The cell (config and parameters) that runs layer k's direction d."""
        return self.layers[(k, d)]

    def initial_state_of(self, k, d):
        """Layer k's direction d's initial (c, h), from the list of states laid out layer by layer."""
        flat = [cell.initial_state for _, _, cell in self.case.cells()]
        per_layer = 2 if self.case.bidirectional else 1
        return flat[k * per_layer + (d == self.BW)]

    def backward_inputs(self, x):
        return _reverse_each_row(x, self.rows())

    def backward_outputs(self, out):
        return _reverse_each_row(out, self.rows())

    def fed_upward(self, run):
        """What a layer hands the layer above, from one direction's run: its outputs."""
        return run["outputs"]

    def next_input(self, fed):
        """The next layer's input from this layer's directions (forward, then backward)."""
        return np.concatenate([fed[d] for d in (self.FW, self.BW) if d in fed], axis=-1)

    # --- running ---------------------------------------------------------------------
    def run_cell(self, k, d, x):
        """One cell over x [B, T, I] (float64, batch-major) with the case's row lengths."""
        from conformance import Case, InitialState, LSTMParams

        layer, state = self.cell_of(k, d), self.initial_state_of(k, d)
        f64 = np.float64
        cell_case = Case(layer.config.replace(dtype="float64", time_major=False),
                         LSTMParams(**{n: a.astype(f64) for n, a in layer.params.arrays().items()}),
                         np.ascontiguousarray(x), InitialState(state.c.astype(f64), state.h.astype(f64)),
                         self.case.sequence_length)
        cell = Cell(cell_case)
        outputs, (c, h) = cell.run()
        active = np.arange(self.T)[None, :] < self.rows()[:, None]
        cs = np.stack([step[0] for step in cell.history], axis=1)  # the carried c after every step [B, T, H]
        return {"outputs": outputs, "c": c, "h": h, "cell_states": np.where(active[:, :, None], cs, 0.0)}

    def run(self):
        case = self.case
        npd = case.config.np_dtype
        x = case.batch_major_inputs.astype(np.float64)
        directions = (self.FW, self.BW) if case.bidirectional else (self.FW,)
        states, top = [], {}
        for k in range(case.num_layers):
            runs = {}
            for d in directions:
                if d == self.FW:
                    runs[d] = self.run_cell(k, d, x)
                else:
                    runs[d] = self.run_cell(k, d, self.backward_inputs(x))
                    # Turned back to input order: the outputs, and the per-step cell states along with them.
                    runs[d]["outputs"] = self.backward_outputs(runs[d]["outputs"])
                    runs[d]["cell_states"] = self.backward_outputs(runs[d]["cell_states"])
            states.append(tuple((runs[d]["c"].astype(npd), runs[d]["h"].astype(npd)) for d in directions))
            top = {d: runs[d]["outputs"] for d in directions}
            x = self.next_input({d: self.fed_upward(runs[d]) for d in directions})
        outs = {d: (o.transpose(1, 0, 2) if case.config.time_major else o).astype(npd) for d, o in top.items()}
        if case.single_cell:
            return outs[self.FW], states[0][0]
        if not case.bidirectional:
            return outs[self.FW], tuple(layer[0] for layer in states)
        return (outs[self.FW], outs[self.BW]), tuple(states)


class BackwardOutputsNotRereversed(Network):
    """Runs the backward cell on the reversed rows and returns its outputs as they came out: in reverse order."""

    def backward_outputs(self, out):
        return out


class BackwardReversesWholeSequence(Network):
    """Reverses the whole padded time axis (``x[:, ::-1]``) for the backward pass, and again for its outputs:
    a short row's backward pass starts on its padding."""

    def backward_inputs(self, x):
        return x[:, ::-1]

    def backward_outputs(self, out):
        return out[:, ::-1]


class ConcatBackwardFirst(Network):
    """Feeds the next layer concat([out_bw, out_fw])."""

    def next_input(self, fed):
        return np.concatenate([fed[d] for d in (self.BW, self.FW) if d in fed], axis=-1)


class LayerFedCellState(Network):
    """Takes ``state[0]`` of each step's (c, h) as what the layer hands upward: the cell state, not the output."""

    def fed_upward(self, run):
        return run["cell_states"]


class InitialStatesDirectionMajor(Network):
    """Indexes the flat list of initial states as direction * layers + layer (torch's layout read the
    other way round); the list is laid out layer by layer, forward then backward."""

    def initial_state_of(self, k, d):
        flat = [cell.initial_state for _, _, cell in self.case.cells()]
        if not self.case.bidirectional:
            return flat[k]
        return flat[(d == self.BW) * self.case.num_layers + k]


class BackwardUsesForwardWeights(Network):
    """Builds the backward cell from the forward cell's weights (a copy-paste slip); its own initial state."""

    def cell_of(self, k, d):
        return self.layers[(k, self.FW)]


class UpperLayerGetsForwardHalf(Network):
    """Allocates the next layer's input at full width (P_fw + P_bw) and writes only the forward half into it."""

    def next_input(self, fed):
        fw = fed[self.FW]
        if self.BW not in fed:
            return fw
        width = fw.shape[-1] + fed[self.BW].shape[-1]
        out = np.zeros(fw.shape[:-1] + (width,))
        out[..., : fw.shape[-1]] = fw
        return out


# ------------------------------------------------------------------ outside the catalogue
def reset_every_cell(k: int):
    """Zeroes c and h before every k-th step (a stateful-streaming bug): not a convention variant."""

    class ResetEvery(Cell):
        def before_step(self, t, c, h):
            if t and t % k == 0:
                return np.zeros_like(c), np.zeros_like(h)
            return c, h

    return ResetEvery


def as_candidate(cell_class: type[Cell] | type[Network], name: str, features=None, dtypes=("float16", "float32", "float64")):
    """A candidate function ``fn(case) -> (outputs, (c, h))`` running ``cell_class`` (declaring
    ``features``, by default the class's own :attr:`Cell.features`)."""
    if features is None:
        features = cell_class.features

    def fn(case):
        return cell_class(case).run()

    fn.__name__ = fn.__qualname__ = "wrong_" + name.replace("-", "_")
    return candidate(fn, name=name, features=features, dtypes=dtypes, description=cell_class.__doc__ or name)


# ------------------------------------------------------------------ the table the tests use
#: variant name -> (wrong Cell class, config changes that expose it)
PEEPHOLES = {"use_peepholes": True}
#: Row lengths for T = 4 (dense_case's default): a full row and a short one; and with an empty row.
RAGGED = (4, 2)
RAGGED_WITH_EMPTY = (4, 2, 0)
WRONG: dict[str, tuple[type[Cell] | type[Network], dict[str, Any]]] = {
    "forget_bias_missing": (ForgetBiasMissing, {}),
    "forget_bias_doubled": (ForgetBiasDoubled, {}),
    "forget_bias_all_gates": (ForgetBiasAllGates, {}),
    "forget_bias_on_j": (_forget_bias_on(1), {}),
    "forget_bias_on_i": (_forget_bias_on(0), {}),
    "forget_bias_on_o": (_forget_bias_on(3), {}),
    "forget_bias_fixed_one": (ForgetBiasFixedOne, {"forget_bias": 2.5}),
    "concat_hx": (ConcatHX, {}),
    "kernel_reshaped": (KernelReshaped, {}),
    "input_kernel_transposed": (InputKernelTransposed, {"input_size": 3, "num_units": 3}),
    "recurrent_kernel_transposed": (RecurrentKernelTransposed, {"num_units": 3}),
    "bias_twice": (BiasTwice, {}),
    "bias_missing": (BiasMissing, {}),
    "hard_sigmoid": (HardSigmoidKeras2, {}),
    "hard_sigmoid_keras3": (HardSigmoidKeras3, {}),
    "activation_ignored": (ActivationIgnored, {"activation": "softsign"}),
    "input_activation_missing": (InputActivationMissing, {}),
    "output_activation_missing": (OutputActivationMissing, {}),
    "coupled_input_forget": (CoupledInputForget, {}),
    "peepholes_ignored": (PeepholesIgnored, PEEPHOLES),
    "peephole_output_old_c": (PeepholeOutputOldC, PEEPHOLES),
    "peepholes_if_swapped": (peephole_weights_cell("f", "i", "o"), PEEPHOLES),
    "peepholes_fo_swapped": (peephole_weights_cell("i", "o", "f"), PEEPHOLES),
    "peepholes_io_swapped": (peephole_weights_cell("o", "f", "i"), PEEPHOLES),
    "peepholes_rotated_fio": (peephole_weights_cell("f", "o", "i"), PEEPHOLES),
    "peepholes_rotated_oif": (peephole_weights_cell("o", "i", "f"), PEEPHOLES),
    "cell_clip_ignored": (CellClipIgnored, {"cell_clip": 0.3}),
    "cell_clip_preactivation": (CellClipPreactivation, {"cell_clip": 0.5}),
    "cell_clip_after_output": (CellClipAfterOutput, {"cell_clip": 0.3}),
    "proj_clip_before_projection": (ProjClipBeforeProjection, {"num_proj": 2, "proj_clip": 0.1}),
    "proj_clip_ignored": (ProjClipIgnored, {"num_proj": 2, "proj_clip": 0.1}),
    "initial_state_ignored": (InitialStateIgnored, {}),
    "initial_state_swapped": (InitialStateSwapped, {}),
    "final_state_hc": (FinalStateHC, {}),
    # Sequence variants: ``sequence_length`` and ``batch``/``time`` are case keys (see dense_case).
    "padded_outputs_repeat_last": (PaddedOutputsRepeatLast, {"sequence_length": RAGGED}),
    "padded_outputs_initial_h": (PaddedOutputsInitialH, {"sequence_length": RAGGED}),
    "padded_outputs_computed": (RunThenGatherFinalState, {"sequence_length": RAGGED}),
    "final_state_at_end": (MaskedOutputsStateAtEnd, {"sequence_length": RAGGED}),
    "sequence_length_ignored": (SequenceLengthIgnored, {"sequence_length": RAGGED}),
    "empty_rows_run_one_step": (EmptyRowsRunOneStep, {"sequence_length": RAGGED_WITH_EMPTY}),
    "empty_rows_zero_state": (EmptyRowsZeroState, {"sequence_length": RAGGED_WITH_EMPTY}),
    "empty_rows_last_step_state": (GatherAtLengthMinusOne, {"sequence_length": RAGGED_WITH_EMPTY}),
    "time_major_confused": (TimeMajorConfused, {"time_major": True, "batch": 3, "time": 3}),
    # Network variants: ``layers`` and ``bidirectional`` are case keys (see dense_case).  Every one starts
    # from two layers: a mistake inside one layer is minimized to one, a mistake between layers keeps two.
    "backward_outputs_not_rereversed": (BackwardOutputsNotRereversed, {"layers": 2, "bidirectional": True}),
    "backward_whole_sequence_reversed": (BackwardReversesWholeSequence,
                                         {"layers": 2, "bidirectional": True, "sequence_length": RAGGED}),
    "concat_bw_fw": (ConcatBackwardFirst, {"layers": 2, "bidirectional": True}),
    "layer_fed_cell_state": (LayerFedCellState, {"layers": 2}),  # no projection: H == P in every cell
    "initial_states_direction_major": (InitialStatesDirectionMajor, {"layers": 2, "bidirectional": True}),
    "backward_uses_forward_weights": (BackwardUsesForwardWeights, {"layers": 2, "bidirectional": True}),
    "upper_layer_gets_forward_half": (UpperLayerGetsForwardHalf, {"layers": 2, "bidirectional": True}),
}
#: How many layers each network variant's minimized case keeps: one where the mistake is inside a layer.
NETWORK_LAYERS = {
    "backward_outputs_not_rereversed": 1, "backward_whole_sequence_reversed": 1, "backward_uses_forward_weights": 1,
    "concat_bw_fw": 2, "layer_fed_cell_state": 2, "initial_states_direction_major": 2,
    "upper_layer_gets_forward_half": 2,
}
for _order in ("".join(p) for p in itertools.permutations("ijfo")):
    if _order != "ijfo":
        WRONG[f"gate_order_{_order}"] = (gate_order_cell(_order), {})
for _fn in ("sigmoid", "tanh", "relu", "softsign"):
    # Visible only where the configured activation differs from the one used by mistake.
    _other = {"activation": "softsign"} if _fn == "tanh" else {}
    WRONG[f"input_activation_{_fn}"] = (input_activation_cell(_fn), _other)
    WRONG[f"output_activation_{_fn}"] = (output_activation_cell(_fn), _other)

#: Variants whose wrong implementation needs a non-zero initial state to show.
NEEDS_INITIAL_STATE = {"initial_state_ignored", "initial_state_swapped"}

class PyTorchRawPort(gate_order_cell("ifjo")):
    """TF weights run as PyTorch's gate order i, f, g, o, and no forget_bias: two mistakes at once."""

    def forget_bias(self):
        return 0.0


#: Module-level candidates for CLI tests (targets ``tests.wrong_impls:NAME``).
reset_every_3 = as_candidate(reset_every_cell(3), "reset-every-3", dtypes=("float32",))
pytorch_raw_port = as_candidate(PyTorchRawPort, "pytorch-raw-port", dtypes=("float32",))
padded_repeat_last = as_candidate(PaddedOutputsRepeatLast, "padded-repeat-last", dtypes=("float32", "float64"))
final_state_at_t = as_candidate(MaskedOutputsStateAtEnd, "final-state-at-t", dtypes=("float32", "float64"))
lengths_ignored = as_candidate(SequenceLengthIgnored, "lengths-ignored", dtypes=("float32", "float64"))


# ------------------------------------------------------------------ test support
def executor_for(fn):
    """An in-process executor for a candidate function (as the runner would build one)."""
    from conformance.candidates import InProcessExecutor, LoadedCandidate, info_of

    info = info_of(fn)
    return InProcessExecutor(LoadedCandidate(info.name or fn.__name__, info.name or fn.__name__, fn, info, "module"))


#: Keys of ``dense_case``'s ``changes`` that describe the case rather than its config.
CASE_KEYS = ("sequence_length", "batch", "time", "layers", "bidirectional", "other_cells")


def dense_case(changes: dict[str, Any] | None = None, *, dtype: str = "float32", seed: int = 0, batch: int = 2,
               time: int = 4, initial_state: bool = True):
    """A case with dense normal values: config num_units=2, input_size=3 updated by ``changes``.

    ``changes`` may also hold case keys (:data:`CASE_KEYS`): ``batch`` and ``time`` override the
    arguments, ``sequence_length`` gives the row lengths (and the batch size, if ``batch`` is not
    given).  A ``time_major`` config gets its inputs laid out [T, B, I]; the padding holds values.

    A network: ``layers`` (int, default 1) and ``bidirectional`` (bool); every cell has the first cell's
    config with its ``input_size`` chained (layer k reads the width of layer k - 1: P_fw + P_bw when
    bidirectional) and ``other_cells`` (a dict of config changes) applied to every cell but the first.
    The first cell's arrays are drawn exactly as for one cell; the other cells' are drawn after them.
    """
    from conformance import Case, InitialState, LSTMConfig, LSTMParams
    from conformance.spec._topology import LSTMLayer

    changes = dict(changes or {})
    layers = int(changes.pop("layers", 1))
    bidirectional = bool(changes.pop("bidirectional", False))
    other_cells = dict(changes.pop("other_cells", {}))
    lengths = changes.pop("sequence_length", None)
    if lengths is not None:
        batch = len(lengths)
    batch = changes.pop("batch", batch)
    time = changes.pop("time", time)
    rng = np.random.default_rng(seed)
    cfg = LSTMConfig(**{"num_units": 2, "input_size": 3, "dtype": dtype, **changes})
    I, npd = cfg.input_size, cfg.np_dtype

    def normal(shape, scale=0.8):
        return (rng.standard_normal(shape) * scale).astype(npd)

    def draw_params(cfg):
        I, H, P = cfg.input_size, cfg.num_units, cfg.output_size
        diag = (lambda: normal((H,))) if cfg.use_peepholes else (lambda: None)
        return LSTMParams(normal((I + P, 4 * H)), normal((4 * H,)), diag(), diag(), diag(),
                          normal((H, P)) if cfg.num_proj is not None else None)

    def draw_state(cfg):
        H, P = cfg.num_units, cfg.output_size
        if initial_state:
            return InitialState(normal((batch, H), 1.0), normal((batch, P), 0.5))
        return InitialState(np.zeros((batch, H), npd), np.zeros((batch, P), npd))

    params = draw_params(cfg)
    state = draw_state(cfg)
    inputs = normal((batch, time, I), 1.0)  # [B, T, I]
    if cfg.time_major:
        inputs = np.ascontiguousarray(inputs.transpose(1, 0, 2))
    upper, backward = [], []
    width = I
    for k in range(layers):  # every cell but the first, layer by layer, forward before backward
        fw_cfg = cfg if k == 0 else cfg.replace(**{**other_cells, "input_size": width})
        if k:
            upper.append(LSTMLayer(fw_cfg, draw_params(fw_cfg), draw_state(fw_cfg)))
        next_width = fw_cfg.output_size
        if bidirectional:
            bw_cfg = cfg.replace(**{**other_cells, "input_size": width})
            backward.append(LSTMLayer(bw_cfg, draw_params(bw_cfg), draw_state(bw_cfg)))
            next_width += bw_cfg.output_size
        width = next_width
    case = Case(cfg, params, inputs, state, None if lengths is None else np.asarray(lengths, np.int32),
                upper=tuple(upper), backward=tuple(backward))
    return case.validate()


def spec_fails(executor):
    """``still_fails(case)`` for conformance.run._minimize: the candidate leaves the float64 spec (no TF needed)."""
    from conformance import compare
    from conformance.spec import CandidateFault, reference

    def still_fails(case) -> bool:
        try:
            got = executor.run(case)
        except CandidateFault:
            return False  # a crash is another kind of failure: keep the mismatch
        spec = reference(case)
        return not compare(case, got, spec.astype(case.config.np_dtype), spec=spec).passed

    return still_fails


class SpecOracle:
    """The float64 spec in the case's dtype, as an oracle for runner tests that need no TensorFlow."""

    def run(self, case):
        from conformance.spec import reference

        return reference(case).astype(case.config.np_dtype)
