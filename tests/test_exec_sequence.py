"""``exec:`` candidates with row lengths and time-major inputs (docs/exec-protocol.md).

A small Python program, run as an external command, reads ``caseK/sequence_length``,
``caseK/time_major`` and ``caseK/inputs`` in the case's own layout, declares both features
through the describe request, and writes outputs [T, B, P] back for a time-major case:
it must be conformant.  The same program told to ignore the lengths must be caught.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from conformance import Case, InitialState, LSTMConfig, LSTMParams, reference
from conformance.candidates import call_candidate, exec_candidate, resolve
from conformance.spec import CandidateFault
from tests.helpers import assert_results_close, run_cli

#: argv: CASES.npz RESULTS.npz [ignore-lengths]
PROGRAM = textwrap.dedent('''
    import json, sys
    import numpy as np

    inp, out = sys.argv[1], sys.argv[2]
    ignore_lengths = sys.argv[3:] == ["ignore-lengths"]
    with np.load(inp, allow_pickle=False) as f:
        batch = {k: f[k] for k in f.files}
    if int(batch["describe"]):
        info = {"name": "py-seq-lstm" + ("-no-lengths" if ignore_lengths else ""),
                "features": ["forget_bias", "initial_state", "sequence_length", "time_major"],
                "dtypes": ["float32", "float64"]}
        np.savez(out, info=np.array(json.dumps(info)))
        sys.exit(0)

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    results = {}
    for k in range(int(batch["count"])):
        get = lambda name: batch[f"case{k}/{name}"]
        if get("activation").item() != "tanh" or int(get("use_peepholes")) or int(get("num_proj")) \\
                or float(get("cell_clip")) or float(get("proj_clip")):
            results[f"case{k}/error"] = np.array("only tanh, no peepholes, clipping or projection")
            continue
        store = get("inputs").dtype
        time_major = bool(int(get("time_major")))
        x = get("inputs").astype(np.float64)
        if time_major:
            x = x.transpose(1, 0, 2)  # [T, B, I] -> [B, T, I]
        B, T, H = int(get("batch")), int(get("time")), int(get("num_units"))
        lengths = np.full(B, T) if ignore_lengths else get("sequence_length")
        kernel, bias = get("kernel").astype(np.float64), get("bias").astype(np.float64)
        c, h = get("c0").astype(np.float64), get("h0").astype(np.float64)
        forget_bias = float(get("forget_bias"))
        outputs = np.zeros((B, T, h.shape[1]))
        for t in range(T):
            z = np.concatenate([x[:, t], h], axis=1) @ kernel + bias
            i, j, fg, o = np.split(z, 4, axis=1)
            c_new = sigmoid(fg + forget_bias) * c + sigmoid(i) * np.tanh(j)
            h_new = sigmoid(o) * np.tanh(c_new)
            live = (t < lengths)[:, None]  # past a row's end: output 0, state frozen
            c, h = np.where(live, c_new, c), np.where(live, h_new, h)
            outputs[:, t] = np.where(live, h_new, 0.0)
        if time_major:
            outputs = outputs.transpose(1, 0, 2)  # back to [T, B, P]
        results.update({f"case{k}/outputs": outputs.astype(store), f"case{k}/c": c.astype(store),
                        f"case{k}/h": h.astype(store)})
    np.savez(out, **results)
''')


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    path = tmp_path_factory.mktemp("exec-seq") / "seq_lstm.py"
    path.write_text(PROGRAM)
    return f"exec:{sys.executable} {path}"


def _case(*, time_major: bool, lengths, dtype="float32", seed=0) -> Case:
    cfg = LSTMConfig(num_units=2, input_size=3, dtype=dtype, forget_bias=0.5, time_major=time_major)
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s).astype(cfg.np_dtype)
    B, T = len(lengths), 4
    x = r(T, B, 3) if time_major else r(B, T, 3)  # noise in the padded steps too
    return Case(cfg, LSTMParams(r(3 + 2, 8), r(8)), x, InitialState(r(B, 2), r(B, 2)),
                np.array(lengths, np.int32)).validate()


def test_program_declares_both_features_and_computes_lengths_in_both_layouts(program):
    info = resolve(program).info
    assert {"sequence_length", "time_major"} <= set(info.features), info.features
    cand = exec_candidate(program.removeprefix("exec:"))
    cases = [_case(time_major=True, lengths=[4, 0, 2]), _case(time_major=False, lengths=[1, 4], seed=1),
             _case(time_major=True, lengths=[3, 3], dtype="float64", seed=2)]
    for k, (case, got) in enumerate(zip(cases, cand.call_many(cases))):
        assert not isinstance(got, CandidateFault), f"case {k}: {got}"
        tol = 1e-5 if case.config.dtype == "float32" else 1e-12
        assert_results_close(got, reference(case), atol=tol, rtol=tol, label=f"case {k} (time_major="
                                                                              f"{case.config.time_major})")
        for b, n in enumerate(case.lengths()):
            assert not np.any(got.outputs[b, n:]), f"case {k}: row {b} has outputs past its end (L = {n})"


def _check(program: str, tmp_path, *features: str, examples: int = 12, diagnose: bool = True):
    args = [a for f in features for a in ("--feature", f)]
    return run_cli("check", program, *args, "--dtype", "float32", "--max-examples", str(examples), "--seed", "2",
                   "--no-long", "-q", *([] if diagnose else ["--no-diagnose"]), "--report-dir", str(tmp_path))


def test_program_with_lengths_is_conformant(program, tmp_path):
    proc = _check(program, tmp_path, "sequence_length")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    assert "CONFORMANT" in proc.stdout, proc.stdout


def test_program_with_lengths_and_time_major_is_conformant(program, tmp_path):
    # The check calls the candidate one case at a time (call_candidate -> ExecCandidate.__call__): a time-major
    # answer must be turned round exactly once (regression: it was turned twice and came back wrong-shaped).
    case = _case(time_major=True, lengths=[3, 1])
    got = call_candidate(resolve(program).fn, case)
    assert got.outputs.shape == (case.batch, case.time, case.config.output_size), got.outputs.shape
    proc = _check(program, tmp_path, "sequence_length", "time_major")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    assert "CONFORMANT" in proc.stdout, proc.stdout


def test_program_ignoring_lengths_is_caught(program, tmp_path):
    proc = _check(program + " {in} {out} ignore-lengths", tmp_path, "sequence_length", diagnose=False)
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    assert "NONCONFORMANT" in proc.stdout and "mismatch" in proc.stdout, proc.stdout
    assert "sequence_length: [" in proc.stdout, f"the console printout should show the row lengths:\n{proc.stdout}"
    minimized = Case.load_npz(str(tmp_path / "counterexample.npz"))
    assert minimized.sequence_length is not None and minimized.padded_steps() > 0, (
        f"the counterexample should have a row shorter than T, has lengths {minimized.sequence_length}")
