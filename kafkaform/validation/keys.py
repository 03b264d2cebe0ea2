"""Names that nothing reads: typos of kafkaform settings and of pyinfra connector keys."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from kafkaform.settings import DEFAULTS, HOST_KEYS, PASSTHROUGH_PREFIXES
from kafkaform.validation.problems import Problem, did_you_mean


@functools.cache
def connector_keys() -> dict[str, frozenset[str]]:
    """Host data keys pyinfra itself reads, by prefix, taken from pyinfra: every connector's
    declared data (ssh_*, docker_*, fake_*), the chroot connector's directory and the global
    operation arguments a host's data may default (_sudo, _su_user, ...)."""
    from pyinfra.api.arguments import all_global_arguments
    from pyinfra.api.connectors import get_all_connectors

    known: dict[str, set[str]] = {"_": {name for name, _ in all_global_arguments()}}
    for connector in get_all_connectors().values():
        for key in getattr(connector, "data_meta", None) or {}:
            known.setdefault(key.split("_", 1)[0] + "_", set()).add(key)
    known.setdefault("chroot_", set()).add("chroot_directory")  # read, not declared
    return {prefix: frozenset(keys) for prefix, keys in known.items()}


def unknown_keys(where: str, data: Mapping[Any, Any]) -> list[Problem]:
    problems = []
    vocabulary = sorted(set(DEFAULTS) | HOST_KEYS)
    checked = connector_keys()
    for raw in data:
        key = str(raw)
        if key in DEFAULTS or key in HOST_KEYS:
            continue
        prefix = next((p for p in checked if key.startswith(p)), None)
        if prefix is not None:
            if key not in checked[prefix]:
                hint = did_you_mean(key, checked[prefix])
                problems.append(Problem(where, key, f"pyinfra does not know this key{hint}"))
        elif not key.startswith(PASSTHROUGH_PREFIXES):
            problems.append(Problem(where, key, f"unknown setting{did_you_mean(key, vocabulary)}"))
    return problems
