"""The catalogue's entries for clipping, state feedback, per-gate activations, sign errors, memory layouts,
per-gate biases and fitted constants (conformance.diagnose._variants registers them after the first
cell-level entries), and the sources every entry cites.

A source is the public issue or pull request where the mistake was seen; an entry without one follows a
documented convention of another library (docs/mapping.md).
"""

from __future__ import annotations

from typing import Any

_ORT_CLIP = "https://github.com/microsoft/onnxruntime/issues/27224"
_NICO_TANH = "https://github.com/nicodjimenez/lstm/issues/47"
_HARD_SIGMOID = "https://github.com/keras-team/keras/pull/19477"
_GATE_ORDER = "https://github.com/CrispStrobe/CrispASR/pull/106"
_BIAS_TWICE = "https://github.com/lisa-lab/DeepLearningTutorials/issues/81"
_RB = "https://github.com/onnx/keras-onnx/pull/103"
_HC = "https://github.com/microsoft/nni/issues/2839"
_PEEP = "https://github.com/webmachinelearning/webnn-baseline/pull/81"
_CIFG = "https://github.com/onnx/onnx/pull/149"
_FORGET_BIAS = "https://github.com/clab/dynet/pull/1097"
_IF_SWAP = "https://github.com/NX-AI/xlstm/issues/98"
_INPUT_GATE = "https://github.com/ARM-software/CMSIS-NN/pull/181"
_CLIP_PLACE = "https://github.com/PaddlePaddle/Paddle/pull/15605"
_CUDNN = "https://github.com/tensorflow/tensorflow/issues/29308"
_ORDER_DOC = "https://github.com/apple/coremltools/pull/93"

#: name -> source, for entries that do not carry their own.
SOURCES: dict[str, str] = {
    "forget_bias_missing": _FORGET_BIAS,
    "forget_bias_doubled": "https://github.com/stanfordnlp/treelstm/issues/6",
    "forget_bias_fixed_one": _FORGET_BIAS,
    "gate_order_ifjo": "https://github.com/tensorflow/tensorflow/issues/29622",
    "gate_order_iofj": _GATE_ORDER,
    "gate_order_ifoj": _ORDER_DOC,
    "gate_order_fijo": _IF_SWAP,
    "kernel_reshaped": _CUDNN,
    "bias_twice": _BIAS_TWICE,
    "bias_missing": "https://github.com/pytorch/pytorch/issues/34800",
    "hard_sigmoid": _HARD_SIGMOID,
    "hard_sigmoid_keras3": _HARD_SIGMOID,
    "output_activation_missing": _NICO_TANH,
    "coupled_input_forget": _CIFG,
    "peepholes_fo_swapped": _PEEP,
    "cell_clip_preactivation": _ORT_CLIP,
    "cell_clip_after_output": "https://github.com/microsoft/onnxruntime/pull/27239",
    "proj_clip_before_projection": _CLIP_PLACE,
    "initial_state_swapped": "https://github.com/asyml/texar-pytorch/issues/198",
    "final_state_hc": "https://github.com/tensorflow/tensorflow/issues/13943",
}

_CLIP_FIX = ("clip only what TF clips: c_t at config.cell_clip (when set) and the projected output at "
             "config.proj_clip (when set); no hard-coded thresholds")
_FEEDBACK_FIX = ("carry (c_t, m_t) to the next step as TF does: c_t is the next step's c_{t-1}, m_t (the output, "
                 "after the projection) is concatenated with x_{t+1}")
_GATE_FIX = "compute the i, f and o gates as sigmoid(pre-activation) (config.activation is for j and c only)"
_NEG_FIX = ("use each gate's pre-activation as it is: sigmoid(i), act(j), sigmoid(f + forget_bias), "
            "sigmoid(o); c_t = f * c_{t-1} + i * j")
_BIAS_GATE_FIX = "add the whole bias [4H] to z before splitting, every gate's block included"
_PEEP_FIX = "with use_peepholes add w_i_diag * c_{t-1} to i, w_f_diag * c_{t-1} to f and w_o_diag * c_t to o"
_GATES = {"i": "input", "j": "cell input", "f": "forget", "o": "output"}

