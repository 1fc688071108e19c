"""Argument checks of the public strategies: each raises Hypothesis' ``InvalidArgument`` naming ``name=value``.

Integers go through :func:`conformance.spec.check_int` (the harness's one integer rule);
:func:`check_int` here only re-raises its error as Hypothesis' own, which is what a
strategy is expected to raise for a bad argument.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from hypothesis.errors import InvalidArgument

from conformance.spec import FEATURES
from conformance.spec import InvalidArgument as ConformanceInvalidArgument
from conformance.spec import check_int as spec_check_int


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int; InvalidArgument("name=value must be an integer >= minimum") unless it is one in range."""
    try:
        spec_check_int(name, value, minimum=minimum, maximum=maximum)
    except ConformanceInvalidArgument as exc:
        raise InvalidArgument(str(exc)) from None
    return int(value)


def check_range(name: str, lo: Any, hi: Any, minimum: int = 1) -> tuple[int, int]:
    """``min_NAME``/``max_NAME`` as ints, each an integer >= ``minimum``, the first <= the second."""
    lo, hi = check_int(f"min_{name}", lo, minimum=minimum), check_int(f"max_{name}", hi, minimum=minimum)
    if lo > hi:
        raise InvalidArgument(f"min_{name}={lo!r} must be <= max_{name}={hi!r}")
    return lo, hi


def check_subset(name: str, values: Collection[str], known: tuple[str, ...], allow_empty: bool) -> frozenset[str]:
    if isinstance(values, str):
        raise InvalidArgument(f"{name}={values!r} must be a collection of names, not a string")
    bad = sorted(set(values) - set(known))
    if bad:
        raise InvalidArgument(f"{name}={sorted(values)!r} has unknown {bad}; known: {', '.join(known)}")
    if not values and not allow_empty:
        raise InvalidArgument(f"{name}=[] must name at least one of {', '.join(known)}")
    return frozenset(values)


def check_required(require: Collection[str], features: frozenset[str]) -> frozenset[str]:
    """``require`` as a set of FEATURES inside ``features`` (proj_clip needing projection)."""
    require = check_subset("require", require, FEATURES, allow_empty=True)
    if not require <= features:
        raise InvalidArgument(f"require={sorted(require)!r} names {sorted(require - features)} outside "
                              f"features={sorted(features)!r}")
    if "proj_clip" in require and "projection" not in features:
        raise InvalidArgument("require=['proj_clip'] needs 'projection' in features")
    return require


def check_scales(weight_scales: tuple[float, ...] | None) -> tuple[float, ...] | None:
    if weight_scales is None:
        return None
    scales = tuple(weight_scales)
    if not scales or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
                             for v in scales):
        raise InvalidArgument(f"weight_scales={weight_scales!r} must be a non-empty tuple of finite numbers > 0")
    return tuple(float(v) for v in scales)
