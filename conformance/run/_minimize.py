"""Post-minimisation: after Hypothesis has shrunk a failure, make the case readable.

Hypothesis shrinks the *choices* behind a case (sizes, modes, seeds); a dense
seeded array survives that as a block of random numbers.  This pass works on
the case itself, greedily, keeping each change only while the case still fails
the same way: a simpler dtype, fewer batch rows and time steps (a shorter
prefix, a later start), fewer input columns and units, simpler options, then
zeroed and rounded numbers.  It is deterministic, so the
same failure found by serial and parallel runs ends in the same case.
"""

from __future__ import annotations

import dataclasses
import functools
import time as _time
from collections.abc import Callable, Collection, Iterable

import numpy as np

from conformance.run._shrink_cells import (
    cell_config,
    drop_input,
    forward_only,
    output_count,
    output_dropper,
    unit_count,
    unit_dropper,
)
from conformance.run._simpler import complexity, config_floats, round_config, simpler_values
from conformance.spec import DTYPES_SIMPLEST_FIRST, Case


class _Budget:
    def __init__(self, max_evaluations: int, max_seconds: float):
        self.left = max_evaluations
        self.deadline = _time.monotonic() + max_seconds

    def ok(self) -> bool:
        return self.left > 0 and _time.monotonic() < self.deadline


def minimize(
    case: Case,
    still_fails: Callable[[Case], bool],
    *,
    max_evaluations: int = 600,
    max_seconds: float = 60.0,
    dtypes: Collection[str] | None = None,
    keep_features: Collection[str] = (),
) -> Case:
    """Return the simplest case found for which ``still_fails`` holds (``case`` itself at worst).

    ``dtypes``: the dtypes the case may be moved to (None: any); ``keep_features``:
    features the case must keep exercising (a run that requires them).
    """
    budget = _Budget(max_evaluations, max_seconds)
    simplifications = _config_simplifications(dtypes, frozenset(keep_features))

    kept = frozenset(keep_features) & case.features()

    def attempt(candidate: Case | None) -> bool:
        if candidate is None or not budget.ok() or not kept <= candidate.features():
            return False
        budget.left -= 1
        try:
            candidate.validate()
        except ValueError:
            return False
        return bool(still_fails(candidate))

    # The element steps stop building trials once the budget is spent (a large array has a million).
    attempt.spent = lambda: not budget.ok()  # type: ignore[attr-defined]
    current = case
    for _ in range(3):  # a later pass can enable an earlier one (e.g. zeroing enables a smaller batch)
        before = simplicity_key(current)
        # A simpler dtype first (it can need fewer steps), and fewer layers and directions (every later step
        # then has fewer cells to shrink).
        current = _simpler_config(current, attempt, [x for x in simplifications if x[0] in _EARLY])
        for step in (_fewer_rows, _fewer_steps, _smaller_square, _later_start, _longer_rows, _fewer_inputs, _fewer_units,
                     functools.partial(_simpler_config, simplifications=simplifications), _zero_arrays,
                     _zero_entries, _round_entries, round_config):
            current = step(current, attempt)
        if simplicity_key(current) == before or not budget.ok():
            break
    return current


#: The config simplifications tried before the size steps.
_EARLY = frozenset({"dtype", "bidirectional", "stacked"})


def simplicity_key(case: Case) -> tuple:
    """The one simplicity order of cases (smaller is simpler): sizes, padded steps, then non-zero numbers,
    features and digits (of the numbers and of the config's forget_bias, cell_clip and proj_clip)."""
    nonzero = case.nonzero_values()
    # Digits only break ties between cases of equal sizes and counts: past _READABLE numbers (a large case)
    # every number counts as the most digits a float has, rather than reading a million of them one by one.
    digits = (18.0 * nonzero if nonzero > _READABLE
              else sum(complexity(v) for e in case.nonzero_entries() for v in [e["value"]]))
    return (case.batch, case.time, case.config.input_size, case.config.num_units, case.padded_steps(),
            nonzero, sorted(case.features()),
            digits + sum(complexity(v) for _, _, cell in case.cells() for v in config_floats(cell.config).values()))


#: Most non-zero numbers whose digits simplicity_key reads one by one.
_READABLE = 4096


def _first(options: Iterable[Case | None], attempt: Callable[[Case | None], bool]) -> Case | None:
    for option in options:
        if attempt(option):
            return option
    return None


def _fewer_rows(case: Case, attempt) -> Case:
    # Any one row alone first (most failures show in a single row), then fewer rows.
    return _shrink_axis(case, lambda c: c.batch,
                        lambda c, rows: c.slice_batch([r for r in range(c.batch) if r not in rows]), attempt,
                        singles=True)


#: Most indices tried one by one (alone, or dropped): past this only bisection runs, so a size axis costs
#: O(log n) attempts (a failure that needs 33 of 1024 units is at 33 after about 20 attempts, then each of
#: the 33 is tried once).
_ONE_BY_ONE = 64
#: Most rows tried alone (any row, not only the first): bisection finds a lone row further down.
_SINGLES = 8


