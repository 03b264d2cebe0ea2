"""Glue between pyinfra's run and the cluster model."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import gevent.lock
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ContextObject, ctx_inventory, ctx_state

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


T = TypeVar("T")
# The CLI loads a deploy file for all hosts at once, in greenlets: one computes, the others
# wait on this (gevent) lock and get its result, or its error, rather than doing it again.
_once_lock = gevent.lock.RLock()
_once_results: weakref.WeakKeyDictionary[Any, dict[str, tuple[bool, Any]]] = (
    weakref.WeakKeyDictionary()
)


def once_per_run(key: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per pyinfra run (its State); every later call gets the same result
    or raises the same error."""
    state = ctx_state.get()
    with _once_lock:
        results = _once_results.setdefault(state, {})
        if key not in results:
            try:
                results[key] = (True, compute())
            except Exception as error:
                results[key] = (False, error)
    ok, value = results[key]
    if not ok:
        raise value
    return value
