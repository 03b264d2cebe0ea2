"""Derived properties: a Kafka or ZooKeeper property composed from inventory settings, never
set directly. The tables of them (kafkaform.cluster, kafkaform.security) are read both by the
composition of a host's config and by validation, which refuses an override of any of them.

Its own module so that every module declaring such a table can import it without importing
the cluster model (which composes those tables).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Derived:
    """A property (or a family of them) composed from inventory settings, never set directly."""

    owner: str  # the setting(s) to change instead, as messages name them
    # (cluster, node) -> the properties: kafkaform.cluster.Cluster and Node, which import this
    compose: Callable[[Any, Any], dict[str, Any]]
    family: str | None = None  # regex of the names, when one entry composes several

    def owns(self, name: str, key: str) -> bool:
        """Whether the property ``key`` is this entry's (``name``: its key in the table)."""
        return re.fullmatch(self.family, key) is not None if self.family else key == name


def derived_owner(table: Mapping[str, Derived], key: Any) -> str | None:
    """The setting that owns property ``key``, or None when the key may be set freely."""
    for name, entry in table.items():
        if isinstance(key, str) and entry.owns(name, key):
            return entry.owner
    return None
