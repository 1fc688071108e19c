"""One example, end to end: oracle and candidate on a case, then the judge's comparison."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from conformance.candidates import Executor
from conformance.judge._compare import Comparison
from conformance.judge._judge import DEFAULT_JUDGE, Judge
from conformance.oracle import Oracle, PendingResult, SubmittingOracle
from conformance.spec import CandidateFault, Case, Result


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Everything one example produced; ``candidate`` is None when the candidate faulted."""

    case: Case
    comparison: Comparison
    oracle: Result | None
    candidate: Result | None
    fault: CandidateFault | None = None


def submit_all(cases: Sequence[Case], oracle: Oracle, *, overlap: bool = True) -> list[PendingResult | None]:
    """Start the oracle on every case at once, where it can (:class:`conformance.oracle.SubmittingOracle`).

    The oracle computes on its own thread, in order, while the caller runs the candidate
    on the first cases: one PendingResult per case, or Nones for an oracle that cannot
    (or with ``overlap=False``: then :func:`evaluate` runs it inline).
    """
    if overlap and isinstance(oracle, SubmittingOracle):
        return [oracle.submit(case) for case in cases]
    return [None] * len(cases)


def evaluate(
    case: Case,
    executor: Executor,
    oracle: Oracle,
    *,
    judge: Judge = DEFAULT_JUDGE,
    pending: PendingResult | None = None,
    overlap: bool = True,
) -> Evaluation:
    """Run ``case`` through the oracle and the candidate and compare them.

    ``pending``: the oracle's result for ``case`` already submitted (see :func:`submit_all`);
    else the oracle runs on its own thread while the candidate runs, unless ``overlap`` is False.
    """
    if pending is None:
        pending = submit_all([case], oracle, overlap=overlap)[0]
    # Without a pending run the oracle runs after the candidate: a run that starts while TensorFlow is still
    # importing in the background (conformance/oracle/_preload.py) calls the candidate meanwhile.
    try:
        got = executor.run(case)
    except CandidateFault as fault:
        expected = pending.result() if pending is not None else oracle.run(case)
        comparison = Comparison(passed=False, kind=fault.kind, message=fault.message, score=float("inf"))
        return Evaluation(case, comparison, expected, None, fault)
    expected = pending.result() if pending is not None else oracle.run(case)
    comparison = judge.compare(case, got, expected)
    return Evaluation(case, comparison, expected, got)
