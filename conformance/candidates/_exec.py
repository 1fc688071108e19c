"""``exec:COMMAND`` candidates: an external program in any language, spoken to through files.

The protocol (docs/exec-protocol.md): the harness writes a batch of cases to
``cases.npz``, runs ``COMMAND cases.npz results.npz`` (or substitutes ``{in}`` and
``{out}`` where the command names them), and reads ``results.npz``.  No pickles,
both ways.  A nonzero exit, a signal, a timeout, or a missing or garbled results
file becomes a :class:`CandidateFault` with a one-line message; nothing the
program does can raise out of the harness.

Before the first case the program gets a *describe* request (a batch of zero
cases with ``describe`` = 1); it may answer with ``info`` (JSON: ``features``,
``dtypes``, ``name``, ``description``, ``max_units``, ``max_input_size``,
``max_time``, ``deterministic``).  Without an answer it is assumed to support the
whole option space.
"""

from __future__ import annotations

import json
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from conformance.candidates._protocol import ATTRIBUTE, CandidateInfo, normalise_result, to_batch_major
from conformance.candidates._text import _one_line
from conformance.candidates._worker import EXEC_TMPDIR_VAR, dies_with_us
from conformance.spec import DTYPES, CandidateFault, CandidateLoadError, Case, Result, storage_dtype

PROTOCOL_VERSION = 1
#: Longest message of an exec: candidate's fault or load error (one line).
_MESSAGE_LIMIT = 200
#: Seconds one batch may take (LSTM_CONFORMANCE_EXEC_TIMEOUT overrides); past it: a "hang" fault.
DEFAULT_TIMEOUT = 120.0
DESCRIBE_TIMEOUT = 60.0
#: Bytes kept of the program's stdout and of its stderr (the last ones); the rest is read and discarded.
OUTPUT_KEEP_BYTES = 64 * 1024
_INFO_KEYS = ("name", "features", "dtypes", "description", "max_units", "max_input_size", "max_time",
              "max_batch", "deterministic")


def batch_arrays(cases: Sequence[Case], *, describe: bool = False) -> dict[str, np.ndarray]:
    """The arrays of ``cases.npz`` for a batch (see docs/exec-protocol.md for every name)."""
    payload: dict[str, np.ndarray] = {
        "manifest": np.array(json.dumps({"protocol": PROTOCOL_VERSION, "count": len(cases), "describe": describe})),
        "protocol": np.array(PROTOCOL_VERSION, np.int64),
        "count": np.array(len(cases), np.int64),
        "describe": np.array(int(describe), np.int64),
    }
    for k, case in enumerate(cases):
        cfg, prefix = case.config, f"case{k}/"
        store = storage_dtype(cfg.dtype)
        for name, array in case.arrays().items():
            payload[prefix + name] = np.ascontiguousarray(array.astype(store))
        # int64 [B]: every row's length (T for every row of a case without lengths).
        payload[prefix + "sequence_length"] = case.lengths().astype(np.int64)
        payload[prefix + "config"] = np.array(json.dumps(cfg.to_dict(), sort_keys=True))
        payload[prefix + "dtype"] = np.array(cfg.dtype)
        payload[prefix + "activation"] = np.array(cfg.activation)
        # Numbers as 0-d int64/float64 arrays, so a C program needs no JSON parser; 0 means "not set".
        ints = {"dtype_id": DTYPES.index(cfg.dtype), "batch": case.batch, "time": case.time,
                "input_size": cfg.input_size, "num_units": cfg.num_units, "output_size": cfg.output_size,
                "num_proj": cfg.num_proj or 0, "use_peepholes": int(cfg.use_peepholes),
                "time_major": int(cfg.time_major), "has_sequence_length": int(case.sequence_length is not None)}
        floats = {"forget_bias": cfg.forget_bias, "cell_clip": cfg.cell_clip or 0.0, "proj_clip": cfg.proj_clip or 0.0}
        payload.update({prefix + k: np.array(v, np.int64) for k, v in ints.items()})
        payload.update({prefix + k: np.array(v, np.float64) for k, v in floats.items()})
    return payload


def text_of(array: np.ndarray) -> str:
    """A text entry written as a unicode or bytes scalar, or as a uint8/int8 array of UTF-8 bytes."""
    if array.dtype.kind in "US":
        value = array.item() if array.ndim == 0 else "".join(str(v) for v in array.ravel())
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if array.dtype in (np.uint8, np.int8):
        return array.astype(np.uint8).tobytes().decode("utf-8", "replace")
    raise ValueError(f"dtype {array.dtype} is not text")


