"""The shared example database: a real ``redis-server`` on loopback, and fuzz workers sharing it.

Also the scale-out recipe of docs/fuzzing.md: workers with different seeds share one
Redis database, then ``lstm-conformance merge`` makes one report of theirs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conformance.run import REDIS_KEY_PREFIX, counting_database, database_key, describe_database, redis_database
from conformance.spec import InvalidArgument
from tests.helpers import run_cli

redis = pytest.importorskip("redis", reason="the redis client (extra 'redis') is not installed")
REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server (Debian package) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A throw-away redis-server on 127.0.0.1 (no persistence), stopped after the test."""
    port = _free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"redis-server on port {port} did not start (exit {proc.poll()})")
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_redis_database_round_trip_under_our_prefix(redis_url):
    db = redis_database(redis_url)
    key = database_key("t", frozenset(), {"float32"})
    db.save(key, b"choices")
    assert list(db.fetch(key)) == [b"choices"], f"fetch after save gave {list(db.fetch(key))}"
    raw = redis.Redis.from_url(redis_url)
    keys = raw.keys(b"*")
    assert keys and all(k.startswith(REDIS_KEY_PREFIX) for k in keys), f"keys written: {keys}"
    counting = counting_database(db)
    assert list(counting.fetch(key)) == [b"choices"] and counting.fetched == {key: 1}, \
        f"counting wrapper fetched {counting.fetched}"
    counting.delete(key, b"choices")
    assert list(db.fetch(key)) == [], "delete through the wrapper must reach Redis"


@pytest.mark.parametrize("url, needle", [
    ("redis://127.0.0.1:1/0", "cannot reach Redis"),
    ("redis://127.0.0.1:notaport/0", "port"),
    ("redis://127.0.0.1:6379/x", "database number"),
    ("redis:///0", "expected redis://HOST:PORT/N"),
])
def test_bad_redis_urls_are_one_line_errors(url, needle):
    with pytest.raises(InvalidArgument) as info:
        redis_database(url)
    message = str(info.value)
    assert needle in message and url in message and "\n" not in message, f"error for {url}: {message!r}"


def test_password_is_not_shown():
    shown = describe_database("redis://user:s3cret@db.example:6379/2")
    assert "s3cret" not in shown and "db.example:6379/2" in shown, f"describe_database shows {shown!r}"


def _worker(tmp_path, name: str, url: str, budget: str, seed: int, *targets: str) -> subprocess.Popen:
    out = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "conformance", "fuzz", *targets, "--budget", budget, "--dtype", "float32",
         "--db", url, "--seed", str(seed), "--report-dir", str(tmp_path / name), "--format", "json", "-q",
         "--no-isolate"],
        cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
    )


def test_two_workers_share_failures_then_merge(redis_url, tmp_path):
    """Worker A finds the bug; worker B, started while A still runs, replays it first; merge joins both."""
    key = REDIS_KEY_PREFIX + database_key("seed-missing-forget-bias", frozenset(), {"float32"})
    raw = redis.Redis.from_url(redis_url)
    # numpy-reference (conformant) keeps A busy after its finding; it is stopped (SIGTERM) once B is done.
    a = _worker(tmp_path, "a", redis_url, "300s", 1, "seed-missing-forget-bias", "numpy-reference")
    try:
        deadline = time.monotonic() + 90
        while not raw.scard(key):
            assert a.poll() is None, f"worker A ended (exit {a.returncode}) before storing a failure:\n" \
                                     f"{(tmp_path / 'a.log').read_text()[-1500:]}"
            assert time.monotonic() < deadline, "worker A stored no failure in Redis within 90 s"
            time.sleep(0.2)
        b = _worker(tmp_path, "b", redis_url, "60s", 2, "seed-missing-forget-bias")
        b_code = b.wait(180)
        a_running_when_b_ended = a.poll() is None
        a.terminate()  # a night's worker stopped early keeps what it found: partial report, exit 143
        a_code = a.wait(120)
    finally:
        if a.poll() is None:
            a.kill()
    assert b_code == 1, f"worker B exit {b_code}:\n{(tmp_path / 'b.log').read_text()[-1500:]}"
    assert a_running_when_b_ended, "the workers should overlap: A was already done when B finished"
    assert a_code == 143, \
        f"worker A exit {a_code} after SIGTERM, expected 143:\n{(tmp_path / 'a.log').read_text()[-1500:]}"
    report_b = json.loads((tmp_path / "b" / "report.json").read_text())
    first = report_b["runs"][0]
    assert first["verdict"] == "nonconformant", f"B's first slice: {first}"
    assert first["db_replayed"] >= 1, f"B was handed {first['db_replayed']} stored failures by Redis"
    assert first["first_failure_example"] is not None and first["first_failure_example"] <= first["db_replayed"], \
        f"B failed first at example {first['first_failure_example']}, after {first['db_replayed']} replays"
    assert report_b["counterexamples"][0]["from_database"] is True, "B's counterexample should be marked from_database"

    out = tmp_path / "merged"
    proc = run_cli("merge", str(tmp_path / "a"), str(tmp_path / "b"), "--report-dir", str(out), "--format", "json",
                   cwd=tmp_path)
    assert proc.returncode == 1, f"merge exit {proc.returncode} (1 = a nonconformance); {proc.stderr[-800:]}"
    merged = json.loads((out / "report.json").read_text())
    report_a = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report_a["interrupted"] is True and report_a["verdict"] == "nonconformant", \
        f"A's partial report: interrupted={report_a['interrupted']} verdict={report_a['verdict']}"
    assert len(merged["runs"]) == len(report_a["runs"]) + len(report_b["runs"]), \
        f"merged {len(merged['runs'])} runs from {len(report_a['runs'])} + {len(report_b['runs'])}"
    assert merged["examples"] == report_a["examples"] + report_b["examples"], "merged examples must add up"
    assert {c["target"] for c in merged["candidates"]} == {"seed-missing-forget-bias", "numpy-reference"}, \
        f"merged candidates {merged['candidates']}"
    for i, cx in enumerate(merged["counterexamples"]):
        assert os.path.dirname(cx["repro"]) == str(out), f"counterexample {i} points at {cx['repro']}, not into OUT"
        assert os.path.exists(cx["repro"]), f"counterexample {i} file {cx['repro']} was not copied"
