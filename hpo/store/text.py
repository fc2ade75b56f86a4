"""Text the store can hold on every backend.

PostgreSQL refuses NUL (``\\x00``) in text columns and in the text of JSON values
(psycopg raises ``DataError``), while SQLite keeps it; an exception message or an
attribute holding NUL then crashed ``tell`` on one backend and not the other.
The store therefore writes every string, in text columns and inside JSON
documents (keys too), through :func:`scrub`: NUL becomes U+2400 (SYMBOL FOR
NULL, ``␀``), visibly, on every backend alike. Free text (``error``) is also cut
to :data:`MAX_TEXT` characters, with a marker saying how much was cut.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NUL_REPLACEMENT", "MAX_TEXT", "scrub", "scrub_text"]

#: What a NUL character is stored as.
NUL_REPLACEMENT = "\u2400"
#: Longest free text (a trial's error / traceback) kept in the store, in characters.
MAX_TEXT = 65536


def scrub(value: Any) -> Any:
    """``value`` with NUL replaced in every string, keys included (``value`` itself when it has none).

    Args:
        value: JSON data (dicts, lists, tuples, strings, numbers, None, bools).
    """
    return _replace(value) if _has_nul(value) else value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def _replace(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", NUL_REPLACEMENT)
    if isinstance(value, dict):
        return {_replace(k): _replace(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace(v) for v in value]
    return value


def scrub_text(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """Free text as stored: NUL replaced, at most ``limit`` characters (head and tail kept)."""
    if text is None:
        return None
    text = scrub(str(text))
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 4
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut by the store ...]\n{text[-tail:]}"
