"""Plain-text primitives of the report views: control characters made visible, one line, numbers for people.

Every string returned is plain; each writer escapes it for its own syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: C0 controls but tab and newline, DEL and C1 controls (0x9b is a terminal's one-byte CSI),
#: and lone surrogates (a str may hold them; no UTF-8 writer can encode them).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_str(text: Any) -> str:
    """``str(text)``, never raising (a hostile ``__str__`` falls back to repr, then a placeholder)."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    for render in (str, repr):
        try:
            return str(render(text))
        except Exception:  # noqa: BLE001 - untrusted objects may raise anything from __str__/__repr__
            continue
    return f"<unprintable {type(text).__name__}>"


def clean(text: Any) -> str:
    """``str(text)`` with control characters and lone surrogates written as visible escapes.

    ESC becomes the four characters ``\\x1b``, NUL ``\\x00``, a lone surrogate ``\\ud800``:
    nothing that drives a terminal, breaks XML or cannot be encoded as UTF-8 survives, yet the
    reader still sees that it was there.  Tab and newline stay.
    """
    return _UNSAFE.sub(_visible, safe_str(text).replace("\r\n", "\n"))


def one_line(text: Any, limit: int = 500) -> str:
    s = " ".join(clean(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def last_line(text: Any) -> str:
    """The last non-blank line of ``text``, cleaned (where a traceback or TF puts the real error)."""
    lines = [line.strip() for line in clean(text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def unpaired_surrogates_escaped(text: str) -> str:
    """``text`` with only its lone surrogates written as ``\\udXXX`` (for report.json: valid Unicode,
    every other character kept as it is)."""
    return re.sub(r"[\ud800-\udfff]", _visible, text)


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
