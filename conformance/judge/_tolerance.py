"""The tolerance table: per-dtype ``atol``/``rtol`` (README, "Tolerances"), and its CLI syntax."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType

from conformance.spec import DTYPES, InvalidArgument

#: Unit roundoff of each dtype.
UNIT_ROUNDOFF: Mapping[str, float] = MappingProxyType(
    {"float16": 2.0**-11, "bfloat16": 2.0**-8, "float32": 2.0**-24, "float64": 2.0**-53}
)

#: The arrays a Result is judged on: outputs [B, T, P], final c [B, H], final h [B, P].
ARRAYS: tuple[str, ...] = ("outputs", "c", "h")


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """``|got - expected| <= atol + rtol * |expected|`` (plus the measured rounding spread)."""

    atol: float
    rtol: float

    def __post_init__(self) -> None:
        for name in ("atol", "rtol"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise InvalidArgument(f"{name}={v!r} must be a finite number >= 0")


#: Documented defaults (README, "Tolerances"): about 16-64 unit roundoffs of each dtype.
DEFAULT_TOLERANCES: Mapping[str, Tolerance] = MappingProxyType({
    "float64": Tolerance(atol=1e-10, rtol=1e-10),
    "float32": Tolerance(atol=2e-6, rtol=2e-6),
    "float16": Tolerance(atol=8e-3, rtol=8e-3),
    "bfloat16": Tolerance(atol=6e-2, rtol=6e-2),
})


def parse_tolerance_overrides(items: list[str] | None) -> dict[str, Tolerance]:
    """``["float16=1e-2", "float32=1e-5:1e-4"]`` (atol or atol:rtol) -> tolerance table."""
    table = dict(DEFAULT_TOLERANCES)
    for item in items or []:
        dtype, sep, value = item.partition("=")
        if not sep or dtype not in DTYPES:
            raise InvalidArgument(f"--tolerance {item!r}: expected DTYPE=ATOL[:RTOL] with DTYPE in {', '.join(DTYPES)}")
        atol_s, _, rtol_s = value.partition(":")
        try:
            atol = float(atol_s)
            rtol = float(rtol_s) if rtol_s else atol
        except ValueError:
            raise InvalidArgument(f"--tolerance {item!r}: {value!r} is not a number") from None
        try:
            table[dtype] = Tolerance(atol, rtol)
        except InvalidArgument as exc:
            raise InvalidArgument(f"--tolerance {item!r}: {exc}") from None
    return table
