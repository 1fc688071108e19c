"""Limits of an isolated run, and reading what a dead worker left: its process groups, its crash."""

from __future__ import annotations

import math
import os
import re
import select
import signal
import sysconfig
import time
from typing import Any

from conformance.candidates._worker import ReplyTimeout, processes, receive
from conformance.spec import CandidateFault, InvalidArgument, check_int

#: Longest per-call timeout (about 11.5 days): longer ones overflow the waits that use it.
MAX_TIMEOUT_SECONDS = 1_000_000.0
#: Largest memory limit: the RLIMIT_AS it becomes (in bytes, on top of what the worker maps) must fit rlim_t,
#: a signed 64-bit integer to Python; 2**42 MB is 2**62 bytes, leaving 2**62 bytes for the worker itself.
MAX_MEMORY_LIMIT_MB = 2**42


def check_limits(timeout_seconds: Any, memory_limit_mb: Any) -> None:
    """InvalidArgument (naming the value) unless both limits of an isolated run are usable or None."""
    if timeout_seconds is not None:
        if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, (int, float)) or not (
            math.isfinite(timeout_seconds) and 0 < timeout_seconds <= MAX_TIMEOUT_SECONDS
        ):
            raise InvalidArgument(f"timeout_seconds={timeout_seconds!r} must be a finite number > 0 and "
                                  f"<= {MAX_TIMEOUT_SECONDS:g}, or None")
    check_int("memory_limit_mb", memory_limit_mb, minimum=1, maximum=MAX_MEMORY_LIMIT_MB, optional=True)


def own_groups_of_children(pid: int) -> set[int]:
    """Process groups led by children of ``pid`` that left its group (an ``exec:`` program starts its own group).

    Read from /proc; empty where there is none.  Never the harness's own group or ``pid``'s.
    """
    spare = {os.getpgrp(), pid}
    return {pgrp for _, ppid, pgrp, _, _ in processes() if ppid == pid and pgrp > 1 and pgrp not in spare}


def signal_description(number: int) -> str:
    """``SIGSEGV (Segmentation fault)`` for 11."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    text = signal.strsignal(number) or ""
    return f"{name} ({text})" if text else name


_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+) in (\S+)', re.M)


def crash_location(log: str) -> str | None:
    """``file.py:LINE in func``: where faulthandler saw the crashing thread, if it printed it.

    The innermost frame outside the standard library: the candidate's own line (or its
    library's) rather than, say, ``ctypes.string_at``.
    """
    marker = log.rfind("Fatal Python error")
    if marker < 0:
        return None
    current = log.find("Current thread", marker)
    frames = _FRAME.findall(log, current if current >= 0 else marker)
    if not frames:
        return None
    stdlib = sysconfig.get_paths()["stdlib"]
    path, line, func = next((f for f in frames if not f[0].startswith(stdlib + os.sep)), frames[0])
    return f"{os.path.basename(path)}:{line} in {func}"


# --- adaptive timeouts -----------------------------------------------------------------------------

#: Shortest adaptive timeout of a call whose timeout makes a verdict (search, confirmation).
MIN_TIMEOUT_SECONDS = 1.0
#: Past this many times the expected time of a call, it is a hang.
TIMEOUT_FACTOR = 10.0
#: Minimisation probes of a hang: a shorter floor and factor (a wrong "still hangs" there only costs
#: minimisation progress: the minimized case is confirmed with the ordinary timeout before it is kept).
MIN_PROBE_SECONDS = 0.25
PROBE_FACTOR = 5.0
#: With nothing known of the candidate's times, the share of the time left before the deadline a call may take.
NO_DATA_SHARE = 0.25


#: What one time step costs a candidate beyond its multiply-adds, in multiply-adds (a loop iteration's overhead:
#: a 1000-step case of one unit takes far longer than its arithmetic says; the size tail draws such cases).
STEP_WORK = 1000


def case_work(case: Any) -> float:
    """How much work ``case`` asks for (multiply-adds of its gates plus STEP_WORK per step, up to a constant):
    scales call times."""
    cfg = case.config
    steps = max(1, case.time)
    return float(case.batch * steps * cfg.num_units * (cfg.input_size + cfg.output_size + 1) + STEP_WORK * steps + 1)


class CallTimes:
    """How long a candidate's calls that returned took.  ``expected(work, first)`` bounds how long a call of that
    much work should take: the slowest call seen (a worker's first call included: it shows what importing or
    compiling costs, which a framework may pay again on a new shape), or the largest call scaled up to ``work``
    if that is larger; None before MIN_SAMPLES calls, or for a worker's first call before one was seen."""

    MIN_SAMPLES = 3

    def __init__(self) -> None:
        self.samples = 0
        self._slowest: dict[bool, float] = {}  # by "a worker's first call"
        self._largest: tuple[float, float] = (0.0, 0.0)  # (work, seconds) of the largest-work call

    def record(self, work: float, seconds: float, first: bool) -> None:
        self.samples += 1
        self._slowest[first] = max(self._slowest.get(first, 0.0), seconds)
        if work > self._largest[0] or (work == self._largest[0] and seconds > self._largest[1]):
            self._largest = (work, seconds)

    def slowest(self) -> float:
        return max(self._slowest.values(), default=0.0)

    def expected(self, work: float, first: bool) -> float | None:
        if self.samples < self.MIN_SAMPLES or (first and first not in self._slowest):
            return None  # a first call is not bounded by warm ones (it may import a framework)
        largest_work, largest_seconds = self._largest
        scaled = largest_seconds * work / largest_work if work > largest_work > 0 else 0.0
        return max(self.slowest(), scaled)