def _shrink_axis(case: Case, size: Callable[[Case], int], drop: Callable[[Case, set[int]], Case], attempt,
                 *, singles: bool = False) -> Case:
    """Remove indices along one axis while the case fails: all but the first (with ``singles``, all but
    any one of the first _SINGLES), then the shortest failing prefix and the latest failing start, both
    by bisection (a failure past a size threshold keeps exactly the threshold's size), then, where at most
    _ONE_BY_ONE are left, one at a time from the end.  Few attempts when the axis can go at once (each
    attempt may cost a time-out, for a hanging candidate)."""
    n = size(case)
    if n <= 1:
        return case
    keep_one = range(min(n, _SINGLES)) if singles else range(1)
    found = _first((drop(case, set(range(n)) - {k}) for k in keep_one), attempt)
    if found is not None:
        return found
    lo, hi = 2, n  # keeping the first index alone failed; the whole axis fails
    while lo < hi:
        mid = (lo + hi) // 2
        if attempt(drop(case, set(range(mid, n)))):
            hi = mid
        else:
            lo = mid + 1
    if hi < n:
        case, n = drop(case, set(range(hi, n))), hi
    lo, hi = 0, n - 2  # the latest start that still fails (starting at n - 1 is keeping one alone)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if attempt(drop(case, set(range(mid)))):
            lo = mid
        else:
            hi = mid - 1
    if lo > 0:
        case = drop(case, set(range(lo)))
    k = size(case) - 1
    while size(case) <= _ONE_BY_ONE and k >= 0 and size(case) > 1:
        trial = drop(case, {k})
        if attempt(trial):
            case = trial
        k = min(k - 1, size(case) - 1)
    return case


def _dropping(drop_many: Callable[[Case, list[int]], Case]) -> Callable[[Case, set[int]], Case]:
    def drop(case: Case, indices: set[int]) -> Case:
        return drop_many(case, sorted(indices))

    return drop


def _fewer_steps(case: Case, attempt) -> Case:
    if case.time == 1:
        return case
    # Shortest prefix that still fails: outputs at step t never depend on later steps.
    lo, hi = 1, case.time  # hi fails (it is the case itself)
    while lo < hi:
        mid = (lo + hi) // 2
        if attempt(case.slice_time(0, mid)):
            hi = mid
        else:
            lo = mid + 1
    return case.slice_time(0, hi) if hi < case.time else case


def _smaller_square(case: Case, attempt) -> Case:
    """Batch and time down together while they are equal: a failure that needs B == T (rows and steps
    confused) survives no single-axis step, but a smaller square still shows it."""
    while case.batch == case.time > 1:
        n = case.batch - 1
        trial = case.slice_batch(slice(0, n)).slice_time(0, n)
        if not attempt(trial):
            break
        case = trial
    return case


