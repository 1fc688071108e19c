"""The candidate interface: a Protocol, an optional declaring decorator, and how a call is made.

A candidate is any callable ``fn(case) -> (outputs, (c, h))`` with

* ``case.inputs``        [B, T, I] in ``case.config.dtype`` ([T, B, I] when ``case.config.time_major``)
* ``case.sequence_length`` None, or int32 [B]: row b's length (``dynamic_rnn``'s ``sequence_length``:
                         outputs at steps ``t >= L[b]`` are zeros, the final state is the one
                         after step ``L[b] - 1``)
* ``case.params``        canonical TF-layout parameters (kernel [I+P, 4H] in gate
                         order i, j, f, o; bias [4H]; w_*_diag [H]; proj_kernel [H, P])
* ``case.config``        ``num_units``, ``input_size``, ``forget_bias``, ``use_peepholes``,
                         ``cell_clip``, ``num_proj``, ``proj_clip``, ``activation``, ``dtype``
* ``case.initial_state`` ``.c`` [B, H] and ``.h`` [B, P]

returning outputs [B, T, P] ([T, B, P] time-major) and the final ``c`` [B, H] and ``h`` [B, P],
all in the case's dtype.  No base class: :func:`candidate` only attaches metadata.  A candidate
that declares nothing supports :data:`~conformance.spec.DEFAULT_FEATURES` (every cell option on
full-length batch-major sequences): ``sequence_length`` and ``time_major`` are declared.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from conformance.candidates._text import _format_traceback, _one_line, _safe_text, describe_exception
from conformance.spec import (
    DEFAULT_FEATURES,
    DTYPES,
    FEATURES,
    CandidateFault,
    Case,
    InvalidArgument,
    Result,
    cell_prefix,
)

ATTRIBUTE = "__lstm_conformance__"


@runtime_checkable
class Candidate(Protocol):
    """``candidate(case) -> (outputs [B, T, P], (c [B, H], h [B, P]))``."""

    def __call__(self, case: Case) -> tuple[Any, tuple[Any, Any]]: ...


@dataclasses.dataclass(frozen=True)
class CandidateInfo:
    """What a candidate declares: the :data:`FEATURES` and :data:`DTYPES` it supports.

    ``max_units``/``max_input_size``/``max_time``/``max_batch`` bound sizes for implementations with fixed
    buffers (no case beyond them is drawn); ``deterministic=False`` skips the same-input-twice check.
    """

    name: str | None = None
    features: frozenset[str] = frozenset(DEFAULT_FEATURES)
    dtypes: frozenset[str] = frozenset(DTYPES)
    description: str = ""
    max_units: int | None = None
    max_input_size: int | None = None
    max_time: int | None = None
    max_batch: int | None = None
    deterministic: bool = True
    #: Environment variables the candidate needs set before its framework is imported
    #: (e.g. KERAS_BACKEND); such a candidate gets a process of its own when needed.
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: ``accepts(case) -> bool``: a limit the library has beyond features, dtypes and sizes
    #: (e.g. torch needs proj_size < hidden_size); runs only draw cases it accepts.
    accepts: Callable[[Case], bool] | None = None
    #: Why a feature is not supported, by feature (the matrix shows it in the feature's cell).
    unsupported: Mapping[str, str] = dataclasses.field(default_factory=dict)
    per_params_cost: bool = False  #: it converts a model per parameter set: runs draw several cases per set

    def __post_init__(self) -> None:
        bad = sorted(set(self.features) - set(FEATURES))
        if bad:
            raise InvalidArgument(f"features={sorted(self.features)!r} has unknown {bad}; known: {', '.join(FEATURES)}")
        bad = sorted(set(self.dtypes) - set(DTYPES))
        if bad:
            raise InvalidArgument(f"dtypes={sorted(self.dtypes)!r} has unknown {bad}; known: {', '.join(DTYPES)}")
        if not self.dtypes:
            raise InvalidArgument("dtypes=[] : a candidate must support at least one dtype")
        object.__setattr__(self, "env", dict(self.env))
        object.__setattr__(self, "unsupported", dict(self.unsupported))
        bad = sorted(set(self.unsupported) - set(FEATURES))
        if bad:
            raise InvalidArgument(f"unsupported={dict(self.unsupported)!r} names unknown features {bad}")
        object.__setattr__(self, "features", frozenset(self.features))
        object.__setattr__(self, "dtypes", frozenset(self.dtypes))

    def supports(self, case: Case) -> bool:
        cfg = case.config
        return (
            case.features() <= self.features
            and cfg.dtype in self.dtypes
            and (self.max_units is None or cfg.num_units <= self.max_units)
            and (self.max_input_size is None or cfg.input_size <= self.max_input_size)
            and (self.max_time is None or case.time <= self.max_time)
            and (self.max_batch is None or case.batch <= self.max_batch)
            and (self.accepts is None or bool(self.accepts(case)))
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": sorted(self.features, key=FEATURES.index),
            "dtypes": sorted(self.dtypes, key=DTYPES.index),
            "description": self.description,
            "max_units": self.max_units,
            "max_input_size": self.max_input_size,
            "max_time": self.max_time, "max_batch": self.max_batch,
            "deterministic": self.deterministic,
            "env": dict(self.env),
            "unsupported": dict(self.unsupported), "per_params_cost": self.per_params_cost,
        }


def candidate(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    features: Iterable[str] = DEFAULT_FEATURES,
    dtypes: Iterable[str] = DTYPES,
    description: str | None = None,
    max_units: int | None = None,
    max_input_size: int | None = None,
    max_time: int | None = None, max_batch: int | None = None,
    deterministic: bool = True,
    env: Mapping[str, str] | None = None,
    accepts: Callable[[Case], bool] | None = None,
    unsupported: Mapping[str, str] | None = None, per_params_cost: bool = False,
) -> Any:
    """Declare what a candidate supports; returns the function itself, unwrapped.

    Usable bare (``@candidate``) or with arguments (``@candidate(features=[], dtypes=["float32"])``).
    ``unsupported``: why a feature is left out, by feature (``{"time_major": "the op is batch-major only"}``),
    shown in the matrix; ``per_params_cost``: it converts per parameter set (runs draw several cases per
    set).  Without it, a callable is assumed to support :data:`~conformance.spec.DEFAULT_FEATURES`, every dtype.
    """

    def attach(f: Callable) -> Callable:
        if not callable(f):
            raise InvalidArgument(f"@candidate applied to {f!r}, which is not callable")
        doc = (getattr(f, "__doc__", None) or "").strip().splitlines()
        info = CandidateInfo(
            name=name,
            features=frozenset(features),
            dtypes=frozenset(dtypes),
            description=description if description is not None else (doc[0] if doc else ""),
            max_units=max_units,
            max_input_size=max_input_size,
            max_time=max_time, max_batch=max_batch,
            deterministic=deterministic,
            env=dict(env or {}),
            accepts=accepts,
            unsupported=dict(unsupported or {}), per_params_cost=per_params_cost,
        )
        setattr(f, ATTRIBUTE, info)
        return f

    return attach(fn) if fn is not None else attach


def info_of(fn: Any) -> CandidateInfo:
    """The declared :class:`CandidateInfo` of ``fn`` (DEFAULT_FEATURES and every dtype if undeclared)."""
    info = getattr(fn, ATTRIBUTE, None)
    if isinstance(info, CandidateInfo):
        return info
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    return CandidateInfo(description=doc[0] if doc else "")


def _as_array(label: str, a: Any) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception:
            raise CandidateFault("wrong_shape", f"{label} is a {type(a).__name__}, not an array") from None
    if a.dtype.kind not in "fiu" and not _is_ml_float(a.dtype):
        # strings, objects, bytes, dates, complex: no number the judge can compare
        raise CandidateFault("wrong_dtype", f"{label} has dtype {a.dtype}, expected a float array")
    return a


def _is_ml_float(dtype: np.dtype) -> bool:
    """bfloat16 and ml_dtypes' other floats: numpy calls their kind "V" (void)."""
    if dtype.kind != "V" or dtype.names is not None:
        return False
    import ml_dtypes

    try:
        ml_dtypes.finfo(dtype)
    except (ValueError, TypeError):
        return False
    return True


