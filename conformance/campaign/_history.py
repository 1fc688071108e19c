"""Error history: the largest error each fuzz run saw, per target x feature x dtype, over runs.

The file is JSON lines, one record per slice per run, appended (never rewritten),
so concurrent or interrupted runs cannot corrupt what earlier runs wrote::

    {"run": "2024-05-01T02:00:03Z-1a2b", "time": "2024-05-01T02:00:03Z", "target": "...",
     "feature": "all", "dtype": "float32", "examples": 812, "verdict": "conformant",
     "max_abs_error": 3.1e-07, "max_score": 0.12, "tool": "0.1.0", "tensorflow": "2.21.0"}

``max_score`` is the largest error / allowed error (1 is the tolerance), so a slow
climb toward 1 shows accuracy drifting before any threshold is crossed.
The report carries the series as ``history`` (see :func:`series`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from conformance.spec import InvalidArgument, finite_or_none, read_regular

#: Fields of a record, in the order they are written.
FIELDS = ("run", "time", "target", "feature", "dtype", "examples", "verdict", "max_abs_error", "max_score",
          "tool", "tensorflow")
#: The largest history file read back (a record is about 250 bytes: years of nightly runs stay far below).
MAX_HISTORY_BYTES = 256 << 20
#: Identity of a series: one line on the plot.
SERIES_KEY = ("target", "feature", "dtype")


def _finite(value: Any) -> Any:
    # JSON has no inf/nan; an error that was not finite is recorded as unknown. Other fields
    # (names, counts, None) pass through as they are.
    return finite_or_none(value) if isinstance(value, float) else value


def check_history_path(path: str) -> None:
    """InvalidArgument, before any work, unless records can be appended to ``path``."""
    if os.path.isdir(path):
        raise InvalidArgument(f"--history {path!r} is a directory, expected a file")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        with open(path, "a"):
            pass
    except OSError as exc:
        raise InvalidArgument(f"--history {path!r} cannot be written ({exc.strerror or exc})") from None


def append(path: str, records: Iterable[Mapping[str, Any]]) -> None:
    """Append records (one JSON line each) in a single write, so lines of concurrent runs do not interleave.

    The one file the harness appends to rather than replaces (concurrent runs share it).  A write cut
    short (a full disk) leaves at most one partial last line, which :func:`read` skips; the next append
    starts on a fresh line so it does not swallow the next record.  Raises OSError when it cannot write.
    """
    lines = "".join(json.dumps({k: _finite(r.get(k)) for k in FIELDS}, allow_nan=False) + "\n" for r in records)
    if not lines:
        return
    with open(path, "a+b") as fh:
        try:
            size = fh.seek(0, os.SEEK_END)
            if size > 0:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    lines = "\n" + lines
        except OSError:  # not seekable (a pipe): append as it is
            pass
        fh.write(lines.encode("utf-8", errors="backslashreplace"))


def read(path: str, *, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every well-formed record of ``path`` (none if it does not exist); a bad line is skipped with a warning."""
    from conformance.run import warn_stderr

    warn = warn or warn_stderr
    if not os.path.exists(path):
        return []
    try:
        # A regular file of bounded size only: --history pointing at a device (/dev/full, /dev/zero)
        # or a FIFO must not be read until memory runs out or forever.
        text = read_regular(path, MAX_HISTORY_BYTES).decode("utf-8", errors="replace")
    except InvalidArgument as exc:
        warn(f"history: not read ({' '.join(str(exc).split())})")
        return []
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            warn(f"history {path}:{number}: not a JSON line; skipped")
            continue
        if not isinstance(record, dict) or any(k not in record for k in SERIES_KEY):
            warn(f"history {path}:{number}: not a history record; skipped")
            continue
        records.append(record)
    return records


def series(records: Sequence[Mapping[str, Any]], *, path: str | None = None) -> dict[str, Any]:
    """The report's ``history``: records grouped into one series per target x feature x dtype, oldest first.

    ``{"path": FILE, "series": [{"target", "feature", "dtype",
    "points": [{"run", "time", "examples", "verdict", "max_abs_error", "max_score"}]}]}``
    """
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        point = {k: r.get(k) for k in ("run", "time", "examples", "verdict", "max_abs_error", "max_score")}
        grouped.setdefault(tuple(r.get(k) for k in SERIES_KEY), []).append(point)
    out = []
    for key in sorted(grouped, key=lambda k: tuple(str(x) for x in k)):
        points = sorted(grouped[key], key=lambda p: str(p.get("time") or ""))
        out.append({**dict(zip(SERIES_KEY, key)), "points": points})
    return {"path": path, "series": out}


def merge_series(histories: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """One ``history`` from several reports' (the same point reported twice counts once)."""
    records: dict[tuple, dict[str, Any]] = {}
    paths = []
    for h in histories:
        if not isinstance(h, Mapping):
            continue
        if h.get("path") and h["path"] not in paths:
            paths.append(h["path"])
        for s in h.get("series") or []:
            for p in s.get("points") or []:
                record = {**{k: s.get(k) for k in SERIES_KEY}, **p}
                records[tuple(str(record.get(k)) for k in SERIES_KEY + ("run",))] = record
    if not records and not paths:
        return None
    return series(list(records.values()), path=paths[0] if len(paths) == 1 else None)


__all__ = ["FIELDS", "append", "check_history_path", "merge_series", "read", "series"]
