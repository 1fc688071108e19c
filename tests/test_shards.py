"""``fuzz --shard K/N``: N jobs split one fuzz plan deterministically, share one Redis database, and
``merge`` joins their reports (the CI matrix of docs/nightly-fuzz.yml)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from conformance.campaign import parse_shard, plan, shard_coverage, shard_slices
from conformance.candidates import resolve
from conformance.run import CheckOptions
from conformance.spec import InvalidArgument
from tests.test_redis import REDIS_SERVER, redis, redis_url  # noqa: F401  (the fixture: a real redis-server)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_shards_are_disjoint_even_and_cover_the_plan(n):
    loaded = [resolve("numpy-reference"), resolve("seed-missing-forget-bias")]
    full = plan(loaded, CheckOptions())
    shares = [shard_slices(full, k, n) for k in range(1, n + 1)]
    flat = [sl for share in shares for sl in share]
    assert sorted(map(repr, flat)) == sorted(map(repr, full)) and len(flat) == len(full), "not a partition"
    assert [len(s) for s in shares] == [len(full[k::n]) for k in range(n)]
    assert shard_slices(full, 1, n) == shard_slices(plan(loaded, CheckOptions()), 1, n), "not deterministic"
    assert max(map(len, shares)) - min(map(len, shares)) <= 1, "shares should be even"


def test_bad_shards_are_one_line_naming_the_value():
    assert parse_shard("2/3") == (2, 3) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/3", "4/3", "3", "a/b", "-1/3", "1/0"):
        with pytest.raises(InvalidArgument) as info:
            parse_shard(bad)
        assert f"--shard={bad}" in str(info.value) and "\n" not in str(info.value), str(info.value)
    with pytest.raises(InvalidArgument, match=r"only 2 slice\(s\).*use at most 2 shards"):
        shard_slices(["a", "b"], 3, 3)


def test_merge_notes_missing_and_repeated_shards():
    reports = [{"shard": {"index": 1, "count": 3}}, {"shard": {"index": 1, "count": 3}}, {"verdict": "conformant"}]
    assert shard_coverage(reports) == {"count": 3, "merged": [1], "missing": [2, 3], "repeated": [1],
                                       "mixed_counts": False}
    assert shard_coverage([{"verdict": "conformant"}]) is None


TARGETS = ["numpy-reference", "seed-missing-forget-bias"]
NARROW = ["--dtype", "float32", "--feature", "forget_bias", "--feature", "initial_state"]


def _cli(*args: str, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "conformance", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server (Debian package) is not installed")
def test_three_shards_share_one_redis_and_merge_into_one_report(redis_url, tmp_path):  # noqa: F811
    jobs = [_cli("fuzz", *TARGETS, "--budget", "90s", "--shard", f"{k}/3", "--db", redis_url, "--seed", "7",
                 *NARROW, "--report-dir", f"shard{k}", "--format", "json", "--quiet", cwd=tmp_path)
            for k in (1, 2, 3)]
    outs = [job.communicate(timeout=600) for job in jobs]
    for k, (job, (out, err)) in enumerate(zip(jobs, outs), start=1):
        assert job.returncode in (0, 1), f"shard {k} exit {job.returncode}:\n{out}\n{err}"
        assert f"(shard {k}/3)" in out, out
    reports = [json.loads((tmp_path / f"shard{k}" / "report.json").read_text()) for k in (1, 2, 3)]
    assert [r["shard"] for r in reports] == [{"index": k, "count": 3} for k in (1, 2, 3)]

    # Each shard ran its own share of the one plan: disjoint, and together every slice.
    options = CheckOptions(dtypes=["float32"], features=["forget_bias", "initial_state"])
    full = plan([resolve(t) for t in TARGETS], options)
    ran = [{(r["target"], r["feature"], r["dtype"]) for r in rep["runs"]} for rep in reports]
    for k, labels in enumerate(ran, start=1):
        mine = {(sl.target, sl.group, sl.dtype) for sl in shard_slices(full, k, 3)}
        assert labels and labels <= mine, f"shard {k} ran {labels}, its share is {mine}"
    assert set().union(*ran) == {(sl.target, sl.group, sl.dtype) for sl in full}, ran

    # They shared the database: the failures they stored are in the one Redis.
    assert redis.Redis.from_url(redis_url).keys(b"*"), "nothing stored in the shared Redis database"

    merged = subprocess.run([sys.executable, "-m", "conformance", "merge", "shard1", "shard2", "shard3",
                             "--report-dir", "merged", "--format", "json"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert merged.returncode == 1, f"merge exit {merged.returncode}:\n{merged.stdout}\n{merged.stderr}"
    assert "merge: all 3 shards" in merged.stdout, merged.stdout
    report = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert report["shards"] == {"count": 3, "merged": [1, 2, 3], "missing": [], "repeated": [],
                                "mixed_counts": False}
    assert report["examples"] == sum(r["examples"] for r in reports) and len(report["runs"]) == \
        sum(len(r["runs"]) for r in reports)
    assert {c["target"] for c in report["counterexamples"]} == {"seed-missing-forget-bias"}, report["counterexamples"]
    command = shlex.split(report["counterexample"]["repro_command"])
    assert os.path.isabs(command[2]) and os.path.exists(command[2]), command

    partial = subprocess.run([sys.executable, "-m", "conformance", "merge", "shard1", "shard2",
                              "--report-dir", "partial", "--format", "json"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
    assert "merge: warning: shards missing 3/3" in partial.stdout, partial.stdout
