"""``check --workers N``: the same verdict and minimized case as a serial run, examples summed,
a TF-free parent, interrupts that keep what was found, one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conformance.spec import InvalidArgument
from conformance.run import check_parallel, dtype_shards, split_examples, worker_seeds
from conformance.run import CheckOptions, check
from tests.helpers import run_cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def assert_same_case(a, b, label: str) -> None:
    """Same config and every array equal, else fail naming the first array and index that differ."""
    assert a.config == b.config, f"{label}: config {a.config} != {b.config}"
    arrays_a, arrays_b = a.arrays(), b.arrays()
    assert arrays_a.keys() == arrays_b.keys(), f"{label}: arrays {sorted(arrays_a)} != {sorted(arrays_b)}"
    for name in arrays_a:
        x, y = arrays_a[name], arrays_b[name]
        assert x.shape == y.shape, f"{label}: {name} has shape {x.shape} vs {y.shape}"
        differ = x.astype(np.float64) != y.astype(np.float64)
        if differ.any():
            idx = tuple(int(i) for i in np.argwhere(differ)[0])
            raise AssertionError(f"{label}: {name}{list(idx)} = {x[idx]!r} vs {y[idx]!r}")


def test_examples_are_split_evenly_and_seeds_start_from_the_run_seed():
    assert split_examples(7, 3) == [3, 2, 2], split_examples(7, 3)
    assert sum(split_examples(1000, 7)) == 1000
    seeds = worker_seeds(42, 3)
    assert seeds[0] == 42, f"worker 0 must run the run's own seed (so --workers 1 is the serial run), got {seeds}"
    assert len(set(seeds)) == 3, f"workers need distinct seeds, got {seeds}"
    assert worker_seeds(42, 3) == seeds, "derived seeds must be reproducible"


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_a_bad_worker_count_is_one_clear_error(workers):
    with pytest.raises(InvalidArgument, match="workers="):
        check_parallel("numpy-reference", CheckOptions(max_examples=4), workers=workers)


def test_workers_find_the_serial_minimized_case():
    """The post-minimiser is deterministic and Hypothesis' shrinking converges, so the failure
    ends in the same minimized case whichever process found it."""
    options = CheckOptions(max_examples=100, seed=3, diagnose=False)
    serial = check("seed-missing-forget-bias", options)
    parallel = check_parallel("seed-missing-forget-bias", options, workers=2)
    assert serial.verdict == parallel.verdict == "nonconformant", (serial.verdict, parallel.verdict, parallel.error)
    assert_same_case(parallel.counterexample.case, serial.counterexample.case, "--workers 2 vs serial")
    case = parallel.counterexample.case
    assert (case.batch, case.config.input_size, case.config.num_units) == (1, 1, 1) and case.time <= 2, case.describe()
    assert case.nonzero_values() <= 3, case.nonzero_entries()
    assert parallel.counterexample.comparison.kind == serial.counterexample.comparison.kind


def test_a_conformant_run_sums_the_workers_examples_and_the_parent_never_imports_tensorflow():
    code = (
        "import json, sys\n"
        "from conformance.run._parallel import check_parallel\n"
        "from conformance.run._runner import CheckOptions\n"
        "if __name__ == '__main__':\n"
        "    r = check_parallel('numpy-reference', CheckOptions(max_examples=24, seed=5, long_sequences=False),"
        " workers=2)\n"
        "    print(json.dumps({'verdict': r.verdict, 'error': r.error, 'examples': r.examples,"
        " 'workers': r.workers, 'tf_in_parent': 'tensorflow' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["verdict"] == "conformant", result
    assert result["examples"] == 24, f"examples {result['examples']} != 24 (workers: {result['workers']})"
    assert [w["examples"] for w in result["workers"]] == [12, 12], result["workers"]
    assert [w["seed"] for w in result["workers"]] == worker_seeds(5, 2), result["workers"]
    assert result["tf_in_parent"] is False, "the parent imported TensorFlow; only workers should"


def test_cli_workers_report_the_serial_counterexample(tmp_path):
    proc = run_cli("check", "seed-missing-forget-bias", "--workers", "2", "--seed", "3", "--no-diagnose", "-q",
                   "--report-dir", str(tmp_path))
    assert proc.returncode == 1, f"exit {proc.returncode}; stderr: {proc.stderr[-2000:]}"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "nonconformant", report["verdict"]
    assert "bias[1] = 1" in proc.stdout, f"expected the one-number case bias[1] = 1 in:\n{proc.stdout}"


def test_cli_rejects_a_bad_worker_count_in_one_line():
    proc = run_cli("check", "numpy-reference", "--workers", "0")
    assert proc.returncode == 2, proc.returncode
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--workers" in lines[0] and "'0'" in lines[0], proc.stderr


def test_a_worker_killed_by_its_candidate_is_an_error_not_a_hang():
    """Without --isolate an in-process candidate that segfaults takes its worker down: the run
    says so (and how to make that a finding) instead of waiting forever."""
    target = os.path.join(HERE, "fault_candidates.py") + ":segfault_on_wide"
    result = check_parallel(target, CheckOptions(max_examples=40, seed=0, long_sequences=False, diagnose=False),
                            workers=2)
    assert result.verdict == "error", (result.verdict, result.error)
    assert "died" in result.error and "--isolate" in result.error, result.error


def test_sigterm_keeps_what_the_workers_found(tmp_path):
    """SIGTERM mid-run: exit 143, a report with the examples run so far (nothing lost)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "check", "numpy-reference", "--workers", "2", "--max-examples", "100000",
         "--seed", "1", "--report-dir", str(tmp_path), "--format", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        seen = ""
        while time.monotonic() < deadline:  # wait until the workers report examples
            line = proc.stderr.readline()
            seen += line
            if line.startswith("examples: ") and int(line.split()[1].split("/")[0]) >= 20:  # "examples: 20/100000 (...)"
                break
        else:
            pytest.fail(f"no progress within 240 s: {seen[-2000:]}")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, f"exit {proc.returncode}; stderr: {err[-2000:]}"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["examples"] >= 20, f"the report kept {report['examples']} examples; at least 20 had run"
    assert "interrupted" in out, out


