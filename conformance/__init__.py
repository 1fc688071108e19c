"""lstm-conformance: does an LSTM compute what TensorFlow's LSTMCell computes, and if not, what is it missing?

Public surface (everything else lives in ``_``-prefixed modules)::

    from conformance import Case, LSTMConfig, LSTMParams, InitialState, Result, candidate, check
"""

from conformance._compare import DEFAULT_TOLERANCES, Comparison, Tolerance, compare
from conformance._errors import CandidateFault, CandidateLoadError, ConformanceError, InvalidArgument
from conformance._fuzz import FuzzOptions, FuzzResult, fuzz
from conformance._parallel import check_parallel
from conformance._reference import Semantics, reference
from conformance._runner import CheckOptions, CheckResult, Counterexample, check
from conformance._spec import (
    ACTIVATIONS,
    DTYPES,
    FEATURES,
    GATE_ORDER,
    Case,
    InitialState,
    LSTMConfig,
    LSTMParams,
    Result,
    zero_state,
)
from conformance._variants import Variant, register_variant, unregister_variant, variants
from conformance._version import __version__
from conformance.candidates import Candidate, CandidateInfo, candidate, resolve

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_TOLERANCES",
    "DTYPES",
    "FEATURES",
    "FuzzOptions",
    "FuzzResult",
    "GATE_ORDER",
    "Candidate",
    "CandidateFault",
    "CandidateInfo",
    "CandidateLoadError",
    "Case",
    "CheckOptions",
    "CheckResult",
    "Comparison",
    "ConformanceError",
    "Counterexample",
    "InitialState",
    "InvalidArgument",
    "LSTMConfig",
    "LSTMParams",
    "Result",
    "Semantics",
    "Tolerance",
    "Variant",
    "__version__",
    "candidate",
    "check",
    "check_parallel",
    "compare",
    "fuzz",
    "reference",
    "register_variant",
    "resolve",
    "unregister_variant",
    "variants",
    "zero_state",
]
