"""The catalogue's entries for row lengths, layouts, stacks and bidirectional networks (conformance.diagnose._variants
registers them after the cell-level ones, in this order)."""

from __future__ import annotations

from typing import Any

_LENGTHS = ("sequence_length",)
_PADDED_FIX = ("past row b's length (t >= sequence_length[b]) write zeros to outputs[b, t] and carry the state "
               "unchanged, as dynamic_rnn does")
NETWORK_VARIANTS: list[dict[str, Any]] = [
    dict(name="padded_outputs_repeat_last", family="padded_outputs", knobs={"padded_outputs": "repeat_last"},
         needs=_LENGTHS,
         explanation="past a row's end the outputs repeat the row's last valid output (Keras masking "
                     "semantics); dynamic_rnn writes zeros there",
         fix=_PADDED_FIX),
    dict(name="padded_outputs_initial_h", family="padded_outputs", knobs={"padded_outputs": "initial_h"},
         needs=_LENGTHS,
         explanation="past a row's end the outputs hold the initial h; dynamic_rnn writes zeros there",
         fix=_PADDED_FIX),
    dict(name="padded_outputs_computed", family="padded_outputs", knobs={"padded_outputs": "computed"},
         needs=_LENGTHS,
         explanation="past a row's end the outputs are left as whatever the recurrence computes over the "
                     "padding (never zeroed), though the final state stops at the row's end",
         fix=_PADDED_FIX),
    dict(name="final_state_at_end", family="final_state_step", knobs={"final_state_step": "end"},
         needs=_LENGTHS,
         explanation="the final state is the one after step T - 1: the recurrence ran on over the padding; "
                     "dynamic_rnn returns row b's state after step sequence_length[b] - 1",
         fix="stop updating row b's (c, h) at t >= sequence_length[b] (or gather the state at step L[b] - 1; "
             "the initial state for L[b] = 0)"),
    dict(name="sequence_length_ignored", family="sequence_length",
         knobs={"padded_outputs": "computed", "final_state_step": "end"}, needs=_LENGTHS,
         explanation="sequence_length is ignored: every row runs all T steps, padding fed as input; outputs "
                     "past the end are not zeroed and the final state is taken at step T - 1",
         fix="pass the lengths on (pack the sequence, or mask): outputs past row b's end are zeros and its "
             "final state is the one after step sequence_length[b] - 1"),
    dict(name="empty_rows_run_one_step", family="zero_length", knobs={"zero_length_as_one": True},
         needs=_LENGTHS,
         explanation="a row of length 0 is run for one step (a length clamped to >= 1, as packing "
                     "libraries require); dynamic_rnn returns zeros and the initial state for it",
         fix="a row with sequence_length 0 outputs zeros at every step and returns its initial state unchanged"),
    dict(name="empty_rows_zero_state", family="empty_row_state", knobs={"empty_row_state": "zeros"},
         needs=_LENGTHS,
         explanation="a row of length 0 returns a zero final state; dynamic_rnn returns its initial state "
                     "(onnxruntime's LSTM does this)",
         fix="for a row with sequence_length 0 return the initial (c, h) unchanged"),
    dict(name="empty_rows_last_step_state", family="empty_row_state", knobs={"empty_row_state": "last_step"},
         needs=_LENGTHS,
         explanation="a row of length 0 returns the state after step T - 1 (the final state is gathered at "
                     "index L - 1, which wraps to -1; Flax's nnx.RNN does this); dynamic_rnn returns its "
                     "initial state",
         fix="gather the final state at L - 1 only for L > 0; a row with sequence_length 0 keeps its initial "
             "(c, h)"),
    dict(name="time_major_confused", family="layout", knobs={"layout": "swapped"}, needs=("time_major",),
         explanation="the time-major inputs [T, B, I] are read as batch-major [B, T, I] (and the outputs "
                     "written so): rows and steps swapped; shows as such when B == T, as a shape error otherwise",
         fix="with time_major the inputs are [T, B, I]: x_t = inputs[t]; return outputs [T, B, P]"),
]

_NET = ("stacked",)
_BI = ("bidirectional",)
NETWORK_VARIANTS += [
    dict(name="backward_outputs_not_rereversed", family="bw_outputs", knobs={"bw_outputs": "reversed"}, needs=_BI,
         explanation="the backward direction's outputs are returned in the order the backward pass produced them: "
                     "bidirectional_dynamic_rnn reverses them back, so out_bw[b, t] belongs to input step t",
         fix="reverse the backward outputs back within each row's length (tf.reverse_sequence with the lengths)"),
    dict(name="backward_whole_sequence_reversed", family="bw_reverse", knobs={"bw_reverse": "whole"},
         needs=_BI + ("sequence_length",),
         explanation="the backward pass reverses the whole padded sequence, so a short row starts on its padding; "
                     "TF reverses each row within its own length (reverse_sequence)",
         fix="reverse row b's first sequence_length[b] steps only (tf.reverse_sequence(x, L, seq_axis, batch_axis)), "
             "for the inputs and again for the outputs"),
    dict(name="concat_bw_fw", family="concat_order", knobs={"concat_order": "bw_fw"}, needs=_BI + _NET,
         explanation="a bidirectional layer feeds the next layer concat([out_bw, out_fw]); "
                     "stack_bidirectional_dynamic_rnn feeds concat([out_fw, out_bw])",
         fix="concatenate forward first: next_input = concat([out_fw, out_bw], axis=-1)"),
    dict(name="layer_fed_cell_state", family="layer_input", knobs={"layer_input": "c"}, needs=_NET,
         explanation="each upper layer is fed the layer below's cell state c instead of its output h "
                     "(MultiRNNCell passes the output m)",
         fix="feed layer k the output h (m, after the projection) of layer k - 1, not its cell state"),
    dict(name="initial_states_direction_major", family="initial_state_order",
         knobs={"initial_state_order": "direction_major"}, needs=_BI + _NET + ("initial_state",),
         explanation="the per-layer, per-direction initial states are read direction-major (all forward layers, "
                     "then all backward); they are laid out layer by layer, forward then backward (torch's "
                     "[layers * directions, B, H] is layer-major too)",
         fix="index the initial states as [layer][direction] (flat: layer * 2 + direction)"),
    dict(name="backward_uses_forward_weights", family="bw_weights", knobs={"bw_weights": "forward"}, needs=_BI,
         explanation="the backward direction runs with the forward cell's parameters instead of its own",
         fix="give the backward cell its own kernel, bias, peepholes and projection (the backward weights)"),
    dict(name="upper_layer_gets_forward_half", family="upper_input", knobs={"upper_input": "forward_only"},
         needs=_BI + _NET,
         explanation="an upper layer is fed only the forward half of the bidirectional layer below (its kernel's "
                     "rows for the backward half meet zeros)",
         fix="feed layer k concat([out_fw, out_bw]) of layer k - 1, both halves"),
]
