"""Glue between pyinfra's run and the cluster model."""

from __future__ import annotations

from typing import Any

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ContextObject, ctx_inventory

from kafkaform.cluster import Cluster
from kafkaform.validate import InventoryError, check_inventory

_checked: tuple[Any, bool, Cluster] | None = None


def checked_cluster(inventory: Any, roles: bool = True) -> Cluster:
    """Validate once per run (the deploy file is executed once per host) and build the model.

    ``roles=False`` (deploys/base_box.py) checks the settings but not the ids and roles.
    """
    global _checked
    # pyinfra hands deploy code a context proxy; the object behind it identifies this run.
    inventory = ctx_inventory.get() if isinstance(inventory, ContextObject) else inventory
    if _checked is None or _checked[0] is not inventory or _checked[1] != roles:
        problems = check_inventory(inventory, roles=roles)
        if problems:
            raise PyinfraError(str(InventoryError(problems)))
        cluster = Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)
        _checked = (inventory, roles, cluster)
    return _checked[2]
