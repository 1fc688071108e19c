"""The progress display of a run: a bar on a terminal (rich), plain periodic lines in a log (CI).

The runner hands a :class:`~conformance.outcome.Progress` to ``CheckOptions.progress`` about twice a
second; this module only draws it, so nothing here runs per example.  On a terminal (and with
rich installed, the ``progress`` extra) a bar with ``done/total``, rate and ETA is redrawn in place;
elsewhere a line such as ``examples: 210/300 (37/s, ETA 3 s)`` is written every ``interval``
seconds and once at the end.

The rate is measured from the first report that counted an example, not from the run's start:
TensorFlow's import (3-5 s) and the first graph build come before it and would make the early
rate, and with it the ETA, meaningless.  Until a second of examples has been seen no rate is shown.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: Seconds of examples before a rate (and so an ETA) is shown.
MIN_RATE_SECONDS = 1.0


def _seconds_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _rate_text(rate: float) -> str:
    return f"{rate:.0f}/s" if rate >= 10 else f"{rate:.1f}/s"


class ProgressPrinter:
    """Draws a run's progress: callable with a Progress; :meth:`start` before, :meth:`close` after.

    ``fancy``: None (default) draws a rich bar when ``stream`` is a terminal and rich imports,
    False never, True whenever rich imports.  ``interval``: seconds between plain lines.
    """

    def __init__(self, stream: TextIO | None = None, *, total: int | None = None, label: str = "examples",
                 fancy: bool | None = None, interval: float = 5.0, clock: Any = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.label = label
        self.interval = interval
        self.clock = clock
        interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._want_bar = interactive if fancy is None else fancy
        self._bar: Any = None
        self._task: Any = None
        self._first: tuple[float, int] | None = None  # (clock, examples) at the first report that counted one
        self._last_line = float("-inf")
        self._last: Any = None
        self._closed = False
        self._pending: str | None = None

    # -- what the caller sees ---------------------------------------------------------------------------
    def start(self, message: str) -> None:
        """A first line, written with the first report: the run sends one (0 examples) once its options,
        database and corpus are checked and before TensorFlow loads, which takes seconds.  A run that
        fails before that writes nothing here: its error is the one line."""
        self._pending = message.rstrip("\n")

    def __call__(self, p: Any) -> None:
        now = self.clock()
        if self._pending is not None:
            self.stream.write(self._pending + "\n")
            self.stream.flush()
            self._pending = None
        if self._first is None and p.examples > 0:
            self._first = (now, p.examples)
        first_failure = bool(p.failures) and not (self._last is not None and self._last.failures)
        self._last = p
        total = p.total if getattr(p, "total", None) is not None else self.total
        if self._want_bar and self._bar is None:
            self._open_bar(total)
        if self._bar is not None:
            self._bar.update(self._task, completed=p.examples, total=total, status=self.status(p, now, total))
            self._bar.refresh()
            return
        done = total is not None and p.examples >= total  # close() writes the last line, with the totals
        if (now - self._last_line >= self.interval and not done) or first_failure:  # the first failure at once
            self._last_line = now
            self._write_line(p, now, total)

    def close(self) -> None:
        """Take the bar down (or write the last plain line) so what follows starts on a line of its own."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.stop()
            return
        p = self._last
        if p is not None:
            self._write_line(p, self.clock(), p.total if getattr(p, "total", None) is not None else self.total,
                             final=True)

    # -- the numbers -------------------------------------------------------------------------------------
    def rate(self, p: Any, now: float) -> float | None:
        """Examples per second since the first counted example; None until MIN_RATE_SECONDS of them."""
        if self._first is None:
            return None
        t0, n0 = self._first
        if now - t0 < MIN_RATE_SECONDS or p.examples <= n0:
            return None
        return (p.examples - n0) / (now - t0)

    def status(self, p: Any, now: float, total: int | None, *, final: bool = False) -> str:
        """``37/s, ETA 3 s, failures: 1 (mismatch)`` (the parts known so far)."""
        parts = []
        rate = self.rate(p, now)
        if rate is not None:
            parts.append(_rate_text(rate))
            if total is not None and not final and p.examples < total:
                parts.append(f"ETA {_seconds_text((total - p.examples) / rate)}")
        if final:
            parts.append(f"{_seconds_text(p.elapsed)} in all")
        if p.failures:
            parts.append(f"failures: {p.failures}" + (f" ({p.last_kind})" if p.last_kind else ""))
        return ", ".join(parts)

    def line(self, p: Any, now: float, total: int | None, *, final: bool = False) -> str:
        done = f"{p.examples}/{total}" if total is not None else f"{p.examples}"
        status = self.status(p, now, total, final=final)
        return f"{self.label}: {done}" + (f" ({status})" if status else "")

    def _write_line(self, p: Any, now: float, total: int | None, *, final: bool = False) -> None:
        self.stream.write(self.line(p, now, total, final=final) + "\n")
        self.stream.flush()

    def _open_bar(self, total: int | None) -> None:
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:  # the progress extra is not installed: plain lines, as in a log
            self._want_bar = False
            return
        console = Console(file=self.stream, force_terminal=True if self._want_bar else None)
        # No auto-refresh thread: the run reports twice a second, and each report redraws.
        self._bar = Progress(TextColumn(f"{self.label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TextColumn("{task.fields[status]}"), console=console, auto_refresh=False,
                             transient=False)
        self._task = self._bar.add_task(self.label, total=total, status="")
        self._bar.start()


def progress_printer(stream: TextIO | None = None, **kwargs: Any) -> ProgressPrinter:
    """A :class:`ProgressPrinter` for ``CheckOptions.progress`` (stderr unless ``stream``)."""
    return ProgressPrinter(stream, **kwargs)
