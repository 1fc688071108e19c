"""Stacked and bidirectional cases: validation, naming, slicing, the spec's network semantics and knobs,
and per-cell localization (no TensorFlow: the float64 spec only)."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.spec import (
    Case,
    InitialState,
    InvalidArgument,
    LSTMConfig,
    LSTMLayer,
    LSTMParams,
    Semantics,
    reference,
)

B, T = 3, 4


def _cell(rng, I, H, P=None, peep=False, fb=1.0):
    cfg = LSTMConfig(num_units=H, input_size=I, num_proj=P, use_peepholes=peep, forget_bias=fb)
    Pp = cfg.output_size

    def f(*s):
        return (rng.standard_normal(s) * 0.7).astype(np.float32)

    diag = [f(H), f(H), f(H)] if peep else [None] * 3
    return cfg, LSTMParams(f(I + Pp, 4 * H), f(4 * H), *diag, f(H, Pp) if P else None), InitialState(f(B, H), f(B, Pp))


def network(*, layers=2, bidirectional=True, seed=0, lengths=(4, 2, 0)) -> Case:
    rng = np.random.default_rng(seed)
    cfg, params, state = _cell(rng, 3, 4, peep=True, fb=0.5)
    upper, backward = [], []
    width = cfg.output_size
    if bidirectional:
        backward.append(LSTMLayer(*_cell(rng, 3, 3, P=2)))
        width += 2
    for _ in range(1, layers):
        upper.append(LSTMLayer(*_cell(rng, width, 5, P=3)))
        nxt = 3
        if bidirectional:
            backward.append(LSTMLayer(*_cell(rng, width, 2)))
            nxt += 2
        width = nxt
    x = (rng.standard_normal((B, T, 3))).astype(np.float32)
    seq = None if lengths is None else np.array(lengths, np.int32)
    return Case(cfg, params, x, state, seq, tuple(upper), tuple(backward)).validate()


def test_cells_are_listed_layer_by_layer_and_named_by_place():
    case = network()
    assert [(k, d) for k, d, _ in case.cells()] == [(0, "forward"), (0, "backward"), (1, "forward"), (1, "backward")]
    names = set(case.arrays())
    assert {"kernel", "bw/kernel", "layer2/kernel", "layer2_bw/kernel", "layer2_bw/c0"} <= names
    assert set(case.result_shapes()) == {"outputs", "outputs_bw", "c", "h", "bw/c", "bw/h", "layer2/c", "layer2/h",
                                         "layer2_bw/c", "layer2_bw/h"}
    assert {"stacked", "bidirectional", "sequence_length"} <= case.features()


def test_a_network_whose_sizes_do_not_chain_is_refused_naming_the_cell():
    case = network()
    wrong = case.upper[0].config.replace(input_size=4)
    bad_cell = LSTMLayer(wrong, case.upper[0].params, case.upper[0].initial_state)
    with pytest.raises(InvalidArgument, match="layer 2 forward: input_size=4 but layer 1 gives it 6 inputs"):
        Case(case.config, case.params, case.inputs, case.initial_state, case.sequence_length, (bad_cell,),
             case.backward).validate()
    with pytest.raises(InvalidArgument, match="backward has 1 cells for 2 layers"):
        Case(case.config, case.params, case.inputs, case.initial_state, None, case.upper, case.backward[:1]).validate()


def test_slicing_and_dtype_reach_every_cell():
    case = network()
    rows = case.slice_batch([2, 0])
    assert all(cell.initial_state.c.shape[0] == 2 for _, _, cell in rows.cells())
    half = case.astype("float16")
    assert all(a.dtype == np.float16 for a in half.arrays().values())
    zeroed = case.with_arrays({"layer2_bw/kernel": np.zeros_like(case.backward[1].params.kernel)})
    assert not zeroed.backward[1].params.kernel.any() and case.backward[1].params.kernel.any()


def test_the_backward_cell_reads_each_row_reversed_within_its_length():
    case = network(layers=1)
    got = reference(case)
    # Row 1 (length 2) alone, its two steps reversed, through the backward cell as a plain forward cell.
    bw = case.backward[0]
    x = case.batch_major_inputs[1:2, :2][:, ::-1]
    alone = Case(bw.config, bw.params, np.ascontiguousarray(x), InitialState(bw.initial_state.c[1:2],
                                                                             bw.initial_state.h[1:2])).validate()
    want = reference(alone)
    assert np.allclose(got.arrays()["outputs_bw"][1, :2], want.outputs[0, ::-1])
    assert not got.arrays()["outputs_bw"][1, 2:].any() and not got.arrays()["outputs_bw"][2].any()
    assert np.allclose(got.arrays()["bw/c"][1], want.c[0])


@pytest.mark.parametrize("knob, value", [("bw_outputs", "reversed"), ("bw_reverse", "whole"),
                                         ("concat_order", "bw_fw"), ("bw_weights", "forward"),
                                         ("upper_input", "forward_only")])
def test_each_network_knob_changes_the_result(knob, value):
    case = network(seed=3)
    semantics = Semantics(**{knob: value})
    if not semantics.applicable(case):
        case = _square_network()
    assert semantics.applicable(case)
    a, b = reference(case).arrays(), reference(case, semantics=semantics).arrays()
    assert any(not np.allclose(a[k], b[k]) for k in a), f"{knob}={value} changed nothing"


def _square_network() -> Case:
    """Every cell [I=H=P=3] (for the knobs that need equal shapes)."""
    rng = np.random.default_rng(7)
    first = _cell(rng, 3, 3)
    up = LSTMLayer(*_cell(rng, 6, 3))
    return Case(first[0], first[1], rng.standard_normal((B, T, 3)).astype(np.float32), first[2],
                np.array([4, 2, 1], np.int32), (up,), (LSTMLayer(*_cell(rng, 3, 3)), LSTMLayer(*_cell(rng, 6, 3)))).validate()


def test_localization_names_the_cell_whose_state_diverges():
    from conformance import candidate
    from conformance.diagnose import localize
    from tests.wrong_impls import executor_for

    case = network(seed=4)

    @candidate(features=["stacked", "bidirectional", "sequence_length", "initial_state", "peepholes", "projection",
                         "forget_bias"], dtypes=["float32"])
    def top_backward_state_zeroed(c):
        from conformance.candidates import resolve

        outputs, states = resolve("numpy-reference").fn(c)
        (fw, (cb, hb)) = states[-1]
        return outputs, (*states[:-1], (fw, (np.zeros_like(cb), np.zeros_like(hb))))

    ex = executor_for(top_backward_state_zeroed)
    loc = localize(case, ex.run(case), ex)
    assert "final state of layer 2 backward diverges" in loc.summary, loc.summary
    assert "layer 1 forward, layer 1 backward, layer 2 forward agree" in loc.summary, loc.summary
