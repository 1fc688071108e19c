"""Text of what a candidate raised or wrote: one line, whole, or safe for terminals and XML (never raising)."""

from __future__ import annotations

import re
import traceback

#: Control characters (tab/newline aside) and lone surrogates: they drive terminals, break XML and
#: cannot be written as UTF-8, so a fault's text carries them as visible escapes (``\\x1b``, ``\\ud800``).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _safe_text(text: str) -> str:
    return _UNSAFE.sub(_visible, text.replace("\r\n", "\n"))


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_exception(exc: BaseException) -> str:
    """``"TypeName: message"`` of ``exc``, never raising.

    A candidate's exception is untrusted: its ``__str__`` may raise, so this falls back to
    ``repr(exc)``, then to ``"<unprintable TypeName>"``.  The text is whole (not cut to one line).
    """
    name = type(exc).__name__
    for render in (str, repr):
        try:
            text = render(exc)
            if not isinstance(text, str):
                raise TypeError(f"{render.__name__}() returned {type(text).__name__}")
            return f"{name}: {text}"
        except Exception:  # noqa: BLE001 - anything a hostile __str__/__repr__ raises
            continue
    return f"{name}: <unprintable {name}>"


def _format_traceback(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(exc))
    except Exception:  # noqa: BLE001 - formatting an untrusted exception must not kill the harness
        return f"(traceback unavailable)\n{describe_exception(exc)}\n"
