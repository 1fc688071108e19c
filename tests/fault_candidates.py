"""Candidates that misbehave on purpose, for the fault-injection tests.

Each is correct (it delegates to the built-in numpy reference) except on the inputs
its docstring names, where it crashes the process, hangs, eats memory, raises, or
returns NaN, wrong shapes, wrong dtypes or different numbers for the same input.
Conditions are on sizes or dtype so that Hypothesis reaches them within a few
examples and the minimized case is predictable.  Loaded by the tests as
``<this file>:<name>`` targets, in worker processes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

import numpy as np

from conformance import candidate
from conformance.candidates._numpy import numpy_reference

HERE = os.path.abspath(__file__)
_NON_FEATURES: list[str] = []  # baseline cases only: fewer ways to differ, faster runs


def target(name: str) -> str:
    """The target string of candidate ``name`` in this file."""
    return f"{HERE}:{name}"


def _segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV inside the C library, no Python exception


def _hang() -> None:
    while True:  # a pure-Python loop: no signal or exception ends it, only a kill
        time.sleep(0.01)


@candidate(features=_NON_FEATURES, dtypes=["float32", "float64"])
def segfault_on_wide(case):
    """SIGSEGV (ctypes null dereference) when num_units >= 3."""
    if case.config.num_units >= 3:
        _segfault()
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def abort_on_long(case):
    """SIGABRT (os.abort) when time >= 3."""
    if case.time >= 3:
        os.abort()
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def exit_on_batch(case):
    """os._exit(7) when batch >= 2: the worker vanishes without a signal."""
    if case.batch >= 2:
        os._exit(7)
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def hang_on_long(case):
    """Never returns when time >= 4."""
    if case.time >= 4:
        _hang()
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def hang_on_batch(case):
    """Never returns when batch >= 2 (most drawn cases: a fuzz budget must still hold while it shrinks)."""
    if case.batch >= 2:
        _hang()
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def eat_memory_on_wide(case):
    """Allocates (and touches) 64 MB chunks without end when num_units >= 2."""
    if case.config.num_units >= 2:
        hoard = []
        while True:
            hoard.append(np.ones(8 * 1024 * 1024))
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def killed_on_wide(case):
    """Dies by SIGKILL it sends itself when num_units >= 2, as the kernel's OOM killer would do it."""
    if case.config.num_units >= 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def raise_on_wide_input(case):
    """Raises ValueError when input_size >= 2."""
    if case.config.input_size >= 2:
        raise ValueError(f"input_size {case.config.input_size} is not supported")
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def exit_call_on_wide_input(case):
    """Calls sys.exit(5) when input_size >= 2 (must not end the harness)."""
    if case.config.input_size >= 2:
        raise SystemExit(5)
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def nan_on_batch(case):
    """Returns NaN in outputs[-1, -1, 0] when batch >= 2."""
    outputs, (c, h) = numpy_reference(case)
    if case.batch >= 2:
        outputs = outputs.copy()
        outputs[-1, -1, 0] = np.nan
    return outputs, (c, h)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def time_major_on_batch(case):
    """Returns outputs time-major [T, B, P] when batch >= 2 (a wrong shape)."""
    outputs, state = numpy_reference(case)
    if case.batch >= 2:
        outputs = np.ascontiguousarray(outputs.transpose(1, 0, 2))
    return outputs, state


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def float64_on_long(case):
    """Returns float64 arrays for float32 cases when time >= 2 (a wrong dtype)."""
    outputs, (c, h) = numpy_reference(case)
    if case.time >= 2:
        return outputs.astype(np.float64), (c.astype(np.float64), h.astype(np.float64))
    return outputs, (c, h)


_calls = {"n": 0}


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def nondeterministic(case):
    """Adds 1e-3 to every output on every other call: same input, different outputs."""
    _calls["n"] += 1
    outputs, (c, h) = numpy_reference(case)
    if _calls["n"] % 2 == 0:
        outputs, h = outputs + np.float32(1e-3), h + np.float32(1e-3)
    return outputs, (c, h)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def well_behaved(case):
    """Correct on every input (the control)."""
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def busy_correct(case):
    """Correct, after 50 ms of CPU time per call (wall time grows when the process waits for a CPU)."""
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def slow_correct(case):
    """Correct, 20 ms per call: a run that lasts long enough to be interrupted."""
    time.sleep(0.02)
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def slow_wrong_on_batch(case):
    """Wrong (outputs + 1) when batch >= 2, 50 ms per call: a run interrupted while it shrinks."""
    time.sleep(0.05)
    outputs, state = numpy_reference(case)
    return (outputs + np.float32(1.0) if case.batch >= 2 else outputs), state


