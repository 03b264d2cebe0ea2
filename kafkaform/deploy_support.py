"""Glue between pyinfra's run and the cluster model."""

from __future__ import annotations

from typing import Any

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ContextObject, ctx_inventory

from kafkaform.cluster import Cluster
from kafkaform.validate import InventoryError, check_inventory

_checked: tuple[Any, Cluster] | None = None


def checked_cluster(inventory: Any) -> Cluster:
    """Validate once per run (the deploy file is executed once per host) and build the model."""
    global _checked
    # pyinfra hands deploy code a context proxy; the object behind it identifies this run.
    inventory = ctx_inventory.get() if isinstance(inventory, ContextObject) else inventory
    if _checked is None or _checked[0] is not inventory:
        problems = check_inventory(inventory)
        if problems:
            raise PyinfraError(str(InventoryError(problems)))
        _checked = (inventory, Cluster.from_hosts((h.name, h.data.dict()) for h in inventory))
    return _checked[1]