MORE_VARIANTS: list[dict[str, Any]] = [
    dict(name="forget_bias_hardcoded", family="forget_bias", knobs={"forget_bias_value": 1.0},
         fit=("forget_bias_value", -6.0, 6.0),
         explanation="config.forget_bias is ignored: a hard-coded constant is added to the forget gate instead",
         fitted_explanation="config.forget_bias ({cfg.forget_bias:g}) is ignored: the forget gate gets a "
                            "hard-coded {value:g}",
         fix="add the configured forget_bias (case.config.forget_bias), not a hard-coded constant",
         source=_FORGET_BIAS),
    dict(name="forget_bias_plus_constant", family="forget_bias", knobs={"forget_bias_offset": 1.0},
         fit=("forget_bias_offset", -6.0, 6.0),
         explanation="a constant is added to the forget gate on top of forget_bias (a library that adds a "
                     "fixed +1 to f, fed a bias with forget_bias already folded in)",
         fitted_explanation="the forget gate gets forget_bias {value:+g} (forget_bias is {cfg.forget_bias:g}): "
                            "a constant {value:+g} on top of it",
         fix="add forget_bias to the forget gate exactly once; when the target library adds its own constant "
             "(+1) to f, subtract it from bias[2H:3H] when converting",
         source="https://github.com/chainer/chainer/pull/2425"),
    dict(name="cell_state_clipped_constant", family="state_clip", knobs={"state_clip_value": 3.0},
         fit=("state_clip_value", 0.01, 50.0),
         explanation="the cell state c_t is clipped at a hard-coded threshold",
         fitted_explanation="the cell state is clipped at +-{value:.4g} though cell_clip is {cfg.cell_clip}",
         fix=_CLIP_FIX, source=_CLIP_PLACE),
    dict(name="gate_preactivations_clipped_constant", family="gate_clip", knobs={"gate_clip_value": 3.0},
         fit=("gate_clip_value", 0.01, 50.0),
         explanation="every gate pre-activation is clipped at a hard-coded threshold (an ONNX `clip` attribute "
                     "set by the converter)",
         fitted_explanation="every gate pre-activation is clipped at +-{value:.4g} (TF clips no pre-activation)",
         fix=_CLIP_FIX, source=_ORT_CLIP),
    dict(name="output_clipped_constant", family="output_clip", knobs={"output_clip_value": 1.0},
         fit=("output_clip_value", 0.001, 50.0),
         explanation="the output m_t is clipped at a hard-coded threshold",
         fitted_explanation="the output h_t is clipped at +-{value:.4g} before any projection (TF clips only the "
                            "projected output, at proj_clip = {cfg.proj_clip})",
         fix=_CLIP_FIX, source=_CLIP_PLACE),
    dict(name="cell_clip_output_only", family="cell_clip", knobs={"cell_clip": "output_only"},
         needs=("cell_clip",),
         explanation="cell_clip clips the c_t the output sees, but the unclipped c_t is carried to the next step",
         fix="clip c_t once, before both the output and the next step: c_t = clip(c_t, -cell_clip, cell_clip)",
         source="https://github.com/microsoft/onnxruntime/pull/27239"),
    dict(name="cell_clip_on_hidden", family="cell_clip", knobs={"cell_clip": "hidden"}, needs=("cell_clip",),
         explanation="cell_clip clips the output h_t (before the projection) instead of the cell state c_t",
         fix="clip the cell state c_t at cell_clip; leave h_t = sigmoid(o) * act(c_t) unclipped",
         source=_CLIP_PLACE),
    dict(name="c_fed_back_as_h", family="feedback", knobs={"feedback": "c_as_h"},
         explanation="the cell state is fed back as the recurrent input in place of h: every step (the first "
                     "included) multiplies concat([x_t, c_{t-1}])",
         fix=_FEEDBACK_FIX, source=_HC),
    dict(name="state_swapped_in_recurrence", family="feedback", knobs={"feedback": "swapped"},
         explanation="h and c are swapped where the state is read: every step (the first included) uses h_{t-1} "
                     "as its cell state and c_{t-1} as its recurrent input",
         fix=_FEEDBACK_FIX, source=_HC),
    dict(name="h_not_fed_back", family="feedback", knobs={"feedback": "no_h"},
         explanation="the output is never fed back: every step (the first included) multiplies concat([x_t, 0])",
         fix=_FEEDBACK_FIX),
    dict(name="c_not_carried", family="feedback", knobs={"feedback": "no_c"},
         explanation="the cell state is not carried: every step (the first included) starts from c_{t-1} = 0 (only h is "
                     "fed back)",
         fix=_FEEDBACK_FIX),
]
for _gate, _knob in (("input", "input_gate_activation"), ("forget", "forget_gate_activation"),
                     ("output", "output_gate_activation")):
    for _fn, _what in (("tanh", "tanh instead of sigmoid"), ("identity", "no activation at all (the raw "
                                                                          "pre-activation)"),
                       ("hard_sigmoid", "Keras 2's hard_sigmoid clip(0.2x + 0.5, 0, 1) instead of sigmoid")):
        MORE_VARIANTS.append(dict(
            name=f"{_gate}_gate_{_fn}", family=f"{_gate}_gate_activation", knobs={_knob: _fn},
            explanation=f"the {_gate} gate uses {_what}",
            fix=_GATE_FIX,
            source="https://github.com/stanfordnlp/stanza/issues/88" if _fn == "tanh" else
            (_HARD_SIGMOID if _fn == "hard_sigmoid" else ""),
        ))
