"""Limits of an isolated run, and reading what a dead worker left: its process groups, its crash."""

from __future__ import annotations

import math
import os
import re
import signal
import sysconfig
from typing import Any

from conformance.spec import InvalidArgument, check_int

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
    """Process groups led by children of ``pid`` that left its group (an ``exec:`` program starts its own session).

    Read from /proc; empty where there is none.  Never the harness's own group or ``pid``'s.
    """
    groups: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return groups
    spare = {os.getpgrp(), pid}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "PID (COMM) STATE PPID PGRP ...": COMM may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        try:
            ppid, pgrp = int(fields[1]), int(fields[2])
        except (IndexError, ValueError):
            continue
        if ppid == pid and pgrp > 1 and pgrp not in spare:
            groups.add(pgrp)
    return groups


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