@candidate(features=_NON_FEATURES, dtypes=["float16", "float32", "float64"])
def three_faults(case):
    """SIGSEGV on float64, a hang on float16, NaN outputs when float32 and batch >= 2; else correct."""
    dtype = case.config.dtype
    if dtype == "float64":
        _segfault()
    if dtype == "float16":
        _hang()
    outputs, (c, h) = numpy_reference(case)
    if case.batch >= 2:
        outputs = np.full_like(outputs, np.nan)
    return outputs, (c, h)


@candidate(features=_NON_FEATURES, dtypes=["float32"], env={"LSTM_CONFORMANCE_TEST_FLAG": "on"})
def needs_env(case):
    """Correct only if LSTM_CONFORMANCE_TEST_FLAG=on was set before it was imported (else raises)."""
    if _FLAG_AT_IMPORT != "on":
        raise RuntimeError(f"LSTM_CONFORMANCE_TEST_FLAG was {_FLAG_AT_IMPORT!r} at import")
    return numpy_reference(case)


_FLAG_AT_IMPORT = os.environ.get("LSTM_CONFORMANCE_TEST_FLAG")


def not_a_candidate_value():
    """Returns something that is not (outputs, (c, h))."""
    return None


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def returns_string(case):
    """Returns a string instead of (outputs, (c, h))."""
    return "outputs"


_flips = {"n": 0}


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def flip_flop_within_tolerance(case):
    """Each call within tolerance of the oracle, but consecutive calls differ by 1.6x the tolerance.

    Outputs and h move by +-0.8 * (atol + rtol * |value|) of float32, alternating per call:
    only running the same case twice can tell.
    """
    from conformance import DEFAULT_TOLERANCES

    tol = DEFAULT_TOLERANCES["float32"]
    _flips["n"] += 1
    sign = 1.0 if _flips["n"] % 2 else -1.0
    outputs, (c, h) = numpy_reference(case)
    shift = lambda a: (a + sign * 0.8 * (tol.atol + tol.rtol * np.abs(a))).astype(np.float32)
    return shift(outputs), (c, shift(h))


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def hang_after_marker(case):
    """Hangs on every call after writing the file named by $LSTM_CONFORMANCE_TEST_MARKER (so a test knows)."""
    with open(os.environ["LSTM_CONFORMANCE_TEST_MARKER"], "w") as fh:
        fh.write(str(os.getpid()))
    _hang()


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def chatty(case):
    """Correct, but prints to stdout and stderr on every call (must not reach the harness's output or pipes)."""
    import sys

    print("chatty candidate: stdout line " * 20)
    print("chatty candidate: stderr line", file=sys.stderr)
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"], accepts=lambda case: case.batch == 1)
def picky(case):
    """Correct; declares (with a lambda, which cannot be pickled) that it accepts only batch 1."""
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def clobbers_inputs_after(case):
    """Right numbers, but zeroes the caller's inputs afterwards (a port that reuses its input buffer)."""
    result = numpy_reference(case)
    case.inputs[...] = 0
    return result


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def folds_forget_bias_into_callers_bias(case):
    """Adds forget_bias into the caller's bias in place, then computes with forget_bias 0 and that bias.

    Its numbers are right; before the harness handed candidates a copy, the oracle (running on
    its own thread, on the same arrays) saw the folded bias too, and the run passed.
    """
    H = case.config.num_units
    case.params.bias[2 * H : 3 * H] += np.asarray(case.config.forget_bias, dtype=case.params.bias.dtype)
    return numpy_reference(type(case)(case.config.replace(forget_bias=0.0), case.params, case.inputs,
                                      case.initial_state))


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def holds_gil_in_c(case):
    """Writes its pid to $LSTM_CONFORMANCE_TEST_MARKER, then blocks in C (libc pause() through ctypes.PyDLL,
    which keeps the GIL): no Python thread of its process runs again."""
    with open(os.environ["LSTM_CONFORMANCE_TEST_MARKER"], "w") as fh:
        fh.write(str(os.getpid()))
    ctypes.PyDLL(None).pause()
    return numpy_reference(case)


@candidate(features=_NON_FEATURES, dtypes=["float32"])
def spawns_child(case):
    """Correct, but starts `sleep 300` (and one more in a session of its own) on every call, never waited for;
    appends their pids to $LSTM_CONFORMANCE_TEST_MARKER."""
    import subprocess

    children = [subprocess.Popen(["sleep", "300"]), subprocess.Popen(["sleep", "300"], start_new_session=True)]
    with open(os.environ["LSTM_CONFORMANCE_TEST_MARKER"], "a") as fh:
        fh.write("".join(f"{c.pid}\n" for c in children))
    return numpy_reference(case)