MORE_VARIANTS += [
    dict(name="output_activation_twice", family="output_activation", knobs={"output_activation": "twice"},
         explanation="the cell activation is applied twice for the output: h_t = sigmoid(o) * act(act(c_t)) "
                     "(c_t stored already activated, then activated again)",
         fix="apply config.activation to c_t once: h_t = sigmoid(o) * act(c_t); carry the raw c_t",
         source="https://github.com/MartinuzziFrancesco/RecurrentLayers.jl/pull/155"),
    dict(name="input_activation_twice", family="input_activation", knobs={"input_activation": "twice"},
         explanation="the cell activation is applied twice to j: act(act(j))",
         fix="apply config.activation to the j gate once: c_t = f * c_{t-1} + sigmoid(i) * act(j)"),
    dict(name="output_activation_hard_tanh", family="output_activation", knobs={"output_activation": "hard_tanh"},
         explanation="act(c_t) is computed with hard_tanh clip(x, -1, 1) instead of config.activation",
         fix="compute act(c_t) with config.activation (default tanh)"),
    dict(name="input_activation_hard_tanh", family="input_activation", knobs={"input_activation": "hard_tanh"},
         explanation="act(j) is computed with hard_tanh clip(x, -1, 1) instead of config.activation",
         fix="compute act(j) with config.activation (default tanh)"),
]
for _g in "ijfo":
    MORE_VARIANTS.append(dict(
        name=f"gate_negated_{_g}", family="gate_sign", knobs={"negated_gate": _g},
        explanation=(f"the {_GATES[_g]} gate has the wrong sign ("
                     + {"i": "sigmoid(-i) = 1 - sigmoid(i)", "j": "the candidate is subtracted: c_t = f * c_{t-1} - i * act(j)",
                        "f": "sigmoid(-(f + forget_bias)): the gate keeps what it should forget",
                        "o": "sigmoid(-o) = 1 - sigmoid(o)"}[_g] + ")"),
        fix=_NEG_FIX,
        source="https://github.com/MartinuzziFrancesco/torchrecurrent/issues/22" if _g == "j" else "",
    ))
for _g in "ijfo":
    MORE_VARIANTS.append(dict(
        name=f"bias_missing_on_{_g}", family="bias_gate", knobs={"bias_dropped_gate": _g},
        explanation=f"the {_GATES[_g]} gate's bias block is not added (the other three are)"
                    + (" (forget_bias still is)" if _g == "f" else ""),
        fix=_BIAS_GATE_FIX, source=_RB,
    ))
