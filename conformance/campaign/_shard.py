"""Fuzz arguments: durations (``--budget``, ``--slice``) and shards (``--shard K/N``).

A shard is a deterministic share of a fuzz run's plan (conformance.campaign._fuzz.plan): with
the same targets and options every one of N jobs computes the same plan, and job K runs the
slices at positions K-1, K-1+N, K-1+2N, ... of it, so the N shares are disjoint, cover the plan,
and differ in size by at most one slice (the plan is group-major: each share gets the "all" group
and single features alike).  Sharing one example database (Redis),
a shard replays the failures stored for its own slices; ``merge`` joins the shards' reports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TypeVar

from conformance.spec import InvalidArgument

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s?)?\s*$")


def parse_duration(text: str, *, name: str = "--budget") -> float:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"1h30m"``, ``"2.5"`` (seconds) -> seconds; InvalidArgument otherwise."""
    match = _DURATION.match(str(text))
    if str(text).strip().startswith("-"):
        raise InvalidArgument(f"{name}={text}: a duration must be positive, not {text!r} (e.g. 90s, 30m, 1h30m)")
    if not str(text).strip() or match is None or not any(match.groups()):
        raise InvalidArgument(f"{name}={text}: {text!r} is not a duration (e.g. 90s, 30m, 1h, 1h30m or plain seconds)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not math.isfinite(total) or total <= 0:
        raise InvalidArgument(f"{name}={text}: {text!r} must be longer than 0 s")
    return total


_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str, *, name: str = "--shard") -> tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``: the 2nd of 3 shards; InvalidArgument naming the value otherwise."""
    match = _SHARD.match(str(text))
    if match is None:
        raise InvalidArgument(f"{name}={text}: {text!r} is not K/N (e.g. 1/3: the first of three shards)")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise InvalidArgument(f"{name}={text}: K/N needs 1 <= K <= N (N >= 1)")
    return k, n


def shard_slices(slices: Sequence[T], k: int, n: int) -> list[T]:
    """The K-th (1-based) of N disjoint shares of ``slices``: positions K-1, K-1+N, ...

    InvalidArgument when the share is empty (more shards than slices): that job could fuzz nothing.
    """
    if n < 1 or not 1 <= k <= n:
        raise InvalidArgument(f"shard={k}/{n}: K/N needs 1 <= K <= N (N >= 1)")
    share = [sl for i, sl in enumerate(slices) if i % n == k - 1]
    if not share:
        raise InvalidArgument(f"--shard {k}/{n}: the plan has only {len(slices)} slice(s) (target x feature group "
                              f"x dtype), so shard {k} would have none: use at most {len(slices)} shards")
    return share
