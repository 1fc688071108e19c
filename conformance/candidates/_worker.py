"""The worker process of an isolated run: resolves a target, then runs the cases it is sent.

Started by :mod:`conformance.candidates._isolation` with a clean interpreter (never forked from a
harness that already holds TensorFlow)::

    python -m conformance.candidates._worker --fds R,W --parent PID [--memory-limit-mb N] TARGET

Messages are length-prefixed pickles (protocol 5) of plain tuples, exchanged only
between our own two processes, on a pipe pair of their own (the candidate may print
to stdout/stderr freely; both go to a log the harness reads after a crash)::

    harness -> worker   ("run", seq, case)                      | ("quit",)
    worker -> harness   ("ready", name, info_dict, pid)        | ("load_error", message)
                        ("ok", seq, {name: array})             | ("fault", seq, kind, message, traceback)

This module stays light: numpy and the candidate loader only, so a worker starts in
well under a second unless the candidate itself imports a framework.
"""

from __future__ import annotations

import argparse
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from typing import Any

_HEADER = struct.Struct("!Q")
#: Set in a worker that re-executed itself with the candidate's declared environment.
_REEXEC_MARK = "_LSTM_CONFORMANCE_WORKER_REEXEC"
#: The harness's ``sys.path``, so a worker imports targets exactly as the harness did.
SYS_PATH_VAR = "_LSTM_CONFORMANCE_SYS_PATH"
#: A directory the harness made for this worker and removes when it ends or kills it: ``exec:``
#: candidates make their per-call temporary directories in it (conformance.candidates._exec).
EXEC_TMPDIR_VAR = "_LSTM_CONFORMANCE_EXEC_TMPDIR"


class PipeClosed(EOFError):
    """The other end of the pipe is gone (the process exited or closed it)."""


class ReplyTimeout(TimeoutError):
    """No complete message arrived before the deadline."""


def send(fd: int, message: Any) -> None:
    """Write one message (blocking); BrokenPipeError if the reader is gone."""
    send_pickled(fd, pickle.dumps(message, protocol=5))


def send_pickled(fd: int, body: bytes) -> None:
    """Write one message already pickled by the caller."""
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    left = n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReplyTimeout()
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise ReplyTimeout()
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise PipeClosed()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None) -> Any:
    """Read one message; PipeClosed at end of file, ReplyTimeout past ``deadline`` (time.monotonic())."""
    (length,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, length, deadline))


# --- the worker side ----------------------------------------------------------------------


# --- nothing a worker starts outlives it, nor the worker its harness ----------------------------------

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


_prctl_function: Any = None