def check_returned_shapes(case: Case, result: Result) -> None:
    """CandidateFault("wrong_shape") unless every array has the shape the case implies (in the case's layout),
    before anything converts it: a broadcast view can claim terabytes it does not hold."""
    arrays = result.arrays()
    for name, shape in case.result_shapes().items():
        if name.startswith("outputs") and case.config.time_major:
            shape = (shape[1], shape[0], shape[2])
        got = arrays.get(name)
        if got is None:
            raise CandidateFault("wrong_shape", f"no {name} returned (expected {shape})")
        if got.shape != shape:
            layout = " [T, B, P] (the case is time-major)" if name.startswith("outputs") and case.config.time_major else ""
            raise CandidateFault("wrong_shape", f"{name} has shape {got.shape}, expected {shape}{layout}")


def normalise_result(value: Any) -> Result:
    """``(outputs, (c, h))`` -> Result, or CandidateFault("wrong_shape", ...) naming what is off."""
    try:
        outputs, state = value
        c, h = state
    except (TypeError, ValueError):
        raise CandidateFault(
            "wrong_shape", f"returned {type(value).__name__}, expected a tuple (outputs, (c, h))"
        ) from None
    return Result(_as_array("outputs", outputs), _as_array("c", c), _as_array("h", h))


#: What a candidate returns for a network of several cells (docs: README, "Stacked and bidirectional").
NETWORK_RETURN = ("forward stack: (outputs, ((c_1, h_1), ..., (c_K, h_K))); bidirectional: "
                  "((outputs_fw, outputs_bw), (((c, h)_fw, (c, h)_bw) for each layer)), outputs of the top layer")