MORE_VARIANTS += [
    dict(name="kernel_gate_major", family="kernel_layout", knobs={"kernel_layout": "gate_major"},
         explanation="the kernel memory is read as four contiguous [I+P, H] gate blocks (one weight matrix per "
                     "gate, concatenated along the first axis) instead of TF's [I+P, 4H] rows",
         fix="the kernel is [I+P, 4H] row-major: gate g of unit u is column g*H + u of every row",
         source=_CUDNN),
    dict(name="gate_columns_interleaved", family="column_layout", knobs={"column_layout": "interleaved"},
         explanation="the 4H columns of kernel and bias are read unit by unit (column 4u + g: i, j, f, o of unit "
                     "0, then of unit 1, ...) instead of TF's four contiguous gate blocks",
         fix="column g*H + u of kernel and bias is gate g (order i, j, f, o) of unit u"),
    dict(name="coupled_forget_input", family="input_gate", knobs={"coupled_forget_input": True},
         explanation="the forget gate is coupled to the input gate (f = 1 - sigmoid(i), ONNX input_forget) "
                     "instead of its own sigmoid(f + forget_bias)",
         fix="compute the forget gate from its own block: sigmoid(f + forget_bias), independent of i",
         source=_CIFG),
    dict(name="peephole_output_missing", family="peepholes", knobs={"peepholes": "no_output"},
         needs=("peepholes",),
         explanation="the output-gate peephole is missing: o never gets w_o_diag * c_t (i and f get theirs)",
         fix=_PEEP_FIX, source="https://github.com/MartinuzziFrancesco/RecurrentLayers.jl/pull/134"),
    dict(name="peepholes_output_only", family="peepholes", knobs={"peepholes": "output_only"},
         needs=("peepholes",),
         explanation="only the output gate gets its peephole: w_i_diag and w_f_diag never reach i and f",
         fix=_PEEP_FIX),
    dict(name="peephole_output_unclipped_c", family="peepholes", knobs={"peepholes": "output_unclipped_c"},
         needs=("peepholes", "cell_clip"),
         explanation="the output-gate peephole sees the unclipped c_t; TF's sees the clipped c_t",
         fix="clip c_t first, then o + w_o_diag * clip(c_t)"),
]
_COPY_PASTE = "https://github.com/stanfordnlp/stanza/issues/88"  # one gate's weights copied into another's line
_PROJ = "https://github.com/rdspring1/PyTorch_GBW_LM/issues/2"
_PROJ_FIX = ("project the output: m_t = (sigmoid(o) * act(c_t)) @ proj_kernel (then clip at proj_clip); the "
             "cell state is never projected")
MORE_VARIANTS += [
    dict(name="h_fed_back_as_c", family="feedback", knobs={"feedback": "h_as_c"},
         explanation="the output is fed back as the cell state in place of c: every step (the first included) "
                     "uses c_{t-1} := h_{t-1}",
         fix=_FEEDBACK_FIX, source="https://github.com/carlthome/tensorflow-convlstm-cell/issues/11"),
    dict(name="peephole_f_uses_w_i", family="peephole_order", knobs={"peephole_order": "iio"},
         needs=("peepholes",),
         explanation="the forget-gate peephole uses w_i_diag (copied from the input gate's line): f gets "
                     "w_i_diag * c_{t-1}, w_f_diag is never used",
         fix=_PEEP_FIX, source=_COPY_PASTE),
    dict(name="peephole_i_uses_w_f", family="peephole_order", knobs={"peephole_order": "ffo"},
         needs=("peepholes",),
         explanation="the input-gate peephole uses w_f_diag: i gets w_f_diag * c_{t-1}, w_i_diag is never used",
         fix=_PEEP_FIX, source=_COPY_PASTE),
    dict(name="projection_before_output_gate", family="projection", knobs={"projection": "before_output_gate"},
         needs=("projection",),
         explanation="the projection is applied before the output gate: m_t = sigmoid(o) * (act(c_t) @ "
                     "proj_kernel) (needs num_proj == num_units)",
         fix=_PROJ_FIX, source=_PROJ),
    dict(name="projection_of_cell_state", family="projection", knobs={"projection": "cell_state"},
         needs=("projection",),
         explanation="the cell state is projected instead of the output: m_t = c_t @ proj_kernel",
         fix=_PROJ_FIX, source=_PROJ),
]
MORE_VARIANTS.append(
    dict(name="peepholes_if_new_c", family="peepholes", knobs={"peepholes": "if_new_c"}, needs=("peepholes",),
         explanation="the input- and forget-gate peepholes read the new cell state c_t (computed once without "
                     "them, then again with them) instead of c_{t-1}",
         fix=_PEEP_FIX, source="https://github.com/Lasagne/Lasagne/issues/448"))