def _readable(fd: int, deadline: float) -> bool:
    """Whether ``fd`` has something to read before ``deadline`` (time.monotonic())."""
    remaining = deadline - time.monotonic()
    return remaining > 0 and bool(select.select([fd], [], [], remaining)[0])


def adaptive_timeout(expected: float | None, upper: float | None, *, probe: bool = False) -> float | None:
    """The timeout of a call expected to take ``expected`` seconds (None: unknown), at most ``upper`` (the user's)."""
    if upper is None or expected is None:
        return upper
    floor, factor = (MIN_PROBE_SECONDS, PROBE_FACTOR) if probe else (MIN_TIMEOUT_SECONDS, TIMEOUT_FACTOR)
    return min(upper, max(floor, factor * expected))


def thread_times(pid: int, *, descendants: bool = False) -> dict[tuple[int, int], tuple[float, bool]]:
    """(seconds on a CPU, runnable now) of each thread of process ``pid`` (with ``descendants``, of every process
    below it too: an ``exec:`` program), by (pid, tid): /proc/PID/task/TID/schedstat's first field (kept current
    while the thread runs) and the state letter of its stat (R: running or waiting for a CPU).  Empty where the
    kernel does not say (not Linux, no schedstats)."""
    pids = [pid]
    if descendants:
        children: dict[int, list[int]] = {}
        for child, ppid, _, _, _ in processes():
            children.setdefault(ppid, []).append(child)
        for parent in pids:  # grows while it is walked: breadth first over the tree below pid
            pids.extend(children.get(parent, ()))
    out: dict[tuple[int, int], tuple[float, bool]] = {}
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/schedstat", "rb") as fh:
                    on_cpu = int(fh.read().split()[0]) / 1e9
                with open(f"/proc/{p}/task/{tid}/stat", "rb") as fh:
                    stat = fh.read()
                out[(p, int(tid))] = (on_cpu, stat[stat.rfind(b")") + 2 :][:1] == b"R")
            except (OSError, IndexError, ValueError):
                continue
    return out


class CallTimedOut(ReplyTimeout):
    """No reply within ``limit`` seconds (the call's timeout, extended by the time its worker waited for a CPU)."""

    def __init__(self, limit: float | None) -> None:
        super().__init__()
        self.limit = limit


class DeadlineReached(TimeoutError):
    """A call was cut short by the caller's ``deadline`` (a time budget), before its timeout could tell a hang."""