def _nested(value: Any, what: str) -> tuple:
    """``value`` as a tuple of its items, if it is a tuple or list (an array's rows are not a nesting level)."""
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"{what} is a {type(value).__name__}, not a tuple")
    return tuple(value)


def normalise_for(case: Case, value: Any) -> Result:
    """What a candidate returned for ``case`` -> Result (batch order as returned; see :func:`to_batch_major`).

    One forward layer: ``(outputs, (c, h))``.  Otherwise :data:`NETWORK_RETURN`: the top layer's outputs
    and every cell's final state, layer by layer, forward before backward.
    """
    if case.single_cell:
        return normalise_result(value)
    layers = case.num_layers
    try:
        outputs, states = value
        states = _nested(states, "the states")
        if case.bidirectional:
            out_fw, out_bw = _nested(outputs, "the outputs")
            per_layer = [_nested(layer, "a layer's states") for layer in states]
            pairs = [_nested(pair, "a (c, h) pair") for layer in per_layer for pair in layer]
            if [len(layer) for layer in per_layer] != [2] * layers:
                raise ValueError(f"{[len(layer) for layer in per_layer]} states per layer")
        else:
            out_fw, out_bw, pairs = outputs, None, [_nested(pair, "a (c, h) pair") for pair in states]
        if len(pairs) != len(case.cells()) or any(len(p) != 2 for p in pairs):
            raise ValueError(f"{len(pairs)} (c, h) pairs for {len(case.cells())} cells")
    except (TypeError, ValueError) as exc:
        raise CandidateFault("wrong_shape", f"returned {type(value).__name__} that is not, for {layers} layer(s)"
                                            f"{' bidirectional' if case.bidirectional else ''}: {NETWORK_RETURN} "
                                            f"({exc})") from None
    arrays = {"outputs": _as_array("outputs", out_fw)}
    if out_bw is not None:
        arrays["outputs_bw"] = _as_array("outputs_bw", out_bw)
    for (k, d, _), (c, h) in zip(case.cells(), pairs):
        prefix = cell_prefix(k, d)
        arrays[prefix + "c"], arrays[prefix + "h"] = _as_array(prefix + "c", c), _as_array(prefix + "h", h)
    return Result.from_arrays(arrays)


