"""Glue between pyinfra's run and the cluster model."""

from __future__ import annotations

from typing import Any

from pyinfra.api.exceptions import PyinfraError

from kafkaform.cluster import Cluster
from kafkaform.validate import InventoryError, check_inventory

_checked: dict[int, Cluster] = {}


def checked_cluster(inventory: Any) -> Cluster:
    """Validate once per run (the deploy file is executed once per host) and build the model."""
    key = id(inventory)
    if key not in _checked:
        problems = check_inventory(inventory)
        if problems:
            raise PyinfraError(str(InventoryError(problems)))
        _checked[key] = Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)
    return _checked[key]