def test_the_oracle_inline_or_on_its_thread_judges_the_same(oracle):
    """Workers that fill the cores run the oracle inline; the numbers must not depend on it."""
    runs = {overlap: check("numpy-reference", CheckOptions(max_examples=48, seed=4, overlap_oracle=overlap,
                                                            diagnose=False), oracle=oracle)
            for overlap in (True, False)}
    threaded, inline = runs[True], runs[False]
    assert threaded.verdict == inline.verdict == "conformant", (threaded.verdict, inline.verdict)
    assert threaded.examples == inline.examples == 48, (threaded.examples, inline.examples)
    assert threaded.max_abs_error == inline.max_abs_error, (threaded.max_abs_error, inline.max_abs_error)


def test_the_seeded_run_stops_at_max_examples_inside_a_batch(oracle):
    result = check("numpy-reference", CheckOptions(max_examples=21, seed=2, diagnose=False), oracle=oracle)
    assert result.examples == 21, f"max_examples=21 ran {result.examples} examples (batches of 16)"


def test_a_parallel_run_without_a_seed_records_the_base_seed_its_workers_ran():
    result = check_parallel("numpy-reference", CheckOptions(max_examples=4, diagnose=False), workers=2)
    assert result.verdict == "conformant", result.error
    assert isinstance(result.seed, int), f"--workers without --seed recorded seed={result.seed!r}"


def test_dtypes_are_shared_out_when_there_are_enough_and_examples_follow_them():
    assert dtype_shards(("float16", "bfloat16", "float32", "float64"), 2) == [("float16", "float32"),
                                                                             ("bfloat16", "float64")]
    assert dtype_shards(("float16", "float32", "float64"), 2) == [("float16", "float64"), ("float32",)]
    assert dtype_shards(("float32",), 2) is None, "one dtype cannot be shared out: every worker draws it"
    assert dtype_shards(("float16", "float32"), 1) is None
    assert split_examples(2000, 2, [2, 1]) == [1333, 667], split_examples(2000, 2, [2, 1])  # largest remainder
    assert split_examples(8, 3, [2, 1, 1]) == [4, 2, 2], split_examples(8, 3, [2, 1, 1])
    assert sum(split_examples(1001, 3, [2, 1, 1])) == 1001


def test_each_worker_draws_its_dtypes_and_builds_only_their_graphs():
    """With as many dtypes as workers or more, a worker draws only its share: its oracle builds the graphs of
    those dtypes, not every dtype's (the graphs are per dtype; each build is ~0.35 s of Python)."""
    code = (
        "import json, sys\n"
        "from conformance.run._parallel import check_parallel\n"
        "from conformance.run._runner import CheckOptions\n"
        "if __name__ == '__main__':\n"
        "    r = check_parallel('numpy-reference', CheckOptions(max_examples=64, seed=11, long_sequences=False,"
        " features=(), large_every=0), workers=2)\n"
        "    print(json.dumps({'verdict': r.verdict, 'error': r.error, 'examples': r.examples,"
        " 'dtypes': r.dtypes, 'workers': r.workers}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["verdict"] == "conformant" and result["examples"] == 64, result
    assert result["dtypes"] == ["float16", "bfloat16", "float32", "float64"], "the run as a whole covers every dtype"
    drawn = [w["drawn_dtypes"] for w in result["workers"]]
    assert drawn == [["float16", "float32"], ["bfloat16", "float64"]], drawn
    # Single cells only (no features): one graph per dtype drawn, so two each, where an unshared run builds four.
    assert [w["graph_builds"] for w in result["workers"]] == [2, 2], result["workers"]
