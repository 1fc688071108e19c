"""Every run records its seed, one drawn by the runner when none was given, and the seed replays the run
(issue 18 item 8).  No TensorFlow: the float64 spec stands in for the oracle."""

from __future__ import annotations

import hashlib

from conformance import candidate
from conformance.run import CheckOptions, check
from conformance.spec import reference
from tests.wrong_impls import SpecOracle

SEEN: list[str] = []


@candidate(name="recording", features=[], dtypes=["float32"])
def recording(case):
    """The float64 spec rounded to the case's dtype; notes a digest of every case it is given."""
    SEEN.append(hashlib.sha256(case.inputs.tobytes() + case.params.kernel.tobytes()).hexdigest())
    r = reference(case)
    npd = case.config.np_dtype
    return r.outputs.astype(npd), (r.c.astype(npd), r.h.astype(npd))


def _run(seed):
    SEEN.clear()
    result = check("tests.test_report_seed:recording",
                   CheckOptions(max_examples=32, seed=seed, minimize=False, diagnose=False), oracle=SpecOracle())
    return result, list(SEEN)


def test_a_run_without_a_seed_records_the_one_it_drew_and_that_seed_replays_it():
    first, cases = _run(None)
    assert first.verdict == "conformant", first
    assert isinstance(first.seed, int), f"a run without --seed recorded seed={first.seed!r}"
    second, _ = _run(None)
    assert second.seed != first.seed, "two unseeded runs drew the same seed: the seed is not drawn per run"
    replay, replayed = _run(first.seed)
    assert replay.seed == first.seed and replayed == cases, "the recorded seed did not replay the same cases"
    assert len(set(cases)) == 32, f"{len(set(cases))} distinct cases of 32 examples"  # + determinism re-runs