def _prctl() -> Any:
    """libc's prctl (ctypes), or None off Linux or without it; resolved once, in the calling process."""
    global _prctl_function
    if _prctl_function is None and sys.platform.startswith("linux"):
        try:
            import ctypes

            _prctl_function = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            _prctl_function = False
    return _prctl_function or None


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent (the parent's *thread* that started it)
    ends: ``prctl(PR_SET_PDEATHSIG)``, which needs no GIL, so it works while a candidate spins in C holding it.

    Linux only: False elsewhere (or if prctl fails).  The parent may have died before this ran: then the
    signal is raised at once.
    """
    prctl = _prctl()
    if prctl is None or prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:  # it died before the prctl: the kernel will not tell us
        os.kill(os.getpid(), sig)
    return True


def dies_with_us(sig: int = signal.SIGKILL, *, own_group: bool = False) -> Any:
    """A ``preexec_fn`` for subprocess.Popen: the child gets ``sig`` when this process (this thread) ends (Linux;
    elsewhere nothing) and, with ``own_group``, leads a process group of its own in our session.  Everything is
    resolved here, in the parent: the child, between fork and exec, only calls setpgid and prctl."""
    prctl = _prctl()
    parent, kill, getppid, getpid, setpgid = os.getpid(), os.kill, os.getppid, os.getpid, os.setpgid

    def preexec() -> None:
        if own_group:
            setpgid(0, 0)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
            if getppid() != parent:
                kill(getpid(), sig)

    return preexec


def processes() -> list[tuple[int, int, int, int, bytes]]:
    """(pid, ppid, pgrp, session, state) of every process /proc shows; empty where there is no /proc."""
    out: list[tuple[int, int, int, int, bytes]] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "PID (COMM) STATE PPID PGRP SESSION ...": COMM may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        try:
            out.append((int(entry), int(fields[1]), int(fields[2]), int(fields[3]), fields[0]))
        except (IndexError, ValueError):
            continue
    return out


def session_members(session: int) -> list[int]:
    """Live (not zombie) processes of session ``session`` other than this one: what a worker started in its
    session (the candidate's children, ``exec:`` programs and theirs, orphans included).  Empty without /proc."""
    if session <= 1:
        return []
    me = os.getpid()
    return [pid for pid, _, _, sid, state in processes() if sid == session and pid != me and state not in (b"Z", b"X")]


def kill_session(session: int) -> None:
    """SIGKILL every process of session ``session`` (see session_members), a few passes for late forks."""
    for _ in range(3):
        members = session_members(session)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def kill_children() -> None:
    """SIGKILL this process's children and the process groups they lead (a child that left our session with
    setsid is out of the reaper's reach).  With PR_SET_CHILD_SUBREAPER (see main) orphans of our descendants
    are our children too."""
    me, own = os.getpid(), os.getpgrp()
    for pid, ppid, pgrp, _, state in processes():
        if ppid != me or state in (b"Z", b"X") or pid == _reaper:
            continue
        for kill, target in ((os.killpg, pgrp), (os.kill, pid)):
            if target > 1 and target != own:
                try:
                    kill(target, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


_reaper = 0  # the session reaper's pid


def start_session_reaper(worker: int) -> None:
    """Fork a small process that kills what is left of this worker's session once the worker is gone, however
    it went (a quit, a SIGKILL from the harness or, by PR_SET_PDEATHSIG, the harness's own death): the
    candidate's children and everything they started there, orphans included.  Linux only; call it before
    any thread starts."""
    global _reaper
    if not sys.platform.startswith("linux") or os.getsid(0) != worker:
        return
    _reaper = os.fork()
    if _reaper:
        return
    try:  # the reaper: it holds none of the worker's pipes, so their ends close when the worker dies
        os.closerange(3, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 1024)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # raises KeyboardInterrupt
        try:
            die_with_parent(worker, signal.SIGTERM)
            while os.getppid() == worker:
                time.sleep(1.0)  # the SIGTERM ends it at once; the check, where there is no prctl
        except KeyboardInterrupt:
            pass
        # The signal comes again as each thread of the worker ends (its children pass to the next one).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        deadline = time.monotonic() + 2.0
        while os.getppid() == worker and time.monotonic() < deadline:  # until it is gone for good
            time.sleep(0.01)
        kill_session(worker)
    finally:
        os._exit(0)


def _watch_parent(parent: int) -> None:
    """Exit when the harness is gone, even while the candidate is stuck in a Python loop.

    Besides prctl(PR_SET_PDEATHSIG) (``--die-with-parent``, which needs no GIL): that fires when the
    *thread* that started us exits, so the harness asks for it only from its main thread.
    """

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _address_space() -> int:
    """Bytes of address space this process maps now (VmSize)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


#: The largest finite limit setrlimit accepts from Python (rlim_t is passed as a signed 64-bit integer).
_RLIM_MAX = 2**63 - 1


def _limit_memory(limit_mb: int) -> None:
    """Cap the address space at what the loaded candidate holds now plus ``limit_mb``.

    Counting from after loading means the interpreter, numpy and the candidate's
    framework (often gigabytes of reserved address space) are not charged to it.
    """
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = _address_space() + limit_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    elif soft > _RLIM_MAX:  # more than rlim_t holds: no limit at all is what was asked for
        soft = resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _load(target: str) -> Any:
    """Resolve ``target``; re-execute this worker once if the candidate declares an environment not yet set."""
    from conformance.candidates import resolve

    loaded = resolve(target)
    missing = {k: v for k, v in loaded.info.env.items() if os.environ.get(k) != v}
    if missing:
        if os.environ.get(_REEXEC_MARK):
            raise RuntimeError(f"candidate {target!r} needs {missing} but it could not be set")
        # Its framework may already have been imported while resolving: start over with the variables set.
        env = dict(os.environ, **missing, **{_REEXEC_MARK: "1"})
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "conformance.candidates._worker", *sys.argv[1:]], env)
    return loaded


def _fault_reply(seq: int, fault: BaseException, memory_limit_mb: int | None) -> tuple:
    kind = getattr(fault, "kind", "exception")
    message = getattr(fault, "message", str(fault))
    if isinstance(fault.__cause__, MemoryError):
        kind = "memory"
        limit = f" under --memory-limit {memory_limit_mb} MB" if memory_limit_mb else ""
        message = f"the candidate ran out of memory{limit}: {message}"
    return ("fault", seq, kind, message, getattr(fault, "traceback", None))


def _serve(fd_in: int, fd_out: int, loaded: Any, memory_limit_mb: int | None) -> None:
    import numpy as np

    from conformance.candidates import call_candidate
    from conformance.spec import CandidateFault

    while True:
        try:
            message = receive(fd_in)
        except PipeClosed:
            return
        if message[0] == "quit":
            return
        _, seq, case = message
        reply: tuple | None = None
        try:
            result = call_candidate(loaded.fn, case)
            # Plain ndarrays only: subclasses (matrix, masked, framework wrappers) may not unpickle in the harness.
            # Every array by name (a network's other cells and backward outputs too), as plain ndarrays.
            body = pickle.dumps(("ok", seq, {k: np.asarray(a) for k, a in result.arrays().items()}), protocol=5)
        except CandidateFault as fault:
            reply = _fault_reply(seq, fault, memory_limit_mb)
        except MemoryError:
            reply = ("fault", seq, "memory", "the result could not be sent back: out of memory", None)
        except Exception as exc:  # the result could not be pickled
            reply = ("fault", seq, "exception", f"the result could not be sent back: {type(exc).__name__}: {exc}", None)
        if reply is not None:
            send(fd_out, reply)
        else:
            send_pickled(fd_out, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.candidates._worker")
    parser.add_argument("--fds", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--memory-limit-mb", type=int, default=None)
    parser.add_argument("--die-with-parent", action="store_true",
                        help="PR_SET_PDEATHSIG: SIGKILL when the harness (the thread that started us) is gone")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    fd_in, fd_out = (int(x) for x in args.fds.split(","))
    if args.die_with_parent:
        die_with_parent(args.parent)
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of what the candidate starts become ours
    if not os.environ.get(_REEXEC_MARK):  # a re-executed worker has its reaper already
        start_session_reaper(os.getpid())
    # Ctrl-C belongs to the harness, which ends this worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import faulthandler

    faulthandler.enable(file=sys.stderr)  # a segfault leaves the candidate's Python stack in the log
    _watch_parent(args.parent)
    parent_path = os.environ.get(SYS_PATH_VAR)
    if parent_path:
        theirs = parent_path.split(os.pathsep)
        sys.path[:] = theirs + [p for p in sys.path if p not in theirs]

    from conformance.spec import CandidateLoadError

    try:
        loaded = _load(args.target)
    except (CandidateLoadError, RuntimeError) as exc:
        send(fd_out, ("load_error", str(exc)))
        return 3
    # Only now (a re-execution above needs them): grandchildren such as exec: candidates'
    # programs must not hold our pipes open after we die.
    os.set_inheritable(fd_in, False)
    os.set_inheritable(fd_out, False)
    if args.memory_limit_mb:
        _limit_memory(args.memory_limit_mb)
    # Plain fields only: an ``accepts`` callable may not pickle, or not unpickle in the harness.
    send(fd_out, ("ready", loaded.name, loaded.info.to_dict(), os.getpid()))
    try:
        _serve(fd_in, fd_out, loaded, args.memory_limit_mb)
    finally:
        kill_children()  # the reaper (our child too) then kills what is left of our session
    return 0


if __name__ == "__main__":
    sys.exit(main())
