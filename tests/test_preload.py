"""The background TensorFlow import (conformance/oracle/_preload.py): its stderr filter and its import gate.

Neither imports TensorFlow: the gate is tried on a stand-in package (tests/test_cli_check.py runs the real
preload end to end)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator

from conformance.oracle._preload import ImportGate, filter_chatter

ABSL = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
CUDA = b"I0000 00:00:1796612249.775919   13874 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
GLOG = b"W1207 02:57:33.123456   13874 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"


@contextlib.contextmanager
def _gated(tmp_path, done: threading.Event, importer: threading.Thread, family: frozenset[str],
           also_forget: tuple[str, ...] = ()) -> Iterator[None]:
    """A gate over ``family`` with ``tmp_path`` importable; afterwards the gate is open and gone and the
    stand-in modules (``family`` and ``also_forget``) are forgotten, so no other test sees them."""
    gate = ImportGate(done, importer, family=family)
    sys.path.insert(0, str(tmp_path))
    gate.install()
    try:
        yield
    finally:
        done.set()
        gate.uninstall()
        sys.path.remove(str(tmp_path))
        for name in (*family, *also_forget):
            sys.modules.pop(name, None)


def test_tf_log_lines_are_dropped_and_everything_else_passes_at_once():
    passed, held = filter_chatter(ABSL + b"examples: 16/200 (12/s)\n" + CUDA + GLOG + b"a warning of mine\n")
    assert (passed, held) == (b"examples: 16/200 (12/s)\na warning of mine\n", b""), (passed, held)
    # A progress update without a newline (a terminal's \r) is never held back.
    assert filter_chatter(b"\rexamples: 32/200") == (b"\rexamples: 32/200", b"")
    assert filter_chatter(b"Traceback (most recent call last):") == (b"Traceback (most recent call last):", b"")


def test_a_partial_line_that_may_become_a_log_line_waits_for_its_end():
    passed, held = filter_chatter(b"ok\nI0000 00:00:17966")
    assert (passed, held) == (b"ok\n", b"I0000 00:00:17966"), (passed, held)
    assert filter_chatter(held + CUDA[len(held):]) == (b"", b""), "the completed log line is dropped"
    passed, held = filter_chatter(b"WARN")
    assert (passed, held) == (b"", b"WARN")
    assert filter_chatter(held + b"ING: my own message\n") == (b"WARNING: my own message\n", b""), (
        "a line that only started like a log line is passed on whole")


def test_the_gate_holds_other_threads_imports_of_the_family_until_the_import_is_done(tmp_path):
    (tmp_path / "fakeflow").mkdir()
    (tmp_path / "fakeflow" / "__init__.py").write_text("LOADED = True\n")
    done = threading.Event()
    importer = threading.Thread(target=lambda: None)
    imported_at: list[float] = []
    with _gated(tmp_path, done, importer, frozenset({"fakeflow"}), also_forget=("other_pkg",)):
        worker = threading.Thread(target=lambda: (__import__("fakeflow"), imported_at.append(time.monotonic())))
        worker.start()
        time.sleep(0.3)
        assert not imported_at, "another thread's import of the family went ahead before the import was done"
        released = time.monotonic()
        done.set()
        worker.join(timeout=10)
        assert imported_at and imported_at[0] >= released, "the held import did not go ahead once done"
        assert sys.modules["fakeflow"].LOADED
        # Anything outside the family is never held.
        (tmp_path / "other_pkg.py").write_text("X = 1\n")
        done.clear()
        t = threading.Thread(target=lambda: __import__("other_pkg"))
        t.start()
        t.join(timeout=5)
        assert not t.is_alive() and "other_pkg" in sys.modules


def test_a_held_import_never_holds_a_module_the_preload_needs(tmp_path):
    """The preload's own import needs a family module another thread asks for meanwhile (TF's import reaching
    for ``keras`` while a Keras 3 candidate imports it): the other thread waits before taking that module's lock,
    so the preload finishes and both get their modules (a finder on sys.meta_path waited holding the lock: a
    deadlock)."""
    (tmp_path / "fakeflow2").mkdir()
    (tmp_path / "fakeflow2" / "__init__.py").write_text("import time\ntime.sleep(0.3)\nimport fakekeras2\n")
    (tmp_path / "fakekeras2.py").write_text("import time\ntime.sleep(0.1)\nVALUE = 3\n")
    done = threading.Event()

    def preload():
        try:
            __import__("fakeflow2")
        finally:
            done.set()

    importer = threading.Thread(target=preload)
    got: list[int] = []
    with _gated(tmp_path, done, importer, frozenset({"fakeflow2", "fakekeras2"})):
        importer.start()
        time.sleep(0.1)  # the preload is inside fakeflow2, not yet at fakekeras2
        other = threading.Thread(target=lambda: got.append(__import__("fakekeras2").VALUE))
        other.start()
        other.join(timeout=20)
        importer.join(timeout=20)
        assert not other.is_alive() and not importer.is_alive(), "the held import and the preload deadlocked"
        assert got == [3] and "fakeflow2" in sys.modules


def test_stderr_of_a_process_started_during_the_import_still_arrives_after_it(capfd):
    """A child started while fd 2 goes through the filter inherits the pipe; what it writes after the import is
    done must still reach stderr (the filter's reader runs until the last writer is gone), TF-format lines
    dropped."""
    import os
    import subprocess

    from conformance.oracle._preload import filtered_stderr

    code = ("import sys, time; time.sleep(4); sys.stderr.write('I0000 00:00:1.5   1 x.cc:1] chatter\\n'); "
            "sys.stderr.write('late line of the child\\n'); sys.stderr.flush()")
    env = {k: v for k, v in os.environ.items() if k != "LSTM_CONFORMANCE_TF_LOGS"}
    with filtered_stderr():
        child = subprocess.Popen([sys.executable, "-c", code], env=env)
        os.write(2, b"during the import\n")
        leaving = time.monotonic()
    assert time.monotonic() - leaving < 3.0, "the end of the import waited for a child that holds the pipe"
    assert child.wait(timeout=30) == 0
    time.sleep(0.3)  # the reader forwards what the child wrote, then sees the pipe's end
    err = capfd.readouterr().err
    assert "during the import" in err and "late line of the child" in err, err
    assert "chatter" not in err, err
