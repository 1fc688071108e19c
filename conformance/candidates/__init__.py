"""Candidates: the Protocol, the declaring decorator, and resolution of targets (strings and Python objects)."""

from conformance.candidates._exec import ExecCandidate, exec_candidate
from conformance.candidates._executor import (
    CandidateExited,
    Executor,
    InProcessExecutor,
    candidate_call_guard,
    env_conflicts,
    make_executor,
)
from conformance.candidates._limits import (
    MAX_MEMORY_LIMIT_MB,
    MAX_TIMEOUT_SECONDS,
    check_limits,
    crash_location,
    own_groups_of_children,
    signal_description,
)
from conformance.candidates._listing import Listing, list_candidates
from conformance.candidates._models import (
    MODEL_SUFFIXES,
    ModelCandidate,
    load_params,
    model_params,
    model_shape,
    resolve_model,
    with_node,
)
from conformance.candidates._protocol import (
    Candidate,
    CandidateInfo,
    call_candidate,
    call_many,
    candidate,
    info_of,
    normalise_result,
)
from conformance.candidates._registry import (
    BUILTINS,
    ENTRY_POINT_GROUP,
    OBJECT_RESOLVERS,
    PYTHON_PREFIX,
    Builtin,
    LoadedCandidate,
    is_named_target,
    resolve,
)

__all__ = [
    "MODEL_SUFFIXES",
    "ModelCandidate",
    "load_params",
    "model_params",
    "model_shape",
    "resolve_model",
    "with_node",
    "MAX_MEMORY_LIMIT_MB",
    "MAX_TIMEOUT_SECONDS",
    "check_limits",
    "crash_location",
    "own_groups_of_children",
    "signal_description",
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "Builtin",
    "Candidate",
    "CandidateExited",
    "CandidateInfo",
    "ExecCandidate",
    "Executor",
    "InProcessExecutor",
    "Listing",
    "LoadedCandidate",
    "OBJECT_RESOLVERS",
    "PYTHON_PREFIX",
    "call_candidate",
    "call_many",
    "candidate",
    "candidate_call_guard",
    "env_conflicts",
    "exec_candidate",
    "info_of",
    "is_named_target",
    "list_candidates",
    "make_executor",
    "normalise_result",
    "resolve",
]
