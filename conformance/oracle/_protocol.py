"""What the harness needs of an oracle (the TF one, or a test's): the ``Oracle`` Protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from conformance.spec import Case, Result


class PendingResult(Protocol):
    """An oracle run in progress (e.g. :class:`conformance.oracle.PendingRun`); ``result()`` waits for it."""

    def result(self) -> Result: ...


@runtime_checkable
class Oracle(Protocol):
    """Computes the expected Result of a case: outputs [B, T, P], c [B, H], h [B, P] in the case's dtype.

    An oracle that can compute while the caller runs the candidate also has
    ``submit(case) -> PendingResult`` (see :class:`SubmittingOracle`).
    """

    def run(self, case: Case) -> Result: ...


@runtime_checkable
class SubmittingOracle(Oracle, Protocol):
    """An :class:`Oracle` that starts a run and returns at once."""

    def submit(self, case: Case) -> PendingResult: ...
