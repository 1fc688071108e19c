"""TensorFlow imported on a thread of its own while the run starts: its ~4 s overlap everything that does not need it.

A run needs TF only for the oracle, and the oracle only once a case is drawn; until then the harness
resolves the candidate (importing its framework), sets Hypothesis up, draws the first cases and can run
the candidate on them.  :func:`preload_tensorflow` starts :func:`conformance.oracle.import_tensorflow`
on a daemon thread and returns at once; whoever needs TF meanwhile waits for that one import
(``import_tensorflow`` holds its lock for the whole import).

Two things a concurrent import must not do, and how it does not:

* **TF imported twice at once.**  TF's registries and lazy loaders break when two threads import it
  together (issue 17: ``No module named 'tensorflow.compat'``).  While the preload runs,
  ``builtins.__import__`` is wrapped (:class:`ImportGate`): any *other* thread's ``import`` of TF or of a
  package built on it (tf-keras, keras, tensorboard, tf2onnx...) waits until the preload is done, after
  which it finds TF complete.  A candidate that uses TF thus waits instead of racing it.  The wait comes
  before the import machinery takes the module's lock: a finder on ``sys.meta_path`` would wait holding
  it, and TF's own import, needing that module (``keras``), would wait for the waiter (a deadlock seen
  with the keras3-jax adapter).
* **The rest of the process silenced.**  Importing TF prints C++ start-up chatter on fd 2 (absl's
  "All log messages before absl::InitializeLog()", CUDA stubs), which no variable turns off, so a
  foreground import points fd 2 at /dev/null for its duration.  A background one cannot: the progress
  line and the candidate's own messages go to fd 2 meanwhile.  So fd 2 is pointed at a pipe whose
  reader (:class:`ChatterFilter`) passes every line on to the real stderr at once, except the lines of
  TF's log format, which it drops.

Module-level state: :data:`_preload`, the one preload thread of the process (None until started).
"""

from __future__ import annotations

import builtins
import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

from conformance.oracle import _tf as tf_import

#: Top-level packages that import TensorFlow (or are it): another thread's import of one waits for the preload.
TF_FAMILY = frozenset({"tensorflow", "tf_keras", "keras", "tensorboard", "tensorflow_estimator",
                       "tensorflow_probability", "tf2onnx", "tensorflow_hub", "tensorflow_text"})
#: How long a gated import waits for the preload before going ahead anyway (a deadlock guard, never reached
#: by a working import: TF imports in seconds).
GATE_TIMEOUT = 300.0

#: The lines TF's import prints on fd 2: absl's pre-initialisation notice and absl/glog log lines
#: (``I0000 00:00:1796612249.775919   13874 cudart_stub.cc:31] ...``, ``W1207 02:57:33.1 ... file.cc:12] ...``).
_CHATTER = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                      rb"|[IWEF]\d{4} [\d:.]+ +\d+ [\w.\-/]+:\d+\] )")
#: A partial line that may still turn out to be chatter is held back until its end comes.
_MAYBE_CHATTER = re.compile(rb"^(W(A(R(N(I(N(G(:( .*)?)?)?)?)?)?)?)?|[IWEF]\d{0,4}( [\d:.]*( +\d*( [\w.\-/:]*)?)?)?)$")