def _later_start(case: Case, attempt) -> Case:
    """Drop leading steps (the initial state kept): a failure that needs one late input often
    shows from that step alone.  The latest start that still fails, of a few tried."""
    T = case.time
    for start in sorted({T - 1, (3 * T) // 4, T // 2, T // 4} - {0}, reverse=True):
        trial = case.slice_time(start, T)
        if attempt(trial):
            return trial
    return case


def _longer_rows(case: Case, attempt) -> Case:
    """Fewer padded steps: each short row made full length, else as long as it can be while the
    case fails (a failure past a row's end needs one padded step, not many)."""
    if case.sequence_length is None:
        return case
    T = case.time
    for b in range(case.batch):
        lo, hi = int(case.lengths()[b]), T  # lo fails (the case itself)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lengths = case.lengths().copy()
            lengths[b] = mid
            trial = case.with_sequence_length(lengths)
            if attempt(trial):
                case, lo = trial, mid
            else:
                hi = mid - 1
    return case


def _fewer_inputs(case: Case, attempt) -> Case:
    return _shrink_axis(case, lambda c: c.config.input_size, _dropping(drop_input), attempt)


def _fewer_units(case: Case, attempt) -> Case:
    """Fewer units (and projected outputs) in every cell of the case, the first cell first."""
    for k, d, _ in case.cells():
        place = (k, d)
        case = _shrink_axis(case, unit_count(place), _dropping(unit_dropper(place)), attempt)
        if cell_config(case, place).num_proj is not None:
            case = _shrink_axis(case, output_count(place), _dropping(output_dropper(place)), attempt)
    return case


def _no_peepholes(case: Case) -> Case:
    return dataclasses.replace(case, config=case.config.replace(use_peepholes=False),
                               params=case.params.replace(w_i_diag=None, w_f_diag=None, w_o_diag=None))


def _zero_state(case: Case) -> Case:
    s = case.initial_state
    return case.with_initial_state(np.zeros_like(s.c), np.zeros_like(s.h))


def _simpler_dtype(dtypes: Collection[str] | None) -> Callable[[Case], Case | None]:
    def simplify(case: Case) -> Case | None:
        order = [d for d in DTYPES_SIMPLEST_FIRST if dtypes is None or d in dtypes]
        rank = order.index(case.config.dtype) if case.config.dtype in order else len(order)
        return case.astype(order[0]) if order and rank > 0 else None

    return simplify


def _config_simplifications(dtypes: Collection[str] | None,
                            keep: frozenset[str]) -> list[tuple[str, Callable[[Case], Case | None]]]:
    """(feature, simplify) pairs, dtype first; each is tried on the current case and kept if it still fails.

    ``simplify`` returns None where it does not apply; a feature in ``keep`` is never simplified away.
    """
    def when(applies: Callable[[Case], bool], change: Callable[[Case], Case]) -> Callable[[Case], Case | None]:
        return lambda c: change(c) if applies(c) else None

    steps = [
        ("dtype", _simpler_dtype(dtypes)),
        ("forget_bias", when(lambda c: c.config.forget_bias != 1.0,
                             lambda c: dataclasses.replace(c, config=c.config.replace(forget_bias=1.0)))),
        ("activation", when(lambda c: c.config.activation != "tanh",
                            lambda c: dataclasses.replace(c, config=c.config.replace(activation="tanh")))),
        ("peepholes", when(lambda c: c.config.use_peepholes, _no_peepholes)),
        ("cell_clip", when(lambda c: c.config.cell_clip is not None,
                           lambda c: dataclasses.replace(c, config=c.config.replace(cell_clip=None)))),
        ("proj_clip", when(lambda c: c.config.proj_clip is not None,
                           lambda c: dataclasses.replace(c, config=c.config.replace(proj_clip=None)))),
        ("initial_state", when(lambda c: not c.initial_state.is_zero(), _zero_state)),
        ("sequence_length", when(lambda c: c.sequence_length is not None, lambda c: c.with_sequence_length(None))),
        ("bidirectional", when(lambda c: c.bidirectional, forward_only)),
        ("stacked", when(lambda c: bool(c.upper), _one_layer_fewer)),
        ("stacked", when(lambda c: bool(c.upper), _one_layer_fewer)),
        ("time_major", when(lambda c: c.config.time_major, lambda c: c.with_layout(False))),
    ]
    return [(name, simplify) for name, simplify in steps if name not in keep]


def _one_layer_fewer(case: Case) -> Case:
    """The network without its top layer (a mistake in a lower layer shows in fewer layers)."""
    return dataclasses.replace(case, upper=case.upper[:-1], backward=case.backward[:-1])


def _simpler_config(case: Case, attempt, simplifications) -> Case:
    for _name, simplify in simplifications:
        trial = simplify(case)
        if trial is not None and attempt(trial):
            case = trial
    return case


def _zero_arrays(case: Case, attempt) -> Case:
    for name, array in case.arrays().items():
        if np.any(array.astype(np.float64)):
            trial = case.with_arrays({name: np.zeros_like(array)})
            if attempt(trial):
                case = trial
    return case


def _zero_entries(case: Case, attempt) -> Case:
    """Zero non-zero entries, in halving chunks then one by one (ddmin-style)."""
    for name in list(case.arrays()):
        array = case.arrays()[name]
        idx = np.flatnonzero(array.astype(np.float64))
        chunk = max(1, len(idx) // 2)
        while len(idx) and chunk >= 1:
            kept = []
            for start in range(0, len(idx), chunk):
                if _spent(attempt):
                    return case
                part = idx[start : start + chunk]
                flat = case.arrays()[name].reshape(-1).copy()
                flat[part] = 0
                trial = case.with_arrays({name: flat.reshape(array.shape)})
                if attempt(trial):
                    case = trial
                else:
                    kept.extend(part.tolist())
            idx = np.asarray(kept, dtype=np.int64)
            if chunk == 1:
                break
            chunk = max(1, chunk // 2)
    return case


def _spent(attempt) -> bool:
    spent = getattr(attempt, "spent", None)
    return bool(spent()) if spent is not None else False


def _round_entries(case: Case, attempt) -> Case:
    npd = case.config.np_dtype
    for name in list(case.arrays()):
        array = case.arrays()[name]
        for flat_index in np.flatnonzero(array.astype(np.float64)):
            if _spent(attempt):
                return case
            value = float(case.arrays()[name].reshape(-1)[flat_index].astype(np.float64))
            for simpler in simpler_values(value):
                flat = case.arrays()[name].reshape(-1).copy()
                flat[flat_index] = np.asarray(simpler).astype(npd)
                if float(flat[flat_index].astype(np.float64)) == value:
                    continue
                trial = case.with_arrays({name: flat.reshape(array.shape)})
                if attempt(trial):
                    case = trial
                    break
    return case