def to_batch_major(case: Case, result: Result) -> Result:
    """A candidate's result in the harness's layout (outputs [B, T, P]): a time-major case's outputs
    must be [T, B, P] and are transposed; CandidateFault("wrong_shape") when they are not."""
    if not case.config.time_major:
        return result
    arrays = result.arrays()
    for name, shape in case.result_shapes().items():
        if name.startswith("outputs"):
            B, T, P = shape
            if arrays[name].shape != (T, B, P):
                raise CandidateFault("wrong_shape", f"{name} has shape {arrays[name].shape}, expected {(T, B, P)} "
                                                    f"[T, B, P] (the case is time-major)")
            arrays[name] = arrays[name].transpose(1, 0, 2)
    return Result.from_arrays(arrays)


def _private_copy(case: Case) -> Case:
    """The case with every array copied: what the candidate is handed, so that nothing it does
    reaches the arrays the oracle (running on another thread) and the comparison read."""
    return case.with_arrays({name: np.array(a, copy=True) for name, a in case.arrays().items()})


def _mutated(original: Case, handed: Case) -> list[str]:
    """Names of the arrays the candidate changed in place (the case's arrays are finite, so a NaN
    written into one shows as a change)."""
    after = handed.arrays()
    return [name for name, a in original.arrays().items()
            if after[name].shape != a.shape or not np.array_equal(after[name], a)]


def call_candidate(fn: Callable, case: Case, *, verbose: bool = False) -> Result:
    """Call ``fn(case)`` on a private copy of the case's arrays.

    An exception becomes CandidateFault("exception", one line) with ``.full_message`` (the whole
    text) and ``.traceback`` attached; writing into the arrays it was
    handed becomes CandidateFault("input_mutation"): a port that clobbers its caller's inputs,
    weights or initial state is wrong even where its numbers are right, and must never be able
    to change what the oracle computes.
    """
    handed = _private_copy(case)
    try:
        # Converting what it returned runs the candidate's code too (``__array__``, ``__len__``,
        # ``__getitem__`` of its own objects): a SystemExit or error raised there is its fault as well.
        value = normalise_for(case, fn(handed))
        check_returned_shapes(case, value)
        value = to_batch_major(case, value)
    except CandidateFault:
        raise
    except KeyboardInterrupt:  # Ctrl-C/SIGTERM belong to the harness; sys.exit() in a candidate is its fault
        raise
    except BaseException as exc:
        try:
            tb = traceback.extract_tb(exc.__traceback__)
            where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        except Exception:  # noqa: BLE001
            where = ""
        full = describe_exception(exc)
        fault = CandidateFault("exception", _one_line(_safe_text(f"{full}{where}")))
        # The one-line message is cut at 300 characters; TF puts the real error at the end of a
        # long one, so the whole text and the traceback travel with the fault (report.json keeps them).
        fault.full_message = _safe_text(full)  # type: ignore[attr-defined]
        fault.traceback = _safe_text(_format_traceback(exc))  # type: ignore[attr-defined]
        raise fault from exc
    changed = _mutated(case, handed)
    if changed:
        raise CandidateFault("input_mutation", f"the candidate wrote into {', '.join(changed)} of the case it was "
                                               f"given (the harness hands it a copy; its callers would not)")
    return value


def call_many(fn: Callable, cases: Sequence[Case]) -> list[Result | CandidateFault]:
    """Run several cases; uses ``fn.call_many`` when the candidate batches (exec: candidates do)."""
    if callable(batched := getattr(fn, "call_many", None)):
        return list(batched(cases))
    out: list[Result | CandidateFault] = []
    for case in cases:
        try:
            out.append(call_candidate(fn, case))
        except CandidateFault as fault:
            out.append(fault)
    return out
