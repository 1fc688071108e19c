"""Plain-text primitives of the report views: control characters out, one line, numbers for people.

Every string returned is plain; each writer escapes it for its own syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: Any) -> str:
    """``str(text)`` without control characters (they break XML and terminals; tab/newline stay)."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", "" if text is None else str(text))


def one_line(text: Any, limit: int = 500) -> str:
    s = " ".join(clean(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def num(x: Any, digits: int = 6) -> str:
    """A number for people: ``None`` -> "n/a", floats with ``digits`` significant digits."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return clean(x)


def join(items: Iterable[Any], empty: str = "none") -> str:
    items = [clean(i) for i in items]
    return ", ".join(items) if items else empty
