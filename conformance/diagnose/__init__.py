""""What am I missing?": convention variants, the search over them, localization in time."""

from conformance.diagnose._analysis import (
    Analysis,
    analyse,
)
from conformance.diagnose._evidence import (
    MIN_FRESH_CASES,
)
from conformance.diagnose._fresh import (
    discriminating_cases,
    random_case,
    structural_case,
)
from conformance.diagnose._hints import (
    HINTS,
    StructuralHint,
)
from conformance.diagnose._localize import (
    SERIES,
    Localization,
    localize,
)
from conformance.diagnose._search import (
    DIAGNOSED_KINDS,
    NO_EXPLANATION,
    PREFILTER_MARGIN,
    Diagnosis,
    VariantMatch,
    diagnose,
)
from conformance.diagnose._variants import (
    Variant,
    catalogue_markdown,
    compose,
    register_variant,
    unregister_variant,
    variants,
)

__all__ = [
    "Analysis",
    "DIAGNOSED_KINDS",
    "HINTS",
    "Diagnosis",
    "Localization",
    "MIN_FRESH_CASES",
    "NO_EXPLANATION",
    "PREFILTER_MARGIN",
    "SERIES",
    "StructuralHint",
    "Variant",
    "VariantMatch",
    "analyse",
    "catalogue_markdown",
    "compose",
    "diagnose",
    "discriminating_cases",
    "localize",
    "random_case",
    "register_variant",
    "structural_case",
    "unregister_variant",
    "variants",
]
