"""How a candidate is called: the Executor protocol, in this process or (conformance.candidates._isolation)
in a worker process that may crash or hang without taking the harness down.

Both raise :class:`CandidateFault` for misbehaviour other than wrong numbers.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any, NoReturn, Protocol

import numpy as np

from conformance.candidates._protocol import CandidateInfo, call_candidate
from conformance.candidates._registry import LoadedCandidate
from conformance.oracle import apply_tf_environment
from conformance.spec import CandidateLoadError, Case, Result


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
        # Set before the candidate's framework is first imported (it reads them at import): TF's environment
        # as the oracle imports TF (a worker gets the same, conformance.candidates._isolation), then its own.
        apply_tf_environment()
        os.environ.update(loaded.info.env)
        self.loaded = loaded
        self.name = loaded.name
        self.target = loaded.target
        self.info = loaded.info

    def run(self, case: Case) -> Result:
        with candidate_call_guard():
            return call_candidate(self.loaded.fn, case)

    def close(self) -> None:
        pass

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CandidateExited(BaseException):
    """Raised in place of ``os._exit`` while an in-process candidate runs (call_candidate makes it a fault)."""


def _exit_is_a_fault(status: Any = 0) -> NoReturn:
    raise CandidateExited(f"the candidate called os._exit({status!r}), which would end the harness without a "
                          f"verdict (run it with --isolate to see what it does on its own)")


@contextlib.contextmanager
def candidate_call_guard() -> Iterator[None]:
    """What an in-process candidate call runs under, and puts back afterwards:

    * fresh entropy in ``random`` and ``np.random``'s global state: Hypothesis seeds both the same
      way for every example, which would make a candidate's randomness repeat itself (a port wrong
      one time in a hundred at random would be right, or wrong, every time); the states Hypothesis
      set are restored after the call;
    * ``os._exit`` raises :class:`CandidateExited` (a fault of the candidate) instead of ending the
      harness with no verdict and no report.
    """
    saved_random, saved_np = random.getstate(), np.random.get_state()
    saved_exit = os._exit
    random.seed(os.urandom(16))
    np.random.seed(int.from_bytes(os.urandom(4), "little"))
    os._exit = _exit_is_a_fault
    try:
        yield
    finally:
        os._exit = saved_exit
        random.setstate(saved_random)
        np.random.set_state(saved_np)


def make_executor(loaded: LoadedCandidate, *, isolate: bool = False, **limits: object) -> Executor:
    """The executor for a run: in-process unless ``isolate`` (or the candidate needs its own process)."""
    if isolate or env_conflicts(loaded.info):
        from conformance.candidates._isolation import SubprocessExecutor

        loaded.require_importable("isolation" if isolate else f"the process its env {dict(loaded.info.env)} needs")

        return SubprocessExecutor(loaded.target, env=loaded.info.env, info=loaded.info, **limits)  # type: ignore[arg-type]
    return InProcessExecutor(loaded)
