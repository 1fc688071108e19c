"""The catalogue of convention variants the diagnosis tries, and the registry users extend.

A variant is data: a name, a plain-language explanation of what the implementation
does differently from TF's ``LSTMCell``, the fix, and the knob settings of the
executable spec (:class:`conformance.spec._reference.Semantics`) that reproduce it.
Nothing here computes an LSTM: :meth:`Variant.run` hands the knobs to the one spec.

``needs`` names the :data:`conformance.FEATURES` without which a variant computes
exactly what TF computes (e.g. peephole variants need ``peepholes``); the diagnosis
skips a variant on cases that lack them.  ``family`` groups alternatives (two
forget-bias variants never compose); variants of different families compose when
their knobs do not overlap (:func:`compose`).

Add your own with :func:`register_variant` (exported from ``conformance``)::

    register_variant("my_port", explanation="...", fix="...",
                     knobs={"gate_order": "ifjo", "forget_bias_scale": 0.0})
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from conformance.spec import FEATURES, Case, InvalidArgument, Result, Semantics, reference


@dataclasses.dataclass(frozen=True)
class Variant:
    """One convention variant: knob settings plus the words a report shows."""

    name: str
    explanation: str
    fix: str
    knobs: Mapping[str, Any]
    needs: frozenset[str] = frozenset()
    family: str = ""
    #: The names of the single variants this one is made of (its own name for a catalogue entry).
    components: tuple[str, ...] = ()
    #: For a composition: the single variants it is made of (empty for a catalogue entry).
    parts: tuple[Variant, ...] = ()
    #: Where the mistake was seen (an issue or PR URL), or the convention it follows.
    source: str = ""
    #: A parameter fitted from the failing cases: (knob, low, high) bounds of the search.
    fit: tuple[str, float, float] | None = None
    #: The explanation once fitted: ``{value}`` the fitted knob, ``{cfg}`` the case's LSTMConfig.
    fitted_explanation: str = ""

    @functools.cached_property
    def semantics(self) -> Semantics:
        return Semantics(**dict(self.knobs))

    @property
    def depth(self) -> int:
        return max(1, len(self.components))

    def active(self, case: Case) -> bool:
        """False when ``case`` lacks a feature this variant needs (it then computes what TF does)."""
        return self.needs <= case.features()

    def applicable(self, case: Case) -> bool:
        """Whether the knobs can run on ``case`` (some need square kernel blocks)."""
        return self.semantics.applicable(case)

    def run(self, case: Case) -> Result:
        """The float64 Result this convention gives on ``case`` (outputs [B, T, P], c [B, H], h [B, P])."""
        return reference(case, semantics=self.semantics)


_REGISTRY: dict[str, Variant] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def register_variant(
    name: str,
    *,
    explanation: str,
    fix: str,
    knobs: Mapping[str, Any],
    needs: Iterable[str] = (),
    family: str | None = None,
    replace: bool = False,
    source: str = "",
    fit: tuple[str, float, float] | None = None,
    fitted_explanation: str = "",
) -> Variant:
    """Add a variant to the catalogue the diagnosis tries; returns it.

    ``knobs`` are :class:`conformance.spec._reference.Semantics` fields (at least one, not all
    at TF's defaults); ``needs`` a subset of :data:`conformance.FEATURES`; ``family``
    (default: the name) groups alternatives that never compose with each other.  ``source``
    cites where the mistake was seen.  ``fit=(knob, low, high)`` makes one numeric knob a
    parameter the diagnosis fits from the failing cases (``knobs`` holds its starting value);
    ``fitted_explanation`` then says it, with ``{value}`` and ``{cfg}`` (the case's LSTMConfig).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(f"name={name!r} must be lower_snake_case ([a-z][a-z0-9_]*)")
    if name in _REGISTRY and not replace:
        raise InvalidArgument(f"name={name!r} is already registered (pass replace=True to redefine it)")
    for label, text in (("explanation", explanation), ("fix", fix)):
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument(f"{label}={text!r} must be a non-empty sentence")
    if not isinstance(knobs, Mapping) or not knobs:
        raise InvalidArgument(f"knobs={knobs!r} must be a non-empty mapping of Semantics fields")
    known = {f.name for f in dataclasses.fields(Semantics)}
    unknown = sorted(set(knobs) - known)
    if unknown:
        raise InvalidArgument(f"knobs={dict(knobs)!r} has unknown {unknown}; known: {', '.join(sorted(known))}")
    semantics = Semantics(**dict(knobs))  # validates every value
    if not semantics.changed():
        raise InvalidArgument(f"knobs={dict(knobs)!r} are TF's own semantics: that is no variant")
    if isinstance(needs, str):
        raise InvalidArgument(f"needs={needs!r} must be a collection of feature names, not a string")
    if family is not None and (not isinstance(family, str) or not _NAME.match(family)):
        raise InvalidArgument(f"family={family!r} must be lower_snake_case ([a-z][a-z0-9_]*)")
    if fit is not None:
        if (not isinstance(fit, tuple) or len(fit) != 3 or fit[0] not in knobs
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in fit[1:])
                or not fit[1] < fit[2]):
            raise InvalidArgument(f"fit={fit!r} must be (knob in knobs, low, high) with low < high")
        if not isinstance(fitted_explanation, str) or "{value" not in fitted_explanation:
            raise InvalidArgument(f"fitted_explanation={fitted_explanation!r} must say the fitted {{value}}")
    needs = frozenset(needs)
    bad = sorted(needs - set(FEATURES))
    if bad:
        raise InvalidArgument(f"needs={sorted(needs)!r} has unknown {bad}; known: {', '.join(FEATURES)}")
    variant = Variant(name, " ".join(explanation.split()), " ".join(fix.split()), dict(semantics.changed()),
                      needs, family or name, (name,), source=source or "convention, see docs/mapping.md", fit=fit,
                      fitted_explanation=" ".join(fitted_explanation.split()))
    _REGISTRY[name] = variant
    return variant


def unregister_variant(name: str) -> None:
    """Remove a variant (InvalidArgument if there is none by that name)."""
    if name not in _REGISTRY:
        raise InvalidArgument(f"name={name!r} is not a registered variant")
    del _REGISTRY[name]


def variants() -> list[Variant]:
    """Every registered variant, in catalogue order (which also breaks ties in the ranking)."""
    return list(_REGISTRY.values())


def compose(*variants_: Variant) -> Variant | None:
    """The variant doing all of ``variants_`` at once, or None if two are alternatives (same family or knob)."""
    singles = [q for v in variants_ for q in (v.parts or (v,))]
    families = [q.family for q in singles]
    if len(set(families)) != len(families):
        return None
    knobs: dict[str, Any] = {}
    for q in singles:
        if set(q.knobs) & set(knobs):
            return None
        knobs.update(q.knobs)
    if len(singles) == 1:
        return singles[0]
    ordered = sorted(singles, key=lambda q: _order(q.name))
    return Variant(
        name="+".join(q.name for q in ordered),
        explanation="; and ".join(q.explanation.rstrip(".") for q in ordered) + ".",
        fix="; and ".join(q.fix.rstrip(".") for q in ordered) + ".",
        knobs=knobs,
        needs=frozenset().union(*(q.needs for q in ordered)),
        family="+".join(q.family for q in ordered),
        components=tuple(q.name for q in ordered),
        parts=tuple(ordered),
    )


def _order(name: str) -> int:
    names = list(_REGISTRY)
    return names.index(name) if name in names else len(names)


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table (docs/diagnosis.md embeds it; a test keeps them equal)."""
    rows = ["| variant | family | needs | knobs | what the implementation does | fix | source |",
            "|---|---|---|---|---|---|---|"]
    for v in variants():
        knobs = ", ".join(f"`{k}={v.knobs[k]!r}`" for k in v.knobs)
        if v.fit is not None:
            knobs += f" (`{v.fit[0]}` fitted in [{v.fit[1]:g}, {v.fit[2]:g}])"
        needs = ", ".join(sorted(v.needs)) or "-"
        rows.append(f"| `{v.name}` | {v.family} | {needs} | {knobs} | {v.explanation} | {v.fix} | {v.source} |")
    return "\n".join(rows) + "\n"


# --------------------------------------------------------------------------------------
# The built-in catalogue.  Order matters only for ties: the more common mistakes first.
# --------------------------------------------------------------------------------------

_GATE_NAMES = {"i": "i (input)", "j": "j (cell input)", "f": "f (forget)", "o": "o (output)"}
#: Gate orders other libraries use, written in TF's letters (their c/g gate is TF's j).
_KNOWN_ORDERS = {
    "ifjo": "Keras, PyTorch and Flax use i, f, c, o",
    "iofj": "ONNX uses i, o, f, c",
}
_FORGET_FIX = ("add forget_bias (config.forget_bias, default 1.0) to the forget gate's pre-activation at run "
               "time: sigmoid(f + forget_bias) with f the third column block (gate order i, j, f, o); when "
               "converting to a library without a run-time forget bias, add it to bias[2H:3H] once")
_ORDER_FIX = ("split z = concat([x_t, h_{t-1}]) @ kernel + bias into four column blocks in TF's gate order "
              "i, j, f, o (input, cell input, forget, output); reorder the blocks when converting to a library "
              "with another order")

_BUILTIN: list[dict[str, Any]] = [
    dict(name="forget_bias_missing", family="forget_bias", knobs={"forget_bias_scale": 0.0},
         explanation="forget_bias is not added to the forget gate: TF adds config.forget_bias (default 1.0) to "
                     "the forget gate's pre-activation at run time; it is not part of `bias`",
         fix=_FORGET_FIX),
    dict(name="forget_bias_doubled", family="forget_bias", knobs={"forget_bias_scale": 2.0},
         explanation="forget_bias is added twice (folded into the forget-gate bias and added again at run time)",
         fix="add forget_bias exactly once: either at run time (TF's way) or folded into bias[2H:3H], not both"),
    dict(name="forget_bias_all_gates", family="forget_bias", knobs={"forget_bias_gate": "all"},
         explanation="forget_bias is folded into the whole bias vector, so every gate (i, j, f, o) gets it, "
                     "not only the forget gate",
         fix="add forget_bias to the forget gate's block only (bias[2H:3H] in TF's order i, j, f, o)"),
    dict(name="forget_bias_on_j", family="forget_bias", knobs={"forget_bias_gate": "j"},
         explanation="forget_bias is added to the second column block (TF's cell-input gate j) instead of the "
                     "third (the forget gate): the block where Keras and PyTorch keep f",
         fix="in TF's gate order i, j, f, o the forget gate is the third block: add forget_bias to bias[2H:3H]"),
    dict(name="forget_bias_on_i", family="forget_bias", knobs={"forget_bias_gate": "i"},
         explanation="forget_bias is added to the input gate i (first column block) instead of the forget gate",
         fix="add forget_bias to the forget gate, the third block in TF's order i, j, f, o"),
    dict(name="forget_bias_on_o", family="forget_bias", knobs={"forget_bias_gate": "o"},
         explanation="forget_bias is added to the output gate o (fourth column block) instead of the forget gate",
         fix="add forget_bias to the forget gate, the third block in TF's order i, j, f, o"),
    dict(name="forget_bias_fixed_one", family="forget_bias", knobs={"forget_bias_value": 1.0},
         needs=("forget_bias",),
         explanation="config.forget_bias is ignored: 1.0 (TF's default) is always added to the forget gate",
         fix="add the configured forget_bias (case.config.forget_bias), not a hard-coded 1.0"),
]

for _order_str in ("".join(p) for p in itertools.permutations("ijfo")):
    if _order_str == "ijfo":
        continue
    _known = _KNOWN_ORDERS.get(_order_str)
    _BUILTIN.append(dict(
        name=f"gate_order_{_order_str}", family="gate_order", knobs={"gate_order": _order_str},
        explanation=(f"the kernel/bias column blocks are used in gate order {', '.join(_order_str)} instead of "
                     f"TF's i, j, f, o" + (f" ({_known})" if _known else "")
                     + "; forget_bias goes to the block used as f"),
        fix=_ORDER_FIX,
    ))

_BUILTIN += [
    dict(name="concat_hx", family="concat", knobs={"concat": "hx"},
         explanation="the kernel multiplies concat([h_{t-1}, x_t]); TF's rows act on concat([x_t, h_{t-1}]) "
                     "(the first input_size rows are input weights, the last P rows recurrent weights)",
         fix="concatenate the input first: z = concat([x_t, h_{t-1}], axis=1) @ kernel + bias"),
    dict(name="kernel_reshaped", family="kernel_layout", knobs={"kernel_layout": "reshaped"},
         explanation="the kernel is read in a transposed layout: its memory is taken as a [4H, I+P] matrix "
                     "(PyTorch/ONNX weight layout, or C code indexing W[gate*(I+P) + k]) and transposed; for a square kernel "
                     "(I + P == 4H) this is plain kernel.T",
         fix="the kernel is [I+P, 4H] row-major: element (k, g) is at k*4H + g; use it as given, no reshape"),
    dict(name="input_kernel_transposed", family="input_kernel", knobs={"input_blocks_transposed": True},
         explanation="each gate's input-weight block kernel[:I, gate] ([I, H]) is used transposed "
                     "(a missing or extra transpose when converting from [H, I] weights); visible when I == H",
         fix="use kernel[:input_size, g*H:(g+1)*H] as an [I, H] matrix acting as x_t @ block (no transpose)"),
    dict(name="recurrent_kernel_transposed", family="recurrent_kernel", knobs={"recurrent_blocks_transposed": True},
         explanation="each gate's recurrent block kernel[I:, gate] ([P, H]) is used transposed "
                     "(a missing transpose when converting PyTorch's weight_hh); visible when P == H",
         fix="use kernel[input_size:, g*H:(g+1)*H] as a [P, H] matrix acting as h_{t-1} @ block"),
    dict(name="bias_twice", family="bias", knobs={"bias_scale": 2.0},
         explanation="the bias is added twice (e.g. given as both bias_ih and bias_hh of a two-bias library)",
         fix="add `bias` once; when a library has two biases, put it in one and zeros in the other"),
    dict(name="bias_missing", family="bias", knobs={"bias_scale": 0.0},
         explanation="the bias is never added to the gate pre-activations",
         fix="add `bias` [4H] to z = concat([x_t, h_{t-1}]) @ kernel before splitting the gates"),
    dict(name="hard_sigmoid", family="recurrent_activation", knobs={"recurrent_activation": "hard_sigmoid"},
         explanation="the gates use hard_sigmoid clip(0.2x + 0.5, 0, 1) (Keras 2 / tf.keras "
                     "recurrent_activation default) instead of the logistic sigmoid",
         fix="use sigmoid(x) = 1 / (1 + exp(-x)) for the i, f and o gates (recurrent_activation='sigmoid')"),
    dict(name="hard_sigmoid_keras3", family="recurrent_activation",
         knobs={"recurrent_activation": "hard_sigmoid_keras3"},
         explanation="the gates use Keras 3's hard_sigmoid relu6(x + 3) / 6 (also PyTorch hardsigmoid) instead "
                     "of the logistic sigmoid",
         fix="use sigmoid(x) = 1 / (1 + exp(-x)) for the i, f and o gates (recurrent_activation='sigmoid')"),
    dict(name="activation_ignored", family="activation", knobs={"input_activation": "tanh", "output_activation": "tanh"},
         needs=("activation",),
         explanation="config.activation is ignored: tanh is always used for the cell input and the output",
         fix="apply config.activation (tanh, sigmoid, relu or softsign) to j and to c_t, as TF's activation= does"),
    dict(name="input_activation_missing", family="input_activation", knobs={"input_activation": "identity"},
         explanation="the cell input j is used without its activation (TF: c_t = ... + sigmoid(i) * act(j))",
         fix="apply the cell activation (config.activation, default tanh) to the j gate before sigmoid(i) * act(j)"),
    dict(name="output_activation_missing", family="output_activation", knobs={"output_activation": "identity"},
         explanation="the output is sigmoid(o) * c_t, without the activation of the cell state "
                     "(TF: h_t = sigmoid(o) * act(c_t))",
         fix="apply the cell activation (config.activation, default tanh) to c_t: h_t = sigmoid(o) * act(c_t)"),
]
for _where, _knob, _formula in (("input", "input_activation", "act(j)"), ("output", "output_activation", "act(c_t)")):
    for _fn in ("sigmoid", "tanh", "relu", "softsign"):
        _BUILTIN.append(dict(
            name=f"{_where}_activation_{_fn}", family=f"{_where}_activation", knobs={_knob: _fn},
            explanation=f"{_formula} is computed with {_fn} instead of config.activation",
            fix=f"compute {_formula} with config.activation (default tanh) for the cell {_where}",
        ))
_BUILTIN += [
    dict(name="coupled_input_forget", family="input_gate", knobs={"coupled_input_forget": True},
         explanation="the input gate is coupled to the forget gate (1 - f, CIFG / ONNX input_forget=1) instead "
                     "of its own sigmoid(i)",
         fix="compute the input gate from its own block: sigmoid(i), independent of f"),
    dict(name="peepholes_ignored", family="peepholes", knobs={"peepholes": "ignored"}, needs=("peepholes",),
         explanation="use_peepholes is ignored: w_i_diag, w_f_diag and w_o_diag never reach the gates",
         fix="with use_peepholes add w_i_diag * c_{t-1} to i, w_f_diag * c_{t-1} to f and w_o_diag * c_t to o"),
    dict(name="peephole_output_old_c", family="peepholes", knobs={"peepholes": "output_old_c"},
         needs=("peepholes",),
         explanation="the output-gate peephole sees the previous cell state c_{t-1}; in TF it sees the new "
                     "(clipped) c_t",
         fix="compute c_t (and clip it) first, then o + w_o_diag * c_t"),
]
_PEEPHOLE_NAMES = {
    "fio": ("peepholes_if_swapped", "w_i_diag and w_f_diag are swapped (the input gate peeks with w_f_diag, the "
                                    "forget gate with w_i_diag)"),
    "iof": ("peepholes_fo_swapped", "w_f_diag and w_o_diag are swapped (as when TF's [w_i, w_f, w_o] are read in "
                                    "ONNX's P order [Pi, Po, Pf])"),
    "ofi": ("peepholes_io_swapped", "w_i_diag and w_o_diag are swapped"),
    "foi": ("peepholes_rotated_fio", "the peephole weights are rotated: i uses w_f_diag, f uses w_o_diag, o uses "
                                     "w_i_diag"),
    "oif": ("peepholes_rotated_oif", "the peephole weights are rotated: i uses w_o_diag, f uses w_i_diag, o uses "
                                     "w_f_diag"),
}
for _porder, (_pname, _pexpl) in _PEEPHOLE_NAMES.items():
    _BUILTIN.append(dict(
        name=_pname, family="peephole_order", knobs={"peephole_order": _porder}, needs=("peepholes",),
        explanation=_pexpl,
        fix="w_i_diag * c_{t-1} goes to i, w_f_diag * c_{t-1} to f, w_o_diag * c_t to o",
    ))
_BUILTIN += [
    dict(name="cell_clip_ignored", family="cell_clip", knobs={"cell_clip": "ignored"}, needs=("cell_clip",),
         explanation="cell_clip is ignored: c_t is never clipped",
         fix="clip c_t to [-cell_clip, cell_clip] right after computing it, before the output and before it is "
             "carried to the next step"),
    dict(name="cell_clip_preactivation", family="cell_clip", knobs={"cell_clip": "preactivation"},
         needs=("cell_clip",),
         explanation="cell_clip clips the gate pre-activations (ONNX Runtime's `clip`) instead of the cell state c_t",
         fix="leave the gate pre-activations alone and clip c_t to [-cell_clip, cell_clip]"),
    dict(name="cell_clip_after_output", family="cell_clip", knobs={"cell_clip": "after_output"},
         needs=("cell_clip",),
         explanation="the output is computed from the unclipped c_t; only the carried state is clipped",
         fix="clip c_t before computing the output: h_t = sigmoid(o) * act(clip(c_t))"),
    dict(name="proj_clip_before_projection", family="proj_clip", knobs={"proj_clip": "before"},
         needs=("proj_clip",),
         explanation="proj_clip is applied to m_t before the projection; TF clips the projected output",
         fix="project first, then clip: m_t = clip(m_t @ proj_kernel, -proj_clip, proj_clip)"),
    dict(name="proj_clip_ignored", family="proj_clip", knobs={"proj_clip": "ignored"}, needs=("proj_clip",),
         explanation="proj_clip is ignored: the projected output is never clipped",
         fix="clip the projected output: m_t = clip(m_t @ proj_kernel, -proj_clip, proj_clip)"),
    dict(name="initial_state_ignored", family="initial_state", knobs={"initial_state": "ignored"},
         needs=("initial_state",),
         explanation="the initial state is ignored: the candidate starts from zeros",
         fix="start the recurrence from case.initial_state (c [B, H], h [B, P])"),
    dict(name="initial_state_swapped", family="initial_state", knobs={"initial_state": "swapped"},
         needs=("initial_state",),
         explanation="the initial state is read as (h, c) (Keras's [h, c] order) instead of TF's (c, h)",
         fix="TF's LSTMStateTuple is (c, h): c0 = case.initial_state.c, h0 = case.initial_state.h"),
    dict(name="final_state_hc", family="final_state", knobs={"final_state": "hc"},
         explanation="the final state is returned as (h, c); TF returns LSTMStateTuple(c, h)",
         fix="return (outputs, (c, h)) with c the cell state [B, H] and h the output state [B, P]"),
]

from conformance.diagnose._variants_more import MORE_VARIANTS, SOURCES  # noqa: E402
from conformance.diagnose._variants_network import NETWORK_VARIANTS  # noqa: E402  (the catalogue continues there)

_BUILTIN += MORE_VARIANTS + NETWORK_VARIANTS

for _entry in _BUILTIN:
    register_variant(**{"source": SOURCES.get(_entry["name"], ""), **_entry})
del _entry
