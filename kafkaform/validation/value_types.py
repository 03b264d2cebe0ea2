"""Each setting has its default's type (a port is an int, not a bool, a list or a string);
settings whose default is None take a string when set (a URL, a checksum, a size, a name)."""

from __future__ import annotations

from typing import Any

from kafkaform.cluster import Node
from kafkaform.settings import DEFAULTS, PORT_SETTINGS
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import is_int, is_secret, shown, type_name


def has_type(value: Any, expected: type) -> bool:
    if expected is int:
        return is_int(value)
    if expected is float:
        return is_int(value) or isinstance(value, float)
    return isinstance(value, expected)


def check_types(node: Node) -> list[Problem]:
    problems = []
    for key, value in node.data.items():
        if key not in DEFAULTS:
            continue
        default = DEFAULTS[key]
        if default is None:
            if value is not None and not isinstance(value, str):
                problems.append(
                    Problem(node.name, key, f"expected a string, got {got(key, value)}")
                )
        elif not has_type(value, type(default)):
            expected = type(default).__name__
            problems.append(Problem(node.name, key, f"expected {expected}, got {got(key, value)}"))
        elif is_int(value) and key not in PORT_SETTINGS and value < 1:
            # Counts, limits and timeouts: zero or less would stop or disable what they size.
            problems.append(Problem(node.name, key, f"{value} must be 1 or more"))
    return problems


def got(key: str, value: Any) -> str:
    """What was given instead, for a type error (a secret's type but not its value)."""
    return f"a {type_name(value)} (value hidden)" if is_secret(key) else shown(key, value)