class ImportGate:
    """A ``builtins.__import__`` wrapper that holds absolute imports of :data:`TF_FAMILY` packages from any
    thread but the preload's until ``done`` is set, then imports as ``original`` does."""

    def __init__(self, done: threading.Event, importer: threading.Thread, family: frozenset[str] = TF_FAMILY,
                 original: Any = None):
        self.done, self.importer, self.family = done, importer, family
        self.original = original if original is not None else builtins.__import__

    def __call__(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if (not self.done.is_set() and level == 0 and name.partition(".")[0] in self.family
                and threading.current_thread() is not self.importer):
            self.done.wait(GATE_TIMEOUT)
        return self.original(name, globals, locals, fromlist, level)

    def install(self) -> None:
        builtins.__import__ = self

    def uninstall(self) -> None:
        if builtins.__import__ is self:  # (wrapped again since: left in place, it only passes imports on)
            builtins.__import__ = self.original


class ChatterFilter:
    """Reads what is written to fd 2 through a pipe and writes it on to ``out_fd``, dropping TF's log lines.

    Complete lines are passed on (or dropped) as they come; a partial line is passed on at once unless it
    could still be the start of a log line (a progress line ending in ``\\r`` is never held back).
    """

    def __init__(self, read_fd: int, out_fd: int):
        self.read_fd, self.out_fd = read_fd, out_fd
        self.thread = threading.Thread(target=self._pump, name="lstm-conformance-stderr", daemon=True)

    def _pump(self) -> None:
        held = b""
        while True:
            try:
                chunk = os.read(self.read_fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            passed, held = filter_chatter(held + chunk)
            self._write(passed)
        self._write(held)  # what is left when the writers are gone is not a line of TF's to come
        # Both ends are this thread's: a process started meanwhile may hold the pipe (its inherited stderr) for
        # longer than the import lasts, and its writes must still arrive, not break on a closed pipe.
        for fd in (self.read_fd, self.out_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _write(self, data: bytes) -> None:
        while data:
            try:
                data = data[os.write(self.out_fd, data):]
            except OSError:
                return


def filter_chatter(data: bytes) -> tuple[bytes, bytes]:
    """Split ``data`` (from fd 2) into what to pass on now and what to hold back: TF's log lines are dropped,
    a trailing partial line that may still become one is held (returned second)."""
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: a partial line (b"" when data ends with one)
    kept = [line + b"\n" for line in lines if not _CHATTER.match(line)]
    if tail and (_MAYBE_CHATTER.match(tail) or _CHATTER.match(tail)) and b"\r" not in tail:
        return b"".join(kept), tail
    return b"".join(kept) + tail, b""


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """fd 2 through a :class:`ChatterFilter` for the duration (see the module docstring); as-is where fd 2
    cannot be duplicated (no stderr) or ``LSTM_CONFORMANCE_TF_LOGS`` asks for TF's logs."""
    saved = tf_import.saved_stderr()
    if saved is None:
        yield
        return
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        os.close(saved)
        yield
        return
    pump = ChatterFilter(read_fd, saved)
    pump.thread.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer is gone (unless a child holds it): the reader sees its end
        pump.thread.join(timeout=1)  # and stops, closing the pipe and ``saved`` itself


#: The process's preload thread, once started (module-level: one TF import per process).
_preload: threading.Thread | None = None
_preload_lock = threading.Lock()


def preload_tensorflow() -> None:
    """Start importing TensorFlow on a daemon thread (once per process; nothing if it is imported already)."""
    global _preload
    with _preload_lock:
        if _preload is not None or tf_import._tf is not None:
            return
        done = threading.Event()
        thread = threading.Thread(target=lambda: _run(done, gate), name="lstm-conformance-tf-import", daemon=True)
        gate = ImportGate(done, thread)
        gate.install()
        _preload = thread
        thread.start()


def preloading() -> bool:
    """Whether the preload has started and not finished (TF is being imported in the background)."""
    return _preload is not None and _preload.is_alive()


def wait_for_preload() -> None:
    """Return once no preload is running (at once where none was started or it is done)."""
    thread = _preload
    if thread is not None:
        thread.join()


def _run(done: threading.Event, gate: ImportGate) -> None:
    try:
        with tf_import._import_lock:
            if tf_import._tf is None:
                tf_import._import_tensorflow(quiet=filtered_stderr)
    except BaseException:  # noqa: BLE001 - the import is retried, and its error raised, where TF is needed
        pass
    finally:
        done.set()
        gate.uninstall()
