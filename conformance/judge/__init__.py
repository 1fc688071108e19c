"""Judging one example: the tolerance table, the one rounding model, compare, determinism and
structural properties."""

from conformance.judge._compare import (
    Comparison,
    apply_mask,
    check_result_form,
    first_failing_step,
    judged_elements,
    summarise,
)
from conformance.judge._determinism import (
    rerun_check,
)
from conformance.judge._evaluate import (
    Evaluation,
    evaluate,
    submit_all,
)
from conformance.judge._judge import (
    DEFAULT_JUDGE,
    Elementwise,
    Judge,
    compare,
    first_out_of_range_step,
)
from conformance.judge._rounding import (
    Spread,
    measure_spread,
)
from conformance.judge._structural import (
    PROPERTIES,
    StructuralFinding,
    check_structure,
    violated,
)
from conformance.judge._tolerance import (
    ARRAYS,
    DEFAULT_TOLERANCES,
    UNIT_ROUNDOFF,
    Tolerance,
    parse_tolerance_overrides,
)

__all__ = [
    "ARRAYS",
    "Comparison",
    "DEFAULT_JUDGE",
    "DEFAULT_TOLERANCES",
    "Elementwise",
    "Evaluation",
    "Judge",
    "PROPERTIES",
    "Spread",
    "StructuralFinding",
    "Tolerance",
    "UNIT_ROUNDOFF",
    "apply_mask",
    "check_result_form",
    "check_structure",
    "compare",
    "evaluate",
    "first_failing_step",
    "first_out_of_range_step",
    "judged_elements",
    "measure_spread",
    "parse_tolerance_overrides",
    "rerun_check",
    "submit_all",
    "summarise",
    "violated",
]
