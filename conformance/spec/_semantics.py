"""The knobs of the executable spec (:class:`Semantics`) and the elementwise functions they name.

The default knobs are TF's semantics; every other setting is a convention some other LSTM (or a
mistaken port) uses: conformance.diagnose._variants describes each variant as a knob setting.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.spec._errors import InvalidArgument


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a large positive argument overflows to inf and 1/inf == 0: the right limit.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def softsign(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.abs(x))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """Keras 2 / tf.keras: ``clip(0.2 x + 0.5, 0, 1)``."""
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def hard_sigmoid_keras3(x: np.ndarray) -> np.ndarray:
    """Keras 3 (and PyTorch ``hardsigmoid``): ``relu6(x + 3) / 6``."""
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def identity(x: np.ndarray) -> np.ndarray:
    return x


def hard_tanh(x: np.ndarray) -> np.ndarray:
    """``clip(x, -1, 1)``: the piecewise-linear stand-in for tanh."""
    return np.clip(x, -1.0, 1.0)


#: Cell activations by the names of :data:`conformance.ACTIVATIONS`.
ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": relu, "softsign": softsign}

#: Every elementwise function a knob may name (the cell activations plus the variants').
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **ACTIVATION_FUNCTIONS,
    "identity": identity,
    "hard_sigmoid": hard_sigmoid,
    "hard_sigmoid_keras3": hard_sigmoid_keras3,
    "hard_tanh": hard_tanh,
}
#: A knob naming an activation may also say ``"twice"``: ``config.activation`` applied two times.
TWICE = "twice"

_GATE_ORDERS = frozenset("".join(p) for p in itertools.permutations("ijfo"))
#: Any diagonal may feed any gate (a port reading w_i_diag for f too is not a permutation).
_PEEPHOLE_ORDERS = frozenset("".join(p) for p in itertools.product("ifo", repeat=3))
_CHOICES: dict[str, frozenset[Any]] = {
    "gate_order": _GATE_ORDERS,
    "concat": frozenset({"xh", "hx"}),
    "kernel_layout": frozenset({"canonical", "reshaped", "gate_major"}),
    "column_layout": frozenset({"blocked", "interleaved"}),
    "negated_gate": frozenset({"none", "i", "j", "f", "o"}),
    "bias_dropped_gate": frozenset({"none", "i", "j", "f", "o"}),
    "feedback": frozenset({"tf", "c_as_h", "h_as_c", "swapped", "no_h", "no_c"}),
    "projection": frozenset({"output", "before_output_gate", "cell_state"}),
    "forget_bias_gate": frozenset({"i", "j", "f", "o", "all"}),
    "recurrent_activation": frozenset(FUNCTIONS),
    "peepholes": frozenset({"tf", "ignored", "output_old_c", "no_output", "output_only", "output_unclipped_c",
                             "if_new_c"}),
    "peephole_order": _PEEPHOLE_ORDERS,
    "cell_clip": frozenset({"state", "ignored", "preactivation", "after_output", "output_only", "hidden"}),
    "proj_clip": frozenset({"after", "before", "ignored"}),
    "initial_state": frozenset({"used", "ignored", "swapped"}),
    "final_state": frozenset({"ch", "hc"}),
    "padded_outputs": frozenset({"zeros", "repeat_last", "initial_h", "computed"}),
    "final_state_step": frozenset({"length", "end"}),
    "layout": frozenset({"declared", "swapped"}),
    "empty_row_state": frozenset({"initial", "zeros", "last_step"}),
    "bw_outputs": frozenset({"rereversed", "reversed"}),
    "bw_reverse": frozenset({"within_length", "whole"}),
    "concat_order": frozenset({"fw_bw", "bw_fw"}),
    "layer_input": frozenset({"h", "c"}),
    "initial_state_order": frozenset({"layer_major", "direction_major"}),
    "bw_weights": frozenset({"own", "forward"}),
    "upper_input": frozenset({"both", "forward_only"}),
}


@dataclasses.dataclass(frozen=True)
class Semantics:
    """The knobs of the spec; the defaults are TF ``LSTMCell`` (the module docstring).

    * ``gate_order``: the gate each canonical column block of kernel/bias is used as
      (``"ijfo"`` is TF; ``"ifjo"`` reads TF blocks as if they were Keras/PyTorch's i, f, c, o).
      ``forget_bias`` goes to whichever block is used as ``f``.
    * ``concat``: ``"xh"`` multiplies ``concat([x_t, m_{t-1}])``; ``"hx"`` ``concat([m_{t-1}, x_t])``
      (the first P kernel rows act on m, the last I on x).
    * ``kernel_layout``: ``"reshaped"`` reads the kernel's memory as a [4H, I+P] matrix
      (PyTorch/ONNX layout) and transposes it, i.e. ``kernel.reshape(4H, I+P).T``.
      ``"gate_major"`` reads it as four contiguous [I+P, H] gate blocks (``kernel.reshape(4, I+P, H)``).
    * ``column_layout``: ``"interleaved"`` reads the 4H columns of kernel and bias unit by unit
      (column ``4 * u + g`` is unit u of gate g) instead of TF's four contiguous blocks.
    * ``input_blocks_transposed`` / ``recurrent_blocks_transposed``: each gate's [I, H]
      (needs I == H) / [P, H] (needs P == H) kernel block is used transposed.
    * ``bias_scale``: 1 adds the bias once, 2 twice, 0 never.
    * ``forget_bias_scale``, ``forget_bias_value``, ``forget_bias_gate``: the amount
      ``scale * (value if set else config.forget_bias)`` is added to the pre-activation of
      gate ``forget_bias_gate`` (``"all"``: every gate).
    * ``bias_dropped_gate``: the bias block of that gate (by use) is not added (``"none"``: all are).
    * ``forget_bias_offset``: a constant added to the forget gate on top of the forget bias.
    * ``negated_gate``: a sign error: that gate's whole pre-activation (peephole included) enters its
      activation negated; for ``"j"`` the candidate ``i * act(j)`` is subtracted from c instead.
    * ``recurrent_activation`` (i, f, o), ``input_activation`` (j), ``output_activation``
      (applied to c for m): names of :data:`FUNCTIONS` (or :data:`TWICE`); None means ``config.activation``.
      ``input_gate_activation``, ``forget_gate_activation``, ``output_gate_activation``: one gate's own
      function (None: ``recurrent_activation``).
    * ``coupled_forget_input``: the forget gate is ``1 - i``.
    * ``feedback``: what every step (the first included) is fed of the state (c_{t-1}, m_{t-1}): ``"tf"``;
      ``"c_as_h"`` (c_{t-1} as the recurrent input too; needs P == H); ``"h_as_c"`` (m_{t-1} as the cell
      state too, i.e. c_{t-1} := m_{t-1}; needs P == H); ``"swapped"`` (m_{t-1} as c and
      c_{t-1} as the recurrent input); ``"no_h"`` (zeros as the recurrent input); ``"no_c"`` (c = 0).
      The state returned is the true one.
    * ``state_clip_value``, ``gate_clip_value``, ``output_clip_value``: hard-coded clips (None: none)
      of c_t, of every gate pre-activation, of m_t before the projection.
    * ``coupled_input_forget``: the input gate is ``1 - f`` (CIFG, ONNX ``input_forget``).
    * ``peepholes``: ``"tf"``; ``"ignored"``; ``"output_old_c"`` (o peeks at c_{t-1}, not c_t);
      ``"no_output"`` (no o peephole); ``"output_only"`` (no i/f peepholes); ``"output_unclipped_c"``;
      ``"if_new_c"`` (i and f peek at the new cell state, as a first pass without their peepholes computes it).
      ``peephole_order``: which diagonal feeds gates (i, f, o): ``"fio"`` swaps w_i/w_f, ``"iio"`` feeds
      w_i_diag to f as well (any of the 27 strings over i, f, o).
    * ``cell_clip``: ``"state"`` (TF: clip c_t); ``"ignored"``; ``"preactivation"`` (ONNX
      runtime: clip every gate pre-activation, never c); ``"after_output"`` (m from the
      unclipped c_t, the carried c_t clipped); ``"output_only"`` (m from the clipped c_t, the carried
      c_t unclipped); ``"hidden"`` (m_t clipped before the projection instead of c_t).
    * ``proj_clip``: ``"after"`` the projection (TF), ``"before"`` it, or ``"ignored"``.
    * ``projection``: what ``proj_kernel`` multiplies: ``"output"`` (TF: m_t = sigmoid(o) * act(c_t));
      ``"before_output_gate"`` (m_t = sigmoid(o) * (act(c_t) @ proj_kernel); needs P == H);
      ``"cell_state"`` (m_t = c_t @ proj_kernel: the cell state projected instead of the output).
    * ``initial_state``: ``"used"``, ``"ignored"`` (zeros) or ``"swapped"`` (read as (h, c)).
    * ``final_state``: ``"ch"`` (TF) or ``"hc"`` (returned swapped).

    Sequence lengths (``dynamic_rnn``'s ``sequence_length``; they matter only where a row is
    shorter than T):

    * ``padded_outputs``: the outputs of row b at steps ``t >= L[b]``: ``"zeros"`` (TF);
      ``"repeat_last"`` (the last valid output, zeros for an empty row: Keras masking);
      ``"initial_h"``; ``"computed"`` (what the recurrence computes running on over the padding).
    * ``final_state_step``: ``"length"`` (TF: the state after step ``L[b] - 1``) or ``"end"``
      (after step T - 1, the recurrence having run over the padding).
    * ``zero_length_as_one``: a row of length 0 is run as length 1.
    * ``empty_row_state``: the final state of a row of length 0: ``"initial"`` (TF), ``"zeros"``,
      or ``"last_step"`` (the state after step T - 1: an index ``L - 1 = -1`` that wraps around).

    Networks (stacked, bidirectional; conformance.spec._network):

    * ``bw_outputs``: the backward outputs ``"rereversed"`` in time (TF) or left ``"reversed"``.
    * ``bw_reverse``: each row reversed ``"within_length"`` (TF's reverse_sequence) or the
      ``"whole"`` padded sequence.
    * ``concat_order``: a bidirectional layer's output fed to the next as ``"fw_bw"`` (TF) or ``"bw_fw"``.
    * ``layer_input``: the next layer is fed the output ``"h"`` (TF) or the cell state ``"c"``.
    * ``initial_state_order``: per-cell initial states read ``"layer_major"`` (TF's per-layer tuples of
      (fw, bw); torch's ``[layers * directions]``) or ``"direction_major"``.
    * ``bw_weights``: the backward cell uses its ``"own"`` parameters or the ``"forward"`` cell's.
    * ``upper_input``: the next layer gets ``"both"`` directions' outputs or the ``"forward_only"``
      half (the backward half zeroed).
    * ``layout``: ``"declared"``, or ``"swapped"``: the inputs are read in the other layout
      (time-major as batch-major or the reverse) and the outputs written in it (needs B == T).
    """

    gate_order: str = "ijfo"
    concat: str = "xh"
    kernel_layout: str = "canonical"
    column_layout: str = "blocked"
    input_blocks_transposed: bool = False
    recurrent_blocks_transposed: bool = False
    bias_scale: float = 1.0
    forget_bias_scale: float = 1.0
    forget_bias_value: float | None = None
    forget_bias_gate: str = "f"
    forget_bias_offset: float = 0.0
    bias_dropped_gate: str = "none"
    negated_gate: str = "none"
    recurrent_activation: str = "sigmoid"
    input_activation: str | None = None
    output_activation: str | None = None
    input_gate_activation: str | None = None
    forget_gate_activation: str | None = None
    output_gate_activation: str | None = None
    coupled_input_forget: bool = False
    coupled_forget_input: bool = False
    feedback: str = "tf"
    state_clip_value: float | None = None
    gate_clip_value: float | None = None
    output_clip_value: float | None = None
    peepholes: str = "tf"
    peephole_order: str = "ifo"
    cell_clip: str = "state"
    proj_clip: str = "after"
    projection: str = "output"
    initial_state: str = "used"
    final_state: str = "ch"
    padded_outputs: str = "zeros"
    final_state_step: str = "length"
    zero_length_as_one: bool = False
    empty_row_state: str = "initial"
    bw_outputs: str = "rereversed"
    bw_reverse: str = "within_length"
    concat_order: str = "fw_bw"
    layer_input: str = "h"
    initial_state_order: str = "layer_major"
    bw_weights: str = "own"
    upper_input: str = "both"
    layout: str = "declared"

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise InvalidArgument(f"{name}={value!r} is not one of {', '.join(sorted(map(str, allowed)))}")
        for name in ("input_activation", "output_activation", "input_gate_activation", "forget_gate_activation",
                     "output_gate_activation"):
            value = getattr(self, name)
            if value is not None and value not in FUNCTIONS and value != TWICE:
                raise InvalidArgument(f"{name}={value!r} is not None or one of {', '.join(sorted(FUNCTIONS))}, "
                                      f"{TWICE}")
        for name in ("bias_scale", "forget_bias_scale", "forget_bias_offset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise InvalidArgument(f"{name}={value!r} must be a finite number")
        fbv = self.forget_bias_value
        if fbv is not None and (isinstance(fbv, bool) or not isinstance(fbv, (int, float)) or not np.isfinite(fbv)):
            raise InvalidArgument(f"forget_bias_value={fbv!r} must be None or a finite number")
        for name in ("state_clip_value", "gate_clip_value", "output_clip_value"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not np.isfinite(value) or value <= 0):
                raise InvalidArgument(f"{name}={value!r} must be None or a finite number > 0")
        for name in ("input_blocks_transposed", "recurrent_blocks_transposed", "coupled_input_forget",
                     "coupled_forget_input", "zero_length_as_one"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgument(f"{name}={getattr(self, name)!r} must be True or False")

    def changed(self) -> dict[str, Any]:
        """The knobs that differ from TF's defaults."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) != f.default}

    def applicable(self, case: Any) -> bool:
        """Whether these knobs can run on ``case`` at all (some need square blocks)."""
        for _, _, cell in case.cells():
            cfg = cell.config
            H, I, P = cfg.num_units, cfg.input_size, cfg.output_size
            if self.input_blocks_transposed and I != H:
                return False
            if self.recurrent_blocks_transposed and P != H:
                return False
            if (self.initial_state == "swapped" or self.final_state == "hc"
                    or self.feedback in ("c_as_h", "h_as_c", "swapped")
                    or (self.projection == "before_output_gate" and cfg.num_proj is not None)) and P != H:
                return False
        if self.layout == "swapped" and (case.batch != case.time or not case.single_cell):
            return False
        cells = case.cells()
        if self.layer_input == "c" and any(c.config.num_units != c.config.output_size for _, _, c in cells):
            return False
        if self.initial_state_order == "direction_major":
            # Each cell reads another's state: their (H, P) must agree (conformance.spec._network._states).
            size = {(k, d): (c.config.num_units, c.config.output_size) for k, d, c in cells}
            layer_major = list(size)
            direction_major = sorted(layer_major, key=lambda kd: (kd[1] != "forward", kd[0]))
            if any(size[a] != size[b] for a, b in zip(layer_major, direction_major)):
                return False
        if self.bw_weights == "forward" and any(
                (a.config.input_size, a.config.num_units, a.config.output_size, a.config.use_peepholes)
                != (b.config.input_size, b.config.num_units, b.config.output_size, b.config.use_peepholes)
                for (_, _, a), (_, _, b) in zip(cells[0::2], cells[1::2]) if case.bidirectional):
            return False
        return True


#: TF's semantics: the executable spec proper.
TF_SEMANTICS = Semantics()
