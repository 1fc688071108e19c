"""Bounded reads and atomic writes of the files the harness keeps (corpus cases, database entries).

A corpus or database directory is shared and may hold anything: a FIFO (opening it blocks), a
device or a symlink to one (``/dev/zero`` never ends), a zip bomb.  Everything the harness reads
from such a directory goes through :func:`open_regular` or :func:`read_regular`, which open only
regular files and refuse one over a size limit before reading it; :func:`atomic_write` never
leaves a partial file (or writes through a symlink planted at the destination).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import IO, Any

from conformance.spec._errors import InvalidArgument

#: The most a case file may hold, compressed on disk or decompressed from its ``.npz`` members
#: together: far beyond any real case (the largest generated ones are a few MiB), and small
#: enough that a zip bomb or a stray huge file is refused before it costs memory.
MAX_CASE_BYTES = 512 << 20


def size_text(n: int) -> str:
    """``n`` bytes, shown in the largest binary unit that divides it (``512 MiB``)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a plain file"


def open_regular(path: Any, limit: int | None = None) -> IO[bytes]:
    """Open ``path`` for binary reading if it is (or a symlink resolves to) a regular file of at most ``limit`` bytes.

    Raises InvalidArgument, one line naming the file, for anything else: a FIFO (never opened for
    longer than a non-blocking ``open``), a device, a socket, a directory, a file over the limit,
    or an OSError.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidArgument(f"{name}: not a regular file ({_kind(st.st_mode)})")
        # O_NONBLOCK: were the file swapped for a FIFO since the stat, opening it still returns at once.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InvalidArgument(f"{name}: cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidArgument(f"{name}: not a regular file ({_kind(st.st_mode)})")
        if limit is not None and st.st_size > limit:
            raise InvalidArgument(f"{name}: {st.st_size} bytes, over the limit of {size_text(limit)}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Any, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`); never reads more."""
    with open_regular(path, limit) as fh:
        data = fh.read(limit + 1)  # a file that grew since the check is still cut off here
    if len(data) > limit:
        raise InvalidArgument(f"{os.fspath(path)}: over the limit of {size_text(limit)}")
    return data


@contextlib.contextmanager
def atomic_write(path: Any, *, fsync: bool = False) -> Iterator[IO[bytes]]:
    """Write ``path`` through a temporary file in its directory, renamed over it only once complete.

    A failure (a full disk, an exception in the ``with`` body) leaves ``path`` as it was and no
    temporary file behind.  ``os.replace`` swaps a symlink at ``path`` itself, never its target.
    The file gets the usual ``0o666 & ~umask`` mode.
    """
    name = os.fspath(path)
    directory, base = os.path.split(name)
    tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Any, text: str) -> None:
    """:func:`atomic_write` of ``text`` as UTF-8; text that cannot be encoded (a lone surrogate) is written
    as a ``\\udXXX`` escape, never a failed write.  Every report, record and matrix file goes through here."""
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8", errors="backslashreplace"))


__all__ = ["MAX_CASE_BYTES", "atomic_write", "open_regular", "read_regular", "size_text", "write_text_atomic"]
