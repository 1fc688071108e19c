"""Hostile files where the harness reads: FIFOs, devices, zip bombs, /dev/zero in the example database.

Each read must stay bounded: a corpus entry that is no regular file or would decompress past a limit
is skipped with one warning line, a database entry that is no small regular file is not handed out,
and ``--db`` naming something that is not a directory is a usage error.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from conformance.run import add_to_corpus, load_corpus, open_database
from conformance.spec import Case, InitialState, InvalidArgument, LSTMConfig, LSTMParams

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs and /dev/zero")


def _case() -> Case:
    cfg = LSTMConfig(num_units=1, input_size=1, dtype="float32")
    npd = cfg.np_dtype
    bias = np.zeros(4, npd)
    bias[1] = -1.0
    return Case(cfg, LSTMParams(kernel=np.zeros((2, 4), npd), bias=bias), np.zeros((1, 2, 1), npd),
                InitialState(np.zeros((1, 1), npd), np.zeros((1, 1), npd)))


def _load_in_thread(directory: str, unblock: list[str], timeout: float = 20.0) -> tuple[list, list[str]]:
    """load_corpus(directory) in a thread; a regression that blocks fails here instead of hanging the suite."""
    warnings: list[str] = []
    out: dict[str, object] = {}

    def work() -> None:
        try:
            out["entries"] = load_corpus(directory, warn=warnings.append)
        except BaseException as exc:  # reported below
            out["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for fifo in unblock:  # let the stuck reader see EOF so the thread ends
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        thread.join(5)
        pytest.fail(f"load_corpus({directory!r}) still blocked after {timeout:g} s (reading a FIFO?)")
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["entries"], warnings  # type: ignore[return-value]


def test_fifo_and_device_entries_in_the_corpus_are_skipped_without_blocking(tmp_path):
    good = _case()
    _case().save_npz(tmp_path / "good.npz")
    fifo = str(tmp_path / "x.npz")
    os.mkfifo(fifo)
    os.symlink(fifo, tmp_path / "y.npz")  # a symlink to a FIFO is no regular file either
    os.symlink("/dev/zero", tmp_path / "z.npz")
    entries, warnings = _load_in_thread(str(tmp_path), [fifo])
    assert [os.path.basename(e.path) for e in entries] == ["good.npz"], f"loaded {[e.path for e in entries]}"
    assert np.array_equal(entries[0].case.params.bias, good.params.bias)
    assert len(warnings) == 3, f"expected one warning per hostile entry, got {warnings}"
    for name, line in zip(("x.npz", "y.npz", "z.npz"), warnings):
        assert name in line and "\n" not in line and "regular file" in line, f"warning for {name}: {line!r}"


def test_load_npz_refuses_a_fifo_directly(tmp_path):
    fifo = str(tmp_path / "case.npz")
    os.mkfifo(fifo)
    with pytest.raises(InvalidArgument, match="not a regular file") as info:
        Case.load_npz(fifo)
    assert fifo in str(info.value) and "\n" not in str(info.value)


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (63 - (len(header) + 11) % 64) + b"\n"  # 10-byte preamble + header, a multiple of 64
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def _zip_bomb(path, claimed: int = 1 << 30) -> None:
    """An .npz whose inputs.npy holds ``claimed`` bytes of zeros (about 1 MB on disk), written in chunks."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("config.npy", b"")
        with zf.open("inputs.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((claimed // 8,)))
            for _ in range(claimed // len(chunk)):
                member.write(chunk)


def test_zip_bomb_is_refused_from_the_central_directory(tmp_path):
    bomb = tmp_path / "bomb.npz"
    _zip_bomb(bomb)
    assert bomb.stat().st_size < 16 << 20, f"the bomb should be small on disk: {bomb.stat().st_size}"
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(InvalidArgument) as info:
            Case.load_npz(str(bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert str(bomb) in message and "limit" in message and "\n" not in message, f"error: {message!r}"
    assert elapsed < 5, f"refusing the bomb took {elapsed:.1f} s: it was decompressed"
    assert peak < 64 << 20, f"refusing the bomb allocated {peak / 2**20:.0f} MiB"


def test_zip_bomb_in_the_corpus_is_skipped_with_one_warning(tmp_path):
    _case().save_npz(tmp_path / "good.npz")
    _zip_bomb(tmp_path / "bomb.npz")
    entries, warnings = _load_in_thread(str(tmp_path), [])
    assert [os.path.basename(e.path) for e in entries] == ["good.npz"]
    assert len(warnings) == 1 and "bomb.npz" in warnings[0] and "limit" in warnings[0], warnings


def test_npy_header_claiming_more_than_its_member_holds_is_refused(tmp_path):
    # A tiny member whose .npy header claims 2**40 elements: numpy would allocate for it before reading.
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("inputs.npy", _npy_header((1 << 40,)) + bytes(64))
    with pytest.raises(InvalidArgument, match="liar.npz") as info:
        Case.load_npz(str(path))
    assert "\n" not in str(info.value)


def _entry_file(db_dir, key: bytes, value: bytes) -> str:
    from hypothesis.database import DirectoryBasedExampleDatabase

    db = DirectoryBasedExampleDatabase(str(db_dir))
    before = {os.path.join(r, f) for r, _, fs in os.walk(db_dir) for f in fs}
    db.save(key, value)
    key_dir = str(db._key_path(key))
    (path,) = [os.path.join(key_dir, f) for f in os.listdir(key_dir)
               if os.path.join(key_dir, f) not in before and open(os.path.join(key_dir, f), "rb").read() == value]
    return path


def test_dev_zero_in_the_directory_database_is_not_read(tmp_path):
    """Run in a child under an address-space limit, so a regression fails instead of feeding the OOM killer."""
    script = textwrap.dedent("""
        import os, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        from hypothesis.database import DirectoryBasedExampleDatabase
        from conformance.run import open_database
        root, key = sys.argv[1], b"slice"
        raw = DirectoryBasedExampleDatabase(root)
        raw.save(key, b"good")
        raw.save(key, b"bad")
        bad = raw._value_path(key, b"bad")
        os.remove(bad)
        os.symlink("/dev/zero", bad)
        print(sorted(open_database(root).fetch(key)))
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "db")], capture_output=True, text=True,
                          timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, f"fetch failed (rc {proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.strip() == "[b'good']", f"fetch returned {proc.stdout!r}"


def test_oversized_and_fifo_database_entries_are_skipped(tmp_path):
    db_dir = tmp_path / "db"
    key = b"slice"
    big = _entry_file(db_dir, key, b"big")
    with open(big, "wb") as fh:
        fh.truncate(2 << 20)  # sparse, 2 MiB: far beyond any Hypothesis entry
    fifo = _entry_file(db_dir, key, b"fifo")
    os.remove(fifo)
    os.mkfifo(fifo)
    _entry_file(db_dir, key, b"good")
    out: dict[str, list[bytes]] = {}
    thread = threading.Thread(target=lambda: out.setdefault("values", list(open_database(str(db_dir)).fetch(key))),
                              daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail("fetch blocked on a FIFO entry")
    assert out["values"] == [b"good"], f"fetch returned {[v[:20] for v in out['values']]}"


def test_directory_database_still_saves_fetches_and_deletes(tmp_path):
    db = open_database(str(tmp_path / "db"))
    db.save(b"k", b"v1")
    db.save(b"k", b"v2")
    assert sorted(db.fetch(b"k")) == [b"v1", b"v2"]
    db.delete(b"k", b"v1")
    assert list(db.fetch(b"k")) == [b"v2"]
    assert open_database(str(tmp_path / "db")) == db


@pytest.mark.parametrize("spec", ["/dev/null", "FILE"])
def test_db_that_is_not_a_directory_is_a_usage_error(tmp_path, spec):
    if spec == "FILE":
        spec = str(tmp_path / "a-file")
        open(spec, "w").close()
    with pytest.raises(InvalidArgument) as info:
        open_database(spec)
    assert str(info.value) == f"--db {spec!r} is not a directory"


def test_check_with_db_dev_null_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    from conformance.cli import main

    monkeypatch.chdir(tmp_path)
    rc = main(["check", "numpy-reference", "--db", "/dev/null", "--max-examples", "1", "--quiet",
               "--report-dir", str(tmp_path / "reports")])
    err = capsys.readouterr().err.strip()
    assert rc == 2, f"exit {rc}, stderr {err!r}"
    assert err.count("\n") == 0 and "--db '/dev/null'" in err, f"stderr: {err!r}"


def test_add_to_corpus_rewrites_an_entry_that_is_a_zip_bomb(tmp_path):
    """An entry name taken by something that is not a case is rewritten, not trusted."""
    from conformance.run import entry_stem
    from tests.test_corpus import _counterexample

    cx = _counterexample(_case())
    target = tmp_path / (entry_stem(cx.target, cx.case) + ".npz")
    _zip_bomb(target, claimed=600 << 20)
    assert add_to_corpus(cx, str(tmp_path)) == str(target)
    assert target.stat().st_size < 1 << 20
    Case.load_npz(str(target))


def test_a_fifo_record_beside_a_case_is_no_record(tmp_path):
    """``repro`` and the corpus read the .json beside a case: a FIFO there must not hang them."""
    from conformance.report import recorded

    npz = tmp_path / "x.npz"
    os.mkfifo(tmp_path / "x.json")
    out: list = []
    reader = threading.Thread(target=lambda: out.append(recorded(str(npz))), daemon=True)
    reader.start()
    reader.join(20.0)
    if reader.is_alive():  # unblock the reader so the test process can end
        with open(tmp_path / "x.json", "w"):
            pass
        pytest.fail("recorded() blocked on a FIFO named like a counterexample record")
    assert out == [{}], out
