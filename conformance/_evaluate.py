"""One example, end to end: oracle and candidate on a case, then the comparison.

Executors are how a candidate is called: in this process, or (conformance._isolation)
in a worker process that may crash or hang without taking the harness down.
Both raise :class:`CandidateFault` for misbehaviour other than wrong numbers.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Protocol, Sequence

from conformance._compare import Comparison, Tolerance, compare
from conformance._errors import CandidateFault, CandidateLoadError
from conformance._spec import Case, Result
from conformance.candidates import CandidateInfo, LoadedCandidate, call_candidate


class Executor(Protocol):
    """Runs one candidate on cases: ``run(case) -> Result`` or raises CandidateFault."""

    name: str
    target: str
    info: CandidateInfo

    def run(self, case: Case) -> Result: ...

    def close(self) -> None: ...


def env_conflicts(info: CandidateInfo) -> list[str]:
    """The ``info.env`` variables this process has set differently (then it needs its own process)."""
    return [f"{k}={os.environ[k]!r}" for k, v in info.env.items() if k in os.environ and os.environ[k] != v]


class InProcessExecutor:
    """Calls the candidate directly in this process (fastest; no protection from crashes or hangs)."""

    def __init__(self, loaded: LoadedCandidate):
        conflicts = env_conflicts(loaded.info)
        if conflicts:
            raise CandidateLoadError(
                f"candidate {loaded.name!r} needs {dict(loaded.info.env)} but this process has "
                f"{', '.join(conflicts)}; run it isolated (--isolate)"
            )
        # Set before the candidate's framework is first imported (it reads them at import).
        os.environ.update(loaded.info.env)
        self.loaded = loaded
        self.name = loaded.name
        self.target = loaded.target
        self.info = loaded.info

    def run(self, case: Case) -> Result:
        return call_candidate(self.loaded.fn, case)

    def close(self) -> None:
        pass

    def __enter__(self) -> "InProcessExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(loaded: LoadedCandidate, *, isolate: bool = False, **limits: object) -> Executor:
    """The executor for a run: in-process unless ``isolate`` (or the candidate needs its own process)."""
    if isolate or env_conflicts(loaded.info):
        from conformance._isolation import SubprocessExecutor

        return SubprocessExecutor(loaded.target, env=loaded.info.env, info=loaded.info, **limits)  # type: ignore[arg-type]
    return InProcessExecutor(loaded)


@dataclasses.dataclass
class Evaluation:
    """Everything one example produced; ``candidate`` is None when the candidate faulted."""

    case: Case
    comparison: Comparison
    oracle: Result | None
    candidate: Result | None
    fault: CandidateFault | None = None


def submit_all(cases: Sequence[Case], oracle: Any, *, overlap: bool = True) -> list[Any]:
    """Start the oracle on every case at once, where it can (conformance._oracle.Oracle.submit).

    The oracle computes on its own thread, in order, while the caller runs the candidate
    on the first cases: one PendingResult per case, or Nones for an oracle that cannot
    (or with ``overlap=False``: then :func:`evaluate` runs it inline).
    """
    submit = getattr(oracle, "submit", None) if overlap else None
    return [submit(case) for case in cases] if submit is not None else [None] * len(cases)


def evaluate(
    case: Case,
    executor: Executor,
    oracle: object,
    *,
    tolerances: Mapping[str, Tolerance] | None = None,
    pending: Any = None,
    overlap: bool = True,
) -> Evaluation:
    """Run ``case`` through the oracle and the candidate and compare them.

    ``pending``: the oracle's result for ``case`` already submitted (see :func:`submit_all`);
    else the oracle runs on its own thread while the candidate runs, unless ``overlap`` is False.
    """
    if pending is None:
        pending = submit_all([case], oracle, overlap=overlap)[0]
    expected = None if pending is not None else oracle.run(case)  # type: ignore[attr-defined]
    try:
        got = executor.run(case)
    except CandidateFault as fault:
        expected = pending.result() if pending is not None else expected
        comparison = Comparison(passed=False, kind=fault.kind, message=fault.message, score=float("inf"))
        return Evaluation(case, comparison, expected, None, fault)
    if pending is not None:
        expected = pending.result()
    comparison = compare(case, got, expected, tolerances=tolerances)
    return Evaluation(case, comparison, expected, got)
