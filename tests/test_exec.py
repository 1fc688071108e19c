"""``exec:COMMAND`` candidates: the file protocol (docs/exec-protocol.md), end to end with a C program.

tests/c/lstm.c is compiled with gcc: as is it must be conformant; built with
-DDROP_FORGET_BIAS it must be caught (exit 1).  Misbehaving programs (written in
Python here, run as external commands) must become faults of their own kind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conformance import Case, InitialState, LSTMConfig, LSTMParams, reference
from conformance.candidates import exec_candidate, resolve
from conformance.spec import CandidateFault, CandidateLoadError
from tests.helpers import assert_results_close, run_cli

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def c_programs(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = tmp_path_factory.mktemp("c")
    built = {}
    for name, flags in (("lstm", []), ("lstm_no_forget_bias", ["-DDROP_FORGET_BIAS"])):
        path = str(out / name)
        proc = subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", *flags, "-o", path,
                               os.path.join(HERE, "c", "lstm.c"), "-lm"], capture_output=True, text=True)
        assert proc.returncode == 0, f"gcc {flags}: {proc.stderr}"
        built[name] = path
    return built


def small_case(dtype="float32", *, seed=0, features=True, batch=2, time=4) -> Case:
    cfg = LSTMConfig(num_units=3, input_size=2, dtype=dtype, forget_bias=0.5 if features else 1.0,
                     use_peepholes=features, cell_clip=0.7 if features else None,
                     num_proj=2 if features else None, proj_clip=0.4 if features else None)
    rng = np.random.default_rng(seed)
    npd, I, H, P = cfg.np_dtype, cfg.input_size, cfg.num_units, cfg.output_size
    r = lambda *s: rng.standard_normal(s).astype(npd)
    diag = (lambda: r(H)) if features else (lambda: None)
    params = LSTMParams(r(I + P, 4 * H), r(4 * H), diag(), diag(), diag(), r(H, P) if features else None)
    return Case(cfg, params, r(batch, time, I), InitialState(r(batch, H), r(batch, P))).validate()


def test_c_program_declares_itself_and_batches(c_programs):
    cand = exec_candidate(c_programs["lstm"])
    info = resolve(f"exec:{c_programs['lstm']}").info
    assert info.name == "c-lstm" and sorted(info.dtypes) == ["float32", "float64"], info
    assert "peepholes" in info.features and "activation" not in info.features, info.features
    cases = [small_case("float32", seed=1), small_case("float64", seed=2, features=False), small_case("float16")]
    results = cand.call_many(cases)
    for k, (case, got) in enumerate(zip(cases[:2], results[:2])):
        assert not isinstance(got, CandidateFault), f"case {k}: {got}"
        tol = 1e-5 if case.config.dtype == "float32" else 1e-12
        assert_results_close(got, reference(case), atol=tol, rtol=tol, label=f"C batch case {k} ({case.config.dtype})")
    assert isinstance(results[2], CandidateFault) and "only float32 and float64" in results[2].message, results[2]


def test_c_program_conformant_end_to_end(c_programs, tmp_path):
    proc = run_cli("check", f"exec:{c_programs['lstm']}", "--max-examples", "30", "--seed", "1", "--no-long", "-q",
                   "--report-dir", str(tmp_path))
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    assert "CONFORMANT" in proc.stdout, proc.stdout


def test_c_program_without_forget_bias_is_caught(c_programs, tmp_path):
    proc = run_cli("check", f"exec:{c_programs['lstm_no_forget_bias']}", "--max-examples", "60", "--seed", "1",
                   "--no-long", "-q", "--report-dir", str(tmp_path))
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    minimized = Case.load_npz(str(tmp_path / "counterexample.npz"))
    assert minimized.time <= 3 and minimized.nonzero_values() <= 4, (
        f"minimized case still has T={minimized.time}, {minimized.nonzero_values()} non-zero values")


# --- misbehaving programs --------------------------------------------------------------
PROGRAM = textwrap.dedent('''
    import json, os, signal, sys, time
    import numpy as np
    mode, inp, out = sys.argv[1], sys.argv[2], sys.argv[3]
    batch = np.load(inp, allow_pickle=False)
    if int(batch["describe"]):
        if mode == "bad-info":
            np.savez(out, info=np.array(json.dumps({"features": ["wormholes"]})))
        elif mode != "silent":
            np.savez(out, info=np.array(json.dumps({"features": [], "dtypes": ["float32"]})))
        sys.exit(0)
    if mode == "exit":
        print("out of cheese", file=sys.stderr); sys.exit(3)
    if mode == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if mode == "sleep":
        time.sleep(60)
    if mode == "garbage":
        open(out, "wb").write(b"not a zip"); sys.exit(0)
    if mode == "nothing":
        sys.exit(0)
    results = {}
    for k in range(int(batch["count"])):
        B, T, P, H = (int(batch[f"case{k}/{n}"]) for n in ("batch", "time", "output_size", "num_units"))
        dtype = np.float64 if mode == "wrong-dtype" else batch[f"case{k}/inputs"].dtype
        results[f"case{k}/outputs"] = np.zeros((B, T, P), dtype)
        results[f"case{k}/c"] = np.zeros((B, H), dtype)
        results[f"case{k}/h"] = np.zeros((B, P), dtype)
    np.savez(out, **results)
''')


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    path = tmp_path_factory.mktemp("prog") / "prog.py"
    path.write_text(PROGRAM)
    return lambda mode: f"{sys.executable} {path} {mode}"


@pytest.mark.parametrize("mode, kind, words", [
    ("exit", "exception", ("status 3", "out of cheese")),
    ("segv", "crash", ("SIGSEGV",)),
    ("garbage", "exception", ("unreadable results file",)),
    ("nothing", "exception", ("wrote no results file",)),
    ("wrong-dtype", "wrong_dtype", ("case0/outputs is float64", "expected float32")),
])
def test_misbehaviour_becomes_a_fault_of_its_kind(program, mode, kind, words):
    cand = exec_candidate(program(mode))
    [fault] = cand.call_many([small_case(features=False)])
    assert isinstance(fault, CandidateFault), f"{mode}: expected a fault, got {fault!r}"
    assert fault.kind == kind and all(w in fault.message for w in words), f"{mode}: {fault.kind}: {fault.message}"
    assert "\n" not in fault.message, f"{mode}: message is not one line: {fault.message!r}"


def test_a_hanging_program_is_killed_and_reported(program):
    cand = exec_candidate(program("sleep"), timeout=1.5)
    with pytest.raises(CandidateFault) as info:
        cand(small_case(features=False))
    assert info.value.kind == "hang" and "1.5 s" in info.value.message, info.value.message


def test_describe_answers(program):
    declared = exec_candidate(program("zeros"))
    assert sorted(declared.__lstm_conformance__.dtypes) == ["float32"], "the describe answer was not used"
    silent = exec_candidate(program("silent"))
    assert len(silent.__lstm_conformance__.features) == 7, "no answer must mean the whole option space"
    with pytest.raises(CandidateLoadError, match="wormholes"):
        exec_candidate(program("bad-info"))


def test_placeholders_replace_appended_paths(program, tmp_path):
    script = tmp_path / "wrapper.py"
    script.write_text("import sys, subprocess\n"
                      "subprocess.run([sys.executable, sys.argv[1], 'zeros', sys.argv[3], sys.argv[5]], check=True)\n")
    prog_path = program("zeros").split()[1]
    cand = exec_candidate(f"{sys.executable} {script} {prog_path} --in {{in}} --out {{out}}")
    result = cand.call_many([small_case(features=False)])[0]
    assert not isinstance(result, CandidateFault), f"placeholders not substituted: {result}"


def test_unknown_command_is_a_one_line_load_error(tmp_path):
    proc = run_cli("check", "exec:./no-such-program-xyz", "--report-dir", str(tmp_path), timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "no-such-program-xyz" in lines[0], (proc.returncode, lines)


def _describe_then(tmp_path, name: str, body: str) -> str:
    """An exec: command running a Python script that answers the describe request (nothing) and then runs ``body``."""
    script = tmp_path / name
    script.write_text(textwrap.dedent("""\
        import os, sys
        import numpy as np
        if int(np.load(sys.argv[1])["describe"]):
            sys.exit(0)
        """) + textwrap.dedent(body))
    return f"{sys.executable} {script}"


def test_exec_output_is_read_with_a_bound(tmp_path):
    import tracemalloc

    command = _describe_then(tmp_path, "chatty.py", """\
        chunk = "x" * 1_000_000
        for _ in range(20):
            sys.stdout.write(chunk)
            sys.stderr.write(chunk)
        sys.stderr.write("\\nboom: the last line\\n")
        sys.exit(3)
        """)
    cand = exec_candidate(command)
    tracemalloc.start()
    try:
        [fault] = cand.call_many([small_case()])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(fault, CandidateFault) and fault.kind == "exception", fault
    assert "boom: the last line" in fault.message and "(output truncated)" in fault.message, fault.message
    assert len(fault.message) < 600, len(fault.message)
    assert peak < 4_000_000, f"{peak} bytes held while reading 40 MB of output"


def _marked_processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():  # a zombie's cmdline is empty
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_hanging_exec_program_and_its_children_are_killed_with_the_worker(tmp_path, monkeypatch):
    import tempfile
    import time

    from conformance.candidates._isolation import SubprocessExecutor

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    marker = f"{987000 + os.getpid() % 1000}"
    pgid_file = tmp_path / "pgid"
    command = _describe_then(tmp_path, "hangs.py", f"""\
        with open({str(pgid_file)!r}, "w") as fh:
            fh.write(str(os.getpgrp()))
        os.execvp("sh", ["sh", "-c", "sleep {marker} & sleep {marker}"])
        """)
    executor = SubprocessExecutor(f"exec:{command}", timeout_seconds=1.5)
    try:
        with pytest.raises(CandidateFault) as info:
            executor.run(small_case())
        assert info.value.kind == "hang", info.value
    finally:
        executor.close()
    pgid = int(pgid_file.read_text())
    deadline = time.monotonic() + 10
    while _marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _marked_processes(marker)
    for pid in left:  # do not leave them behind even when the test fails
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    assert not left, f"processes of the exec program's group {pgid} outlived the worker: {left}"
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("lstm-conformance-exec-")]
    assert not list(scratch.iterdir()), list(scratch.iterdir())
