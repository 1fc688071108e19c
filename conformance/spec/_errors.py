"""Exceptions the harness raises on purpose, exit statuses and signal names: one place for each rule.

Each error message is one line naming the bad value.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class ConformanceError(Exception):
    """Base of every error the harness raises deliberately."""


class InvalidArgument(ConformanceError, ValueError):
    """A bad value given to the harness (a config field, a CLI option, a file). Exit status 2."""


class CandidateLoadError(ConformanceError):
    """A target that cannot be resolved to a candidate. Exit status 2."""


#: Kinds of candidate misbehaviour other than wrong numbers, as they appear in reports.
FAULT_KINDS: tuple[str, ...] = (
    "exception",  # the candidate raised
    "wrong_shape",
    "wrong_dtype",
    "non_finite",  # NaN/Inf where the oracle is finite
    "crash",  # the worker process died (signal, abort)
    "hang",  # per-example timeout
    "memory",  # per-worker memory limit exceeded
    "nondeterminism",  # same input, different outputs
    "input_mutation",  # the candidate wrote into the case's arrays
)


def is_fault(kind: str | None) -> bool:
    """Whether a failure kind is candidate misbehaviour other than wrong numbers."""
    return kind in FAULT_KINDS


class CandidateFault(ConformanceError):
    """A candidate misbehaved on a case in a way other than wrong numbers.

    ``kind`` is one of :data:`FAULT_KINDS`; ``message`` is one line.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def __reduce__(self):  # picklable (to cross process boundaries), extra attributes included
        return (type(self), (self.kind, self.message), self.__dict__)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every layer keeps what it has (exit status 143)."""


# --- exit statuses: the CLI, CheckResult, FuzzResult and the matrix all answer with these ---------------
EXIT_OK = 0
EXIT_NONCONFORMANT = 1
#: Usage errors, load errors, a run that ended in an error of the harness.
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
#: The status of each verdict; any other verdict ("error") is EXIT_USAGE.
VERDICT_EXIT = {"conformant": EXIT_OK, "nonconformant": EXIT_NONCONFORMANT}


def signal_name(exc: BaseException) -> str:
    """``"SIGTERM"`` for :class:`Terminated`, else ``"SIGINT"`` (a KeyboardInterrupt)."""
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def exit_status(verdict: str, *, interrupted: bool = False, signal: str | None = None) -> int:
    """The process exit status of a run: the signal's when interrupted, else the verdict's."""
    if interrupted:
        return EXIT_SIGTERM if signal == "SIGTERM" else EXIT_SIGINT
    return VERDICT_EXIT.get(verdict, EXIT_USAGE)


class SignalLatch:
    """Signals received by the CLI's handlers, re-raised by the runner at its next example.

    Python swallows a handler's exception that lands inside a gc or weakref callback, so the
    handler also notes the signal here.  First one wins; :meth:`reset` clears it (the CLI does so
    when it installs its handlers, tests between runs).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: str | None = None

    def note(self, name: str) -> None:
        """Remember a received ``"SIGINT"`` or ``"SIGTERM"`` (first one wins)."""
        with self._lock:
            if self._pending is None:
                self._pending = name

    @property
    def pending(self) -> str | None:
        return self._pending

    def reset(self) -> None:
        with self._lock:
            self._pending = None

    def raise_pending(self) -> None:
        """Raise the remembered signal again as KeyboardInterrupt / Terminated, if any."""
        pending = self._pending
        if pending is not None:
            raise Terminated() if pending == "SIGTERM" else KeyboardInterrupt()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Within the block, SIGINT and SIGTERM are only noted here, never raised (the handlers in
        force before are restored after it).  For the end of a run: the reports are written whole
        and the caller, seeing :attr:`pending`, marks them interrupted.  Only the main thread can
        change handlers; elsewhere this does nothing."""
        import signal

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        def only_note(signum: int, _frame: object) -> None:
            self.note("SIGTERM" if signum == signal.SIGTERM else "SIGINT")

        previous = {signum: signal.signal(signum, only_note) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)


#: The process's latch: signal handlers are process-wide, so is what they note (a documented singleton).
SIGNALS = SignalLatch()


def note_signal(name: str) -> None:
    """Remember a received ``"SIGINT"`` or ``"SIGTERM"`` in :data:`SIGNALS`."""
    SIGNALS.note(name)


def raise_pending_signal() -> None:
    """Raise what :data:`SIGNALS` holds, if anything."""
    SIGNALS.raise_pending()
