"""Running a candidate in a worker process that may crash, hang or eat memory without harm.

:class:`SubprocessExecutor` implements the Executor protocol of :mod:`conformance.judge._evaluate`.
The candidate runs in a long-lived worker (:mod:`conformance.candidates._worker`, a fresh
interpreter, its own session so Ctrl-C reaches only the harness); the oracle stays in the
harness.  What can go wrong becomes a :class:`CandidateFault` with its own ``kind``:

* ``crash``   the worker died: a signal (SIGSEGV from a native bug, SIGABRT from abort()) or an exit
* ``hang``    no result within the call's timeout (adapted to the calls that returned, at most
              ``timeout_seconds``, never past the caller's deadline: AdaptiveTimeouts): the worker is killed
* ``memory``  MemoryError under ``memory_limit_mb`` (an RLIMIT_AS cap set in the worker), or a
              SIGKILL the harness did not send (the kernel's out-of-memory killer)
* ``exception``, ``wrong_shape``, ``wrong_dtype``  as in-process (conformance.candidates.call_candidate)

A dead or killed worker is replaced and the run goes on.  After the first loss a spare
worker is kept booting in the background, so shrinking a crash (where every step may
kill the worker) does not wait for an interpreter start per step.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping

from conformance.candidates import CandidateInfo
from conformance.candidates._limits import (
    MIN_PROBE_SECONDS,
    AdaptiveTimeouts,
    CallTimes,
    DeadlineReached,
    case_work,
    check_limits,
    crash_location,
    own_groups_of_children,
    signal_description,
)
from conformance.candidates._worker import (
    EXEC_TMPDIR_VAR,
    SYS_PATH_VAR,
    PipeClosed,
    ReplyTimeout,
    kill_session,
    receive,
    send,
)
from conformance.oracle import tf_environment
from conformance.spec import CandidateFault, CandidateLoadError, Case, Result

#: How long a worker may take to import and resolve its candidate (frameworks import slowly on loaded machines).
START_TIMEOUT_SECONDS = 300.0
#: Grace for a worker to leave on its own after ``quit`` before it is killed.
QUIT_GRACE_SECONDS = 2.0
_LOG_TAIL_BYTES = 64 * 1024
#: A worker's log (the candidate's prints, faulthandler's report) is emptied between calls past this size.
_LOG_MAX_BYTES = 16 * 1024 * 1024


class _Worker:
    """One worker process: its pipes, its log, and whether the harness killed it."""

    def __init__(self, target: str, env: Mapping[str, str], memory_limit_mb: int | None):
        request_r, self.request_w = os.pipe()
        self.reply_r, reply_w = os.pipe()
        # Append mode: the worker writes at the end whatever the harness reads or truncates.
        self.log = tempfile.TemporaryFile(mode="a+b", prefix="lstm-conformance-worker-")
        # The environment an in-process candidate sees (TF's, as the oracle imports it), then its own.
        child_env = dict(os.environ, **tf_environment(), **env)
        child_env[SYS_PATH_VAR] = os.pathsep.join(p for p in sys.path if p)
        # exec: candidates' temporary directories go here, removed with the worker even if it is killed mid-call.
        self.scratch = tempfile.mkdtemp(prefix="lstm-conformance-worker-")
        child_env[EXEC_TMPDIR_VAR] = self.scratch
        argv = [sys.executable, "-m", "conformance.candidates._worker", "--fds", f"{request_r},{reply_w}",
                "--parent", str(os.getpid())]
        if memory_limit_mb:
            argv += ["--memory-limit-mb", str(memory_limit_mb)]
        if threading.current_thread() is threading.main_thread():
            # PR_SET_PDEATHSIG fires when the starting *thread* ends: only the main thread lives as long as we do.
            argv.append("--die-with-parent")
        argv.append(target)
        try:
            self.proc = subprocess.Popen(
                argv, pass_fds=(request_r, reply_w), stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                env=child_env, start_new_session=True,
            )
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        finally:
            os.close(request_r)
            os.close(reply_w)
        self.spawned = time.monotonic()
        self.killed_by_us = False
        self.answered = False  # it has returned a result: its later calls are warm
        self.ready = False
        self.name: str | None = None
        self.info: CandidateInfo | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float) -> float:
        """Read the ``ready`` message; CandidateLoadError (one line) if the candidate cannot be loaded.
        Returns how long the worker took to start (0 when it was ready before)."""
        if self.ready:
            return 0.0
        try:
            message = receive(self.reply_r, time.monotonic() + timeout)
        except ReplyTimeout:
            self.kill()
            raise CandidateLoadError(f"the worker did not load the candidate within {timeout:.0f} s") from None
        except PipeClosed:
            last = [line for line in self.log_tail().splitlines() if line.strip()][-1:]
            said = f" ({last[0].strip()})" if last else ""
            raise CandidateLoadError(f"the worker {self.death()} while loading the candidate{said}") from None
        if message[0] == "load_error":
            self.close()
            raise CandidateLoadError(message[1])
        _, self.name, info, _pid = message
        fields = {f.name for f in dataclasses.fields(CandidateInfo)}
        self.info = CandidateInfo(**{k: v for k, v in info.items() if k in fields})
        self.ready = True
        return time.monotonic() - self.spawned

    def death(self) -> str:
        """How the worker ended, in words (waits for it; kills it if it lingers)."""
        rc = self.reap()
        where = crash_location(self.log_tail())
        at = f" in {where}" if where else ""
        if rc < 0:
            return f"died from {signal_description(-rc)}{at}"
        return f"exited with status {rc}{at}"

    def reap(self, grace: float = 5.0) -> int:
        try:
            return self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:  # closed its pipe but kept running
            self.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the worker, anything it started in its session (even after it left on its own) and the process
        groups of the programs it started in sessions of their own; reap it (no zombies); remove its scratch
        directory."""
        if self.proc.poll() is None:
            self.killed_by_us = True
            groups = own_groups_of_children(self.proc.pid)  # while they are still its children
            for group in (self.proc.pid, *sorted(groups)):
                try:
                    os.killpg(group, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self.proc.wait()
        kill_session(self.proc.pid)  # a candidate's children, orphaned when the worker quit, included
        self._close_fds()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def close(self) -> None:
        """Ask the worker to leave; kill it if it does not within the grace period."""
        if self.proc.poll() is None:
            try:
                send(self.request_w, ("quit",))
                self.proc.wait(timeout=QUIT_GRACE_SECONDS)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def _close_fds(self) -> None:
        for fd in (self.request_w, self.reply_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.request_w = self.reply_r = -1
        try:
            self.log.close()
        except OSError:
            pass

    def log_tail(self) -> str:
        try:
            fd = self.log.fileno()
            size = os.fstat(fd).st_size
            return os.pread(fd, min(size, _LOG_TAIL_BYTES), max(0, size - _LOG_TAIL_BYTES)).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def trim_log(self) -> None:
        """Empty the log if a chatty candidate has grown it too large (call only while the worker is idle)."""
        try:
            fd = self.log.fileno()
            if os.fstat(fd).st_size > _LOG_MAX_BYTES:
                os.ftruncate(fd, 0)
        except (OSError, ValueError):
            pass


def _kill_all(workers: list[_Worker]) -> None:
    for w in list(workers):
        w.kill()


def _memory_hint(log: str) -> bool:
    lowered = log.lower()
    return any(s in lowered for s in ("memoryerror", "bad_alloc", "cannot allocate memory", "out of memory"))


class SubprocessExecutor(AdaptiveTimeouts):
    """Runs one candidate, by target string, in a replaceable worker process.

    ``run(case)`` returns the candidate's :class:`Result` (outputs [B, T, P], c [B, H],
    h [B, P]) or raises :class:`CandidateFault`.  ``timeout_seconds`` bounds each call;
    ``memory_limit_mb`` caps what the candidate may allocate beyond what its worker holds
    after loading it.  ``env`` is set in the worker before the candidate is imported (the
    worker also applies the candidate's own declared ``env``).  ``info`` is the candidate's
    CandidateInfo when the caller has loaded it too (it may hold an ``accepts`` callable,
    which does not cross the pipe); otherwise the worker's declaration is used.  The
    constructor starts the first worker and raises CandidateLoadError if it cannot load
    the candidate.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout_seconds: float | None = None,
        memory_limit_mb: int | None = None,
        env: Mapping[str, str] | None = None,
        info: CandidateInfo | None = None,
        start_timeout_seconds: float = START_TIMEOUT_SECONDS,
    ):
        check_limits(timeout_seconds, memory_limit_mb)
        self.target = target
        self.timeout_seconds = timeout_seconds
        self.memory_limit_mb = memory_limit_mb
        self.start_timeout_seconds = start_timeout_seconds
        self._env = dict(env or {})
        self._workers: list[_Worker] = []  # every live worker, for the finalizer
        self._finalizer = weakref.finalize(self, _kill_all, self._workers)
        self._active: _Worker | None = None
        self._spare: _Worker | None = None
        self._seq = 0
        #: Workers lost (crash, hang, memory kill) and replaced so far.
        self.restarts = 0
        self.calls = 0
        self.times = CallTimes()  # adaptive timeouts: see AdaptiveTimeouts
        #: The longest a worker took to start: what replacing a killed one costs.
        self.boot_seconds = 0.0
        first = self._spawn()
        try:
            self.boot_seconds = first.wait_ready(start_timeout_seconds)
        except CandidateLoadError as exc:
            first.kill()
            self._workers.remove(first)
            raise CandidateLoadError(f"target {target!r} in a worker process: {exc}") from None
        self._active = first
        assert first.info is not None and first.name is not None
        self.info: CandidateInfo = info if info is not None else first.info
        self.name: str = first.name
        self._env.update(self.info.env)  # replacements start with it, without re-executing

    # --- workers -------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        worker = _Worker(self.target, self._env, self.memory_limit_mb)
        self._workers.append(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        if worker in self._workers:
            self._workers.remove(worker)
        if worker is self._active:
            self._active = None

    def _lost(self, worker: _Worker) -> None:
        """A worker is gone: discard it and have a replacement booting before it is needed."""
        self._discard(worker)
        self.restarts += 1
        if self._spare is None:
            self._spare = self._spawn()

    def _ready_worker(self) -> _Worker:
        if self._active is not None:
            return self._active
        worker, self._spare = (self._spare, None) if self._spare is not None else (self._spawn(), None)
        try:
            self.boot_seconds = max(self.boot_seconds, worker.wait_ready(self.start_timeout_seconds))
        except CandidateLoadError as exc:
            self._discard(worker)
            # It loaded before: report this as the candidate's fault rather than abort the run.
            raise CandidateFault("crash", f"a replacement worker could not load the candidate: {exc}") from None
        self._active = worker
        if self.restarts:
            # Losing one worker predicts losing more (shrinking a crash): keep the next one booting.
            self._spare = self._spawn()
        return worker

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (the active one and any spare)."""
        return [w.pid for w in self._workers if w.proc.poll() is None]

    # --- the Executor protocol ----------------------------------------------------------
    def run(self, case: Case) -> Result:
        # Checked before waiting for a worker to start, and again once it is ready.
        self._limit_or_stop(case, self._active is None or not self._active.answered)
        worker = self._ready_worker()
        first = not worker.answered
        limit, why = self._limit_or_stop(case, first)
        self._seq += 1
        self.calls += 1
        seq = self._seq
        started = time.monotonic()
        try:
            send(worker.request_w, ("run", seq, case))
            reply = self.await_reply(worker.reply_r, worker.pid, started, limit, why)
        except ReplyTimeout as exc:
            self._lost(worker)
            raise self.timed_out(getattr(exc, "limit", limit), why) from None
        except (PipeClosed, BrokenPipeError):
            raise self._death_fault(worker) from None
        except (pickle.UnpicklingError, ImportError, AttributeError, EOFError) as exc:
            self._lost(worker)
            raise CandidateFault("crash", f"the worker's reply could not be read ({type(exc).__name__}: {exc})") \
                from None
        except BaseException:
            # Ctrl-C/SIGTERM (or anything else) mid-call: the reply would arrive out of turn later.
            self._discard(worker)
            raise
        if reply[1] != seq:  # cannot happen with one request in flight; never trust a stale reply
            self._lost(worker)
            raise CandidateFault("crash", f"the worker answered request {reply[1]} to request {seq}")
        worker.trim_log()
        worker.answered = True
        if reply[0] == "ok":
            self.times.record(case_work(case), time.monotonic() - started, first)
            return Result.from_arrays(reply[2])
        _, _, kind, message, tb = reply
        fault = CandidateFault(kind, message)
        if tb:
            fault.traceback = tb  # type: ignore[attr-defined]
        raise fault

    def _limit_or_stop(self, case: Case, first: bool) -> tuple[float | None, str]:
        limit, why = self.limit_for(case, first)
        if why == "cut" and (limit or 0.0) < MIN_PROBE_SECONDS:  # it could only be cut short: do not start it
            raise DeadlineReached("too little time is left before the deadline")
        return limit, why

    def _death_fault(self, worker: _Worker) -> CandidateFault:
        how = worker.death()
        log = worker.log_tail()
        rc = worker.proc.returncode
        self._lost(worker)
        if rc == -signal.SIGKILL and not worker.killed_by_us:
            kind = "memory"
            how += " (not sent by the harness: most likely the kernel's out-of-memory killer)"
        elif self.memory_limit_mb and _memory_hint(log):
            kind = "memory"
            how += f" after running out of memory under --memory-limit {self.memory_limit_mb} MB"
        else:
            kind = "crash"
        fault = CandidateFault(kind, f"the worker {how} while running the candidate")
        fault.traceback = log[-4000:]  # type: ignore[attr-defined]
        return fault

    def close(self) -> None:
        """Stop every worker (politely, then SIGKILL) and reap them; safe to call twice."""
        for worker in list(self._workers):
            # A worker still loading would read "quit" only once loaded: do not wait for that.
            worker.close() if worker.ready else worker.kill()
        self._workers.clear()
        self._active = self._spare = None
        self._finalizer.detach()

    def __enter__(self) -> SubprocessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DeadlineReached", "SubprocessExecutor", "crash_location", "signal_description"]