def _load(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def read_results(path: str, cases: Sequence[Case], command: str) -> list[Result | CandidateFault]:
    """One Result or CandidateFault per case from ``results.npz``."""
    if not os.path.exists(path):
        fault = CandidateFault("exception", f"{command!r} exited 0 but wrote no results file")
        return [fault] * len(cases)
    try:
        files = _load(path)
    except Exception as exc:  # zip, npy header, pickled object arrays: all "garbled"
        fault = CandidateFault("exception", _one_line(f"{command!r} wrote an unreadable results file "
                                                      f"({type(exc).__name__}: {exc})", _MESSAGE_LIMIT))
        return [fault] * len(cases)
    out: list[Result | CandidateFault] = []
    for k, case in enumerate(cases):
        prefix = f"case{k}/"
        if prefix + "error" in files:
            try:
                message = text_of(files[prefix + "error"])
            except ValueError:
                message = "(unreadable error text)"
            out.append(CandidateFault("exception", _one_line(f"the program reported: {message}", _MESSAGE_LIMIT)))
            continue
        missing = [n for n in ("outputs", "c", "h") if prefix + n not in files]
        if missing:
            out.append(CandidateFault("exception", f"results file has no {', '.join(prefix + n for n in missing)}"))
            continue
        store = storage_dtype(case.config.dtype)
        wrong = [f"{prefix}{n} is {files[prefix + n].dtype}" for n in ("outputs", "c", "h")
                 if files[prefix + n].dtype != store]
        if wrong:
            out.append(CandidateFault("wrong_dtype", f"{'; '.join(wrong)}, expected {store.name} "
                                                     f"(storage dtype of {case.config.dtype})"))
            continue
        npd = case.config.np_dtype
        arrays = [files[prefix + n].astype(npd) for n in ("outputs", "c", "h")]
        try:
            out.append(to_batch_major(case, normalise_result((arrays[0], (arrays[1], arrays[2])))))
        except CandidateFault as fault:
            out.append(fault)
    return out


class ExecCandidate:
    """A candidate backed by an external program; ``call_many(cases)`` runs one batch per call."""

    def __init__(self, command: str, *, timeout: float | None = None):
        try:
            argv = shlex.split(command)
        except ValueError as exc:  # "No closing quotation", "No escaped character"
            raise CandidateLoadError(_one_line(f"target {'exec:' + command!r}: the command cannot be split like a shell "
                                               f"would ({exc}; unbalanced quote?)", _MESSAGE_LIMIT)) from None
        if not argv:
            raise CandidateLoadError("target 'exec:' has no command after 'exec:'")
        if shutil.which(argv[0]) is None:
            raise CandidateLoadError(f"exec: command {argv[0]!r} not found or not executable (target exec:{command})")
        self.command = command
        self.argv = argv
        env_timeout = os.environ.get("LSTM_CONFORMANCE_EXEC_TIMEOUT")
        try:
            self.timeout = float(timeout if timeout is not None else env_timeout or DEFAULT_TIMEOUT)
        except ValueError:
            raise CandidateLoadError(f"LSTM_CONFORMANCE_EXEC_TIMEOUT={env_timeout!r} is not a number") from None
        info = self._describe()
        setattr(self, ATTRIBUTE, info)

    def __repr__(self) -> str:
        return f"ExecCandidate({self.command!r})"

    # --- running ----------------------------------------------------------------------
    def _command_line(self, inp: str, out: str) -> list[str]:
        if any("{in}" in a or "{out}" in a for a in self.argv):
            return [a.replace("{in}", inp).replace("{out}", out) for a in self.argv]
        return [*self.argv, inp, out]

    def _invoke(self, inp: str, out: str, timeout: float, what: str) -> CandidateFault | None:
        """Run the program once; a fault describing how it failed, or None."""
        env = dict(os.environ, LSTM_CONFORMANCE_IN=inp, LSTM_CONFORMANCE_OUT=out,
                   LSTM_CONFORMANCE_PROTOCOL=str(PROTOCOL_VERSION))
        try:
            # Its own process group, so a timeout kills the program's children too; our session, so a worker's
            # end kills them (conformance.candidates._worker.start_session_reaper); SIGKILL when we die.
            proc = subprocess.Popen(self._command_line(inp, out), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, preexec_fn=dies_with_us(own_group=True))
        except OSError as exc:
            return CandidateFault("exception", f"cannot run {self.argv[0]!r}: {exc.strerror or exc}")
        try:
            _, stderr = _drain(proc, timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return CandidateFault("hang", f"{self.command!r} did not finish {what} within {timeout:g} s")
        except BaseException:
            _kill_group(proc)
            raise
        text = stderr.text()
        last = _one_line(text.strip().splitlines()[-1], _MESSAGE_LIMIT) if text.strip() else ""
        tail = f": {last}" if last else ""
        if stderr.truncated:
            tail += " (output truncated)"
        if proc.returncode < 0:
            try:
                name = signal.Signals(-proc.returncode).name
            except ValueError:
                name = f"signal {-proc.returncode}"
            return CandidateFault("crash", f"{self.command!r} was killed by {name} on {what}{tail}")
        if proc.returncode != 0:
            return CandidateFault("exception", f"{self.command!r} exited with status {proc.returncode} on {what}{tail}")
        return None

    def _round_trip(self, cases: Sequence[Case], *, describe: bool, timeout: float,
                    what: str) -> tuple[CandidateFault | None, str, tempfile.TemporaryDirectory]:
        # Inside an isolated worker: in the directory the harness removes should it kill the worker mid-call.
        where = os.environ.get(EXEC_TMPDIR_VAR)
        tmp = tempfile.TemporaryDirectory(prefix="lstm-conformance-exec-",
                                          dir=where if where and os.path.isdir(where) else None)
        try:
            inp, out = os.path.join(tmp.name, "cases.npz"), os.path.join(tmp.name, "results.npz")
            with open(inp, "wb") as fh:
                np.savez(fh, **batch_arrays(cases, describe=describe))  # type: ignore[arg-type]  # numpy's stub
            return self._invoke(inp, out, timeout, what), out, tmp
        except BaseException:
            tmp.cleanup()
            raise

    def call_many(self, cases: Sequence[Case]) -> list[Result | CandidateFault]:
        """Run ``cases`` as one batch: a Result or a CandidateFault for each."""
        if not cases:
            return []
        fault, out, tmp = self._round_trip(cases, describe=False, timeout=self.timeout,
                                           what=f"a batch of {len(cases)} case(s)")
        with tmp:
            if fault is not None:
                return [fault] * len(cases)
            return read_results(out, cases, self.command)

    def __call__(self, case: Case):
        result = self.call_many([case])[0]
        if isinstance(result, CandidateFault):
            raise result
        # call_many's Results are batch-major; a single call answers in the case's own layout, as any
        # candidate does (call_candidate turns a time-major answer round once).
        outputs = result.outputs.transpose(1, 0, 2) if case.config.time_major else result.outputs
        return outputs, (result.c, result.h)

    # --- describe ---------------------------------------------------------------------
    def _describe(self) -> CandidateInfo:
        fault, out, tmp = self._round_trip([], describe=True, timeout=min(self.timeout, DESCRIBE_TIMEOUT),
                                           what="the describe request")
        with tmp:
            if fault is not None:
                raise CandidateLoadError(f"exec:{self.command} failed the describe request: {fault.message}")
            files: dict[str, Any] = {}
            if os.path.exists(out):
                try:
                    files = _load(out)
                except Exception as exc:
                    message = (f"exec:{self.command} answered the describe request with an unreadable file "
                               f"({type(exc).__name__}: {exc})")
                    raise CandidateLoadError(_one_line(message, _MESSAGE_LIMIT)) from None
        if "info" not in files:
            return CandidateInfo(name=f"exec:{self.command}", description=f"external program {self.command}")
        try:
            data = json.loads(text_of(files["info"]))
            if not isinstance(data, dict):
                raise ValueError("info is not a JSON object")
            unknown = sorted(set(data) - set(_INFO_KEYS))
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}; known: {', '.join(_INFO_KEYS)}")
            data.setdefault("name", f"exec:{self.command}")
            data.setdefault("description", f"external program {self.command}")
            network = sorted(set(data.get("features") or ()) & {"stacked", "bidirectional"})
            if network:
                raise ValueError(f"features {network}: the exec: protocol carries one forward layer's results only "
                                 f"(docs/exec-protocol.md)")
            return CandidateInfo(**data)
        except (ValueError, TypeError) as exc:  # InvalidArgument is a ValueError
            raise CandidateLoadError(_one_line(f"exec:{self.command} answered the describe request with bad info: "
                                               f"{exc}", _MESSAGE_LIMIT)) from None


class _Tail:
    """The last OUTPUT_KEEP_BYTES bytes of a stream, and whether anything before them was dropped."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * OUTPUT_KEEP_BYTES:  # trim in steps, not on every read
            self._trim()

    def _trim(self) -> None:
        if len(self.data) > OUTPUT_KEEP_BYTES:
            del self.data[: len(self.data) - OUTPUT_KEEP_BYTES]
            self.truncated = True

    def text(self) -> str:
        self._trim()
        return self.data.decode("utf-8", "replace")


def _drain(proc: subprocess.Popen, timeout: float) -> tuple[_Tail, _Tail]:
    """Read the program's stdout and stderr to their end, keeping only their tails; wait for it to exit.

    subprocess.TimeoutExpired past ``timeout`` seconds (the program is still running then).
    """
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Tail(), _Tail()
    tails = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    try:
        with selectors.DefaultSelector() as selector:
            for stream in (proc.stdout, proc.stderr):
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise subprocess.TimeoutExpired(proc.args, timeout)
                for key, _ in selector.select(remaining):
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        tails[key.fd].add(chunk)
                    else:
                        selector.unregister(key.fileobj)
        proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
    finally:
        proc.stdout.close()
        proc.stderr.close()
    return out, err


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the program and everything in its process group (its own: it was started in a new group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def exec_candidate(command: str, *, timeout: float | None = None) -> ExecCandidate:
    """The candidate for target ``exec:COMMAND`` (raises CandidateLoadError, one line, if unusable)."""
    return ExecCandidate(command, timeout=timeout)