class AdaptiveTimeouts:
    """The timeouts of an isolated executor's calls (mixed into SubprocessExecutor, which sets ``times`` and
    ``timeout_seconds``, the user's upper bound; the rest are set by ``limit_calls``)."""

    times: CallTimes
    timeout_seconds: float | None
    #: The shortest limit that found a hang in this run; the caller's deadline and phase.
    hang_seconds: float | None = None
    deadline: float | None = None
    phase: str = "search"

    def limit_calls(self, deadline: float | None, phase: str = "search") -> None:
        """Bound the calls that follow: none runs past ``deadline`` (time.monotonic(); None: unbounded) and each
        times out after ``call_limit``.  ``phase``: "search" (starts a run: forgets the last run's hang),
        "minimize" (probes of a failure: shorter timeouts) or "confirm" (the minimized case: the ordinary
        timeout).  Once a call hung, no call of the run waits longer than the limit that found it.

        A call the deadline cuts short raises DeadlineReached (not a verdict) unless nothing was known of the
        candidate's times (it may then take NO_DATA_SHARE of the time left) and it had at least
        MIN_TIMEOUT_SECONDS: then it is a hang."""
        if phase == "search":
            self.hang_seconds = None
        self.deadline, self.phase = deadline, phase

    def call_limit(self, case: Any, first: bool = False) -> float | None:
        """The timeout of a call of ``case`` in this phase, before any deadline: adapted to the calls that returned
        (TIMEOUT_FACTOR times the expected time, at least MIN_TIMEOUT_SECONDS), at most ``timeout_seconds``."""
        expected = self.times.expected(case_work(case), first)
        limit = adaptive_timeout(expected, self.timeout_seconds, probe=self.phase == "minimize")
        if self.hang_seconds is not None:  # a hang was found with it: no call of this run needs longer
            limit = self.hang_seconds if limit is None else min(limit, self.hang_seconds)
        return limit

    def await_reply(self, fd: int, pid: int, started: float, limit: float | None, why: str) -> Any:
        """The worker's reply to a call started at ``started``, or CallTimedOut.

        A timeout measures the candidate, not the machine: past its limit, a call whose worker (or a program it
        started) is runnable but has had less than the limit's seconds on a CPU since the call began (a loaded
        machine kept it waiting) is given more time, up to the user's timeout and the deadline.  A thread that
        spun through its limit on a CPU, or one asleep (a blocked hang), is a hang at the limit.  Without this a
        correct candidate was reported hanging on a machine at load 10 (its 0.1 s calls, adapted to a 1 s limit,
        stalled past it)."""
        budget = limit
        before = thread_times(pid) if limit is not None and why != "timeout" else {}
        while True:
            try:
                if limit is not None and not _readable(fd, started + limit):
                    raise ReplyTimeout()
                # The reply has begun: the rest follows unless the worker dies (PipeClosed) or stalls writing it.
                return receive(fd, None if limit is None else time.monotonic() + max(limit, MIN_TIMEOUT_SECONDS))
            except ReplyTimeout:
                longer = self._extended(pid, started, budget, why, before)
                if longer is None:
                    raise CallTimedOut(limit) from None
                limit = longer

    def _extended(self, pid: int, started: float, budget: float | None, why: str,
                  before: dict[tuple[int, int], tuple[float, bool]]) -> float | None:
        """A later limit for a call past its ``budget`` whose worker still wants a CPU it has had too little of."""
        if budget is None or why in ("timeout", "cut") or not before:
            return None
        ran, runnable = 0.0, False
        for key, (on_cpu, running) in thread_times(pid, descendants=True).items():
            ran = max(ran, on_cpu - before.get(key, (0.0, False))[0])
            runnable = runnable or running
        if not runnable or ran >= budget:
            return None
        now = time.monotonic()
        caps = [now + max(MIN_PROBE_SECONDS, budget - ran)]
        if self.timeout_seconds is not None:
            caps.append(started + self.timeout_seconds)
        if self.deadline is not None:
            caps.append(self.deadline)
        longer = min(caps) - started
        return longer if longer > now - started + 0.01 else None

    def limit_for(self, case: Any, first: bool) -> tuple[float | None, str]:
        limit = self.call_limit(case, first)
        known = self.times.expected(case_work(case), first) is not None
        why = "timeout" if limit == self.timeout_seconds else "again" if limit == self.hang_seconds else "adaptive"
        if self.deadline is not None:
            left = max(0.0, self.deadline - time.monotonic())
            if not known:  # nothing to compare with: keep most of the time for what follows a hang
                left = max(min(left, MIN_TIMEOUT_SECONDS), NO_DATA_SHARE * left)
            if limit is None or left < limit:
                limit, why = left, ("budget" if not known and left >= MIN_TIMEOUT_SECONDS else "cut")
        return limit, why

    def timed_out(self, limit: float | None, why: str) -> BaseException:
        if why == "cut":
            return DeadlineReached(f"the call was cut short by the deadline after {limit or 0:.2g} s")
        assert limit is not None
        if self.phase != "minimize":  # a probe's short limit is no evidence for the confirmation
            self.hang_seconds = limit if self.hang_seconds is None else min(self.hang_seconds, limit)
        if why == "timeout":
            return CandidateFault("hang", f"no result within the {limit:g} s timeout (the worker was killed)")
        if why == "again":
            return CandidateFault("hang", f"no result within {limit:.3g} s, the timeout that found a hang earlier "
                                          f"in this run (at most {self.timeout_seconds:g} s; the worker was killed)")
        if why == "budget":
            return CandidateFault("hang", f"no result within {limit:.3g} s, all the time budget allowed (the "
                                          f"{self.timeout_seconds:g} s timeout was cut to it; the worker was killed)")
        return CandidateFault("hang", f"no result within {limit:.3g} s (the timeout adapted to the calls that "
                                      f"returned, the slowest in {self.times.slowest():.2g} s; at most "
                                      f"{self.timeout_seconds:g} s; the worker was killed)")

