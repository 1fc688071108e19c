"""Issue 14's done-when for stacked and bidirectional networks, against the real TF oracle: the correct numpy
candidate is conformant over 300 examples with stacks, both directions and row lengths (and time-major inputs);
hand-written network mistakes are caught within 300 examples, minimized (one layer when the mistake is inside a
layer, two when it lies between layers) and diagnosed first as their variant.

The wrong networks are hand-written in tests/wrong_impls.py (:class:`~tests.wrong_impls.Network`, composed from
the one-cell :class:`~tests.wrong_impls.Cell`, and one subclass per mistake); the runs use fixed seeds.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from conformance import CheckOptions, check, resolve
from conformance.candidates import LoadedCandidate, info_of
from conformance.candidates._protocol import normalise_for, to_batch_major
from conformance.diagnose import diagnose
from conformance.run import minimize
from conformance.spec import reference
from tests import wrong_impls as W

NETWORK = ["stacked", "bidirectional", "sequence_length"]


def loaded(fn) -> LoadedCandidate:
    info = info_of(fn)
    return LoadedCandidate(info.name, info.name, fn, info, "module")


def first_failure_counter():
    """A progress callback recording the examples run when the first failure was seen."""
    seen: list[int] = []

    def progress(p) -> None:
        if p.failures and not seen:
            seen.append(p.examples)

    return seen, progress


# ------------------------------------------------------------------- the wrong networks' correct parts
@pytest.mark.parametrize("changes", [
    {"layers": 2},
    {"bidirectional": True, "sequence_length": (4, 1, 0)},
    {"layers": 3, "bidirectional": True, "sequence_length": (4, 2, 0)},
    {"layers": 2, "bidirectional": True, "time_major": True, "num_proj": 3, "use_peepholes": True,
     "cell_clip": 0.5, "other_cells": {"num_units": 3}, "sequence_length": (3, 4)},
], ids=["stack", "bidirectional", "stacked-bidirectional", "options-time-major"])
def test_the_wrong_networks_base_is_the_spec(changes):
    """``Network`` (no mistake) equals the float64 spec bit for bit, so only the planted mistake differs."""
    case = W.dense_case(changes, dtype="float64", seed=7)
    got = to_batch_major(case, normalise_for(case, W.Network(case).run()))
    want = reference(case)
    assert sorted(got.arrays()) == sorted(want.arrays()) == sorted(case.result_shapes())
    for name, expected in want.arrays().items():
        np.testing.assert_array_equal(got.arrays()[name], expected, err_msg=f"{name} for {changes}")


@pytest.mark.parametrize("name", sorted(W.NETWORK_LAYERS))
def test_network_mistake_is_minimized_to_the_layers_it_needs(name):
    """From a two-layer start: minimized to one layer when the mistake is inside a layer, kept at two when it
    lies between layers; diagnosed first as its variant (against the float64 spec: no TF)."""
    cell, changes = W.WRONG[name]
    ex = W.executor_for(W.as_candidate(cell, name))
    case = W.dense_case(changes, seed=1)
    assert case.num_layers == 2
    case = minimize(case, W.spec_fails(ex), max_evaluations=200, max_seconds=30)
    assert case.num_layers == W.NETWORK_LAYERS[name], f"{name}: minimized to {case.num_layers} layer(s)"
    assert case.bidirectional == (name != "layer_fed_cell_state"), case.describe()
    assert case.batch == 1 and case.time <= 2, case.describe()
    ranked = [m.variant for m in diagnose(case, ex.run(case), ex).matches]
    assert ranked[:1] == [name], ranked


# The post-minimiser on networks: every cell shrinks, and a direction a mistake does not need goes.
def test_a_forward_stack_mistake_found_in_a_bidirectional_stack_is_minimized_to_a_forward_stack():
    """Feeding c upward shows without any backward direction: the minimized case should be a forward stack."""
    ex = W.executor_for(W.as_candidate(W.LayerFedCellState, "layer-fed-c"))
    case = W.dense_case({"layers": 2, "bidirectional": True}, seed=1)
    case = minimize(case, W.spec_fails(ex), max_evaluations=300, max_seconds=10)
    assert case.num_layers == 2 and not case.bidirectional, case.describe()


@pytest.mark.parametrize("name, changes", [
    ("backward_outputs_not_rereversed", {"bidirectional": True, "num_units": 3, "input_size": 3}),
    ("layer_fed_cell_state", {"layers": 2, "num_units": 3, "other_cells": {"num_units": 3}}),
], ids=["bidirectional", "stack"])
def test_network_minimization_shrinks_every_cells_sizes(name, changes):
    """A mistake that shows with one input and one unit per cell is minimized to that, in every cell (as a
    one-cell case is)."""
    ex = W.executor_for(W.as_candidate(W.WRONG[name][0], name))
    case = W.dense_case(changes, seed=1)
    case = minimize(case, W.spec_fails(ex), max_evaluations=400, max_seconds=20)
    sizes = [(k + 1, d, c.config.input_size, c.config.num_units) for k, d, c in case.cells()]
    assert case.config.input_size == 1 and all(units == 1 for *_, units in sizes), sizes


# --------------------------------------------------------------------------- numpy-reference is conformant
@pytest.mark.parametrize("time_major", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["batch-major", "time-major"])
def test_numpy_reference_is_conformant_on_networks_over_300_examples(oracle, time_major):
    loaded_ref = resolve("numpy-reference")
    seen: Counter = Counter()

    def counting(case):
        seen["cases"] += 1
        seen[f"layers={case.num_layers}"] += 1
        seen["bidirectional"] += case.bidirectional
        seen["stacked_bidirectional"] += case.bidirectional and case.num_layers > 1
        seen["padded"] += case.padded_steps() > 0
        seen["time_major"] += case.config.time_major
        return loaded_ref.fn(case)

    features = NETWORK + (["time_major"] if time_major else [])
    result = check(dataclasses.replace(loaded_ref, fn=counting),
                   CheckOptions(max_examples=300, seed=3, features=features), oracle=oracle)
    assert result.verdict == "conformant", (result.verdict, result.counterexample
                                            and result.counterexample.comparison.message)
    assert result.examples >= 300 and set(result.features) == set(features), (result.examples, result.features)
    assert set(result.dtypes) == {"float16", "bfloat16", "float32", "float64"}, result.dtypes
    # Networks are drawn in one case of four per feature unless required (strategies/_topology.py).
    assert all(seen[f"layers={k}"] >= 15 for k in (1, 2, 3)), seen
    assert seen["bidirectional"] >= 40 and seen["stacked_bidirectional"] >= 8 and seen["padded"] >= 50, seen
    assert (seen["time_major"] >= 50) if time_major else (seen["time_major"] == 0), seen


# ------------------------------------------------------------------ network mistakes through the real check
#: The network features a port without projections declares (feeding c upward needs H == P).
NO_PROJECTION = ("forget_bias", "initial_state", "peepholes", "cell_clip", "activation", "sequence_length",
                 "stacked", "bidirectional")


@pytest.mark.parametrize("variant, features, seed", [
    ("backward_outputs_not_rereversed", None, 0),
    ("backward_whole_sequence_reversed", None, 1),
    ("layer_fed_cell_state", NO_PROJECTION, 2),
])
def test_network_mistake_is_caught_minimized_and_diagnosed(oracle, variant, features, seed):
    cell, _ = W.WRONG[variant]
    fn = W.as_candidate(cell, variant.replace("_", "-"), features=features, dtypes=("float32", "float64"))
    seen, progress = first_failure_counter()
    result = check(loaded(fn), CheckOptions(max_examples=300, seed=seed, features=NETWORK, progress=progress),
                   oracle=oracle)
    assert result.verdict == "nonconformant", result.verdict
    assert seen and seen[0] <= 300, f"first failure after {seen} examples"
    cx = result.counterexample
    case = cx.case
    shape = f"layers {case.num_layers}, batch {case.batch}, time {case.time}, lengths {case.sequence_length}"
    print(f"{variant}: first failure after {seen[0]} examples; minimized to {shape}; "
          f"diagnosis {[m.variant for m in cx.diagnosis][:3]}")
    assert cx.kind == "mismatch", (cx.kind, cx.comparison.message)
    assert [m.variant for m in cx.diagnosis][:1] == [variant], [m.variant for m in cx.diagnosis]
    best = cx.diagnosis[0]
    assert best.explained_cases == best.tried_cases, best
    assert case.num_layers == W.NETWORK_LAYERS[variant], shape
    assert case.batch == 1 and case.time <= 3, shape
    if variant == "backward_whole_sequence_reversed":
        assert case.bidirectional and case.padded_steps() >= 1, shape
    # layer_fed_cell_state keeps the backward direction it was found with (a stacked bidirectional case cannot
    # drop it yet): see test_a_forward_stack_mistake_found_in_a_bidirectional_stack_is_minimized_to_a_forward_stack.
