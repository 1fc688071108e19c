"""Redis going away in the middle of a fuzz run: the run carries on without it (issue 17 item 12).

The example database is a cache.  A real ``redis-server`` started here is killed while
``fuzz`` runs and started again on the same port: the run must neither end early nor
turn its later slices into errors, must say once that it carries on without the
database, and must use it again once it is back.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conformance.run import database_key, redis_database

redis = pytest.importorskip("redis", reason="the redis client (extra 'redis') is not installed")
REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server (Debian package) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throw-away redis-server on 127.0.0.1 (no persistence) that can be killed and started again."""

    def __init__(self, directory: Path) -> None:
        self.port, self.directory = _free_port(), directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"redis-server on port {self.port} did not start (exit {self.proc.poll()})")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def server(tmp_path):
    srv = RedisServer(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_the_database_is_a_cache_that_comes_back(server):
    said: list[str] = []
    db = redis_database(server.url, warn=said.append)
    key = database_key("t", frozenset(), {"float32"})
    db.save(key, b"before")
    server.stop()
    assert list(db.fetch(key)) == [], "a fetch while Redis is away hands out nothing"
    db.save(key, b"lost")  # nothing raised
    assert len(said) == 1 and "carrying on without it" in said[0] and server.url in said[0], said
    server.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(said) < 2:
        db.save(key, b"after")
        time.sleep(0.2)
    assert said[1:] and "reachable again" in said[1], f"never reconnected: {said}"
    assert list(db.fetch(key)) == [b"after"], "the database is used again once it is back"
    server.stop()
    db.save(key, b"x")
    assert len([s for s in said if "carrying on" in s]) == 1, f"said more than once: {said}"


def test_fuzz_carries_on_when_redis_goes_away_and_comes_back(server, tmp_path):
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", "fuzz", "numpy-reference", "--budget", "60s", "--slice", "2s",
         "--db", server.url, "--no-isolate", "--dtype", "float32", "--feature", "forget_bias", "--feature", "peepholes",
         "--seed", "1", "--no-long",
         "--report-dir", str(reports), "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    # Each pipe has one reader: communicate() would read stderr too and take lines from this one's list
    # (the "reachable again" line, written just as the test starts waiting, was lost that way).
    err: list[str] = []
    outs: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    out_reader = threading.Thread(target=lambda: outs.extend(proc.stdout), daemon=True)
    reader.start()
    out_reader.start()

    def wait_for(predicate, what: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"never saw {what} (exit {proc.poll()}); stderr:\n{''.join(err)[-3000:]}")
            time.sleep(0.05)

    def slices_started() -> int:
        numbers = re.findall(r"slice (\d+):", "".join(err))
        return int(numbers[-1]) if numbers else 0

    try:
        wait_for(lambda: slices_started() >= 2, "the second slice")
        server.stop()
        wait_for(lambda: "carrying on without it" in "".join(err), "the run saying it carries on without Redis")
        down_at = slices_started()
        wait_for(lambda: slices_started() >= down_at + 1, "a slice starting while Redis is away")
        server.start()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    out_reader.join(5)
    out, stderr = "".join(outs), "".join(err)
    # 60 s: a retry waits up to ten times a slow failed try (a loaded machine), and the run must outlast it.
    # Before the fix every slice after the outage errored in milliseconds: verdict ERROR, exit 2.
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-2000:]}\n{stderr[-3000:]}"
    assert len(re.findall("carrying on without it", stderr)) == 1, f"not said exactly once:\n{stderr[-3000:]}"
    assert "reachable again" in stderr, f"never used the database again after the restart:\n{stderr[-3000:]}"
    report = json.loads((reports / "report.json").read_text())
    verdicts = [r["verdict"] for r in report["runs"]]
    assert report["verdict"] == "conformant" and set(verdicts) == {"conformant"}, verdicts
    assert len(verdicts) > down_at, f"the run ended early: {len(verdicts)} slices, Redis went away at {down_at}"
    assert report["elapsed_s"] > 40, f"the run ended early, after {report['elapsed_s']} s of a 60 s budget"
