"""Exceptions the harness raises on purpose; each message is one line naming the bad value."""

from __future__ import annotations


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
)


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


#: Signals received by the CLI's handlers; the runner re-raises them at the next example, since
#: Python swallows a handler's exception that lands inside a gc or weakref callback.
_PENDING_SIGNALS: list[str] = []


def note_signal(name: str) -> None:
    """Remember a received ``"SIGINT"`` or ``"SIGTERM"`` (first one wins)."""
    if not _PENDING_SIGNALS:
        _PENDING_SIGNALS.append(name)


def raise_pending_signal() -> None:
    """Raise the remembered signal again as KeyboardInterrupt / Terminated, if any."""
    if _PENDING_SIGNALS:
        raise Terminated() if _PENDING_SIGNALS[0] == "SIGTERM" else KeyboardInterrupt()
