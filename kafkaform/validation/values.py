"""Shared predicates on inventory values, and the one way a value is shown in a message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kafkaform.settings import SECRET_NAME_PATTERN, SECRET_SETTINGS

HIDDEN = "<hidden>"
SECRET_NAME_RE = re.compile(SECRET_NAME_PATTERN, re.IGNORECASE)
# user:password@ in a URL (mirrors behind basic auth).
URL_USERINFO_RE = re.compile(r"(?<=://)[^/@\s]*@")
SHOWN_MAX = 80  # longer values are cut: a message names the problem, not the whole value
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_secret(name: Any) -> bool:
    """Whether a setting or property of this name may hold a secret (its value is never shown)."""
    text = str(name)
    return text in SECRET_SETTINGS or bool(SECRET_NAME_RE.search(text))


def shown(name: Any, value: Any) -> str:
    """``value`` as a message may show it: hidden when ``name`` is secret-like, secret-named
    keys of a mapping hidden, a URL's credentials hidden, and long values cut."""
    if is_secret(name):
        return HIDDEN
    text = repr(_redacted(value))
    text = URL_USERINFO_RE.sub(f"{HIDDEN}@", text)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 3] + "..."


def _redacted(value: Any, depth: int = 0) -> Any:
    if depth > 5:
        return "..."
    if isinstance(value, Mapping):
        return {k: HIDDEN if is_secret(k) else _redacted(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, depth + 1) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return f"<{type(value).__name__}>"  # arbitrary objects: their type, not their repr


def type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def unsafe_chars(text: str, allowed: re.Pattern[str]) -> str:
    """The characters of ``text`` outside ``allowed`` (a one-character class), for a message."""
    bad = sorted({c for c in text if not allowed.fullmatch(c)})
    return " ".join(_char_name(c) for c in bad)


def _char_name(char: str) -> str:
    names = {" ": "space", "\n": "newline", "\t": "tab", "\r": "carriage return"}
    if char in names:
        return names[char]
    if CONTROL_RE.match(char):
        return f"control character {ord(char):#04x}"
    return repr(char)
