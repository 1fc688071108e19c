"""lstm-conformance: does an LSTM compute what TensorFlow's LSTMCell computes, and if not, what is it missing?

Public surface (the stages live in subpackages, docs/architecture.md; each has its own ``__all__``)::

    from conformance import Case, LSTMConfig, LSTMParams, InitialState, Result, candidate, check

``check``, ``fuzz`` and ``matrix`` take a target string, a callable ``fn(case)`` or a module holding one
``@candidate`` function; their results print a summary and ``write_reports(directory)``.
Assertions for your own tests: :mod:`conformance.testing`.
"""

from conformance._version import __version__
from conformance.campaign import FuzzOptions, FuzzResult, Matrix, MatrixSettings, fuzz, matrix
from conformance.candidates import Candidate, CandidateInfo, candidate, resolve
from conformance.diagnose import Variant, register_variant, unregister_variant, variants
from conformance.judge import DEFAULT_TOLERANCES, Comparison, Judge, Tolerance, compare
from conformance.outcome import CheckResult, Counterexample
from conformance.run import CheckOptions, check, check_parallel
from conformance.spec import (
    ACTIVATIONS,
    DEFAULT_FEATURES,
    DTYPES,
    FEATURES,
    GATE_ORDER,
    CandidateFault,
    CandidateLoadError,
    Case,
    ConformanceError,
    InitialState,
    InvalidArgument,
    LSTMConfig,
    LSTMParams,
    Result,
    Semantics,
    reference,
    zero_state,
)

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_FEATURES",
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
    "Judge",
    "LSTMConfig",
    "LSTMParams",
    "Matrix",
    "MatrixSettings",
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
    "matrix",
    "reference",
    "register_variant",
    "resolve",
    "unregister_variant",
    "variants",
    "zero_state",
]
