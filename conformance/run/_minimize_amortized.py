"""Post-minimisation for a candidate that pays per parameter set (``per_params_cost``: a converter).

Every change of the config, the weights, the batch size or the number of steps makes such a
candidate convert again (~0.2-4 s); a change of the inputs, the initial state or the row lengths'
values runs the model it already holds (~1 ms).  So the inputs are minimised first with the
parameter set fixed -- zeroed whole, then entry by entry, then rounded -- and only then does
:func:`~conformance.run._minimize.minimize` shrink the rest (sizes, options, weights), re-converting
for each trial, with the time left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

import numpy as np

from conformance.run._minimize import _round_entries, _zero_arrays, _zero_entries, minimize
from conformance.spec import Case


def same_parameters(a: Case, b: Case) -> bool:
    """Whether ``a`` and ``b`` share the parameter set a converter bakes in: config, every weight, batch,
    time, network cells, and whether row lengths are an input."""
    if (a.config != b.config or a.batch != b.batch or a.time != b.time
            or (a.sequence_length is None) != (b.sequence_length is None) or len(a.cells()) != len(b.cells())):
        return False
    for (_, _, x), (_, _, y) in zip(a.cells(), b.cells()):
        if x.config != y.config:
            return False
        px, py = x.params.arrays(), y.params.arrays()
        if px.keys() != py.keys() or any(not np.array_equal(px[k], py[k]) for k in px):
            return False
    return True


def minimize_amortized(case: Case, still_fails: Callable[[Case], bool], *, max_evaluations: int = 600,
                       max_seconds: float = 60.0, dtypes: Collection[str] | None = None,
                       keep_features: Collection[str] = ()) -> Case:
    """:func:`~conformance.run._minimize.minimize`, after a pass over the inputs alone (the parameter set
    fixed: no re-conversion) that may use up to half of ``max_seconds`` and ``max_evaluations``."""
    started = time.monotonic()
    left = [max_evaluations // 2]
    deadline = started + max_seconds / 2
    kept = frozenset(keep_features) & case.features()

    def attempt(trial: Case | None) -> bool:
        if (trial is None or left[0] <= 0 or time.monotonic() > deadline or not same_parameters(trial, case)
                or not kept <= trial.features()):
            return False
        left[0] -= 1
        try:
            trial.validate()
        except ValueError:
            return False
        return bool(still_fails(trial))

    current = case
    for step in (_zero_arrays, _zero_entries, _round_entries):
        current = step(current, attempt)
    used = max_evaluations // 2 - left[0]
    return minimize(current, still_fails, max_evaluations=max(1, max_evaluations - used),
                    max_seconds=max(0.0, max_seconds - (time.monotonic() - started)), dtypes=dtypes,
                    keep_features=keep_features)
