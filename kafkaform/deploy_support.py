"""Glue between pyinfra's run and the cluster model."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import gevent
import gevent.lock
from pyinfra.api import FactBase, Host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import StateStage
from pyinfra.context import ContextObject, ctx_host, ctx_inventory, ctx_state

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


class _Once:
    """One key's result; its own lock, so that keys computed at the same time by different
    hosts' greenlets (their facts, say) do not wait for each other."""

    def __init__(self) -> None:
        self.lock = gevent.lock.RLock()
        self.result: tuple[bool, Any] | None = None


# The CLI loads a deploy file for all hosts at once, in greenlets: one computes a key, the
# others wait on its lock and get its result, or its error, rather than doing it again.
_once_lock = gevent.lock.RLock()
_once_results: weakref.WeakKeyDictionary[Any, dict[Hashable, _Once]] = weakref.WeakKeyDictionary()


def once_per_run(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per pyinfra run (its State); every later call gets the same result
    or raises the same error."""
    state = ctx_state.get()
    with _once_lock:
        once = _once_results.setdefault(state, {}).setdefault(key, _Once())
    with once.lock:
        if once.result is None:
            try:
                once.result = (True, compute())
            except Exception as error:
                once.result = (False, error)
    ok, value = once.result
    if not ok:
        raise value
    return value


def prepared_fact(fact: type[FactBase[T]], target: Host | None = None, **arguments: Any) -> T:
    """``target.get_fact(fact, **arguments)`` (default: this host), run once per host and run
    while the deploy files are prepared. pyinfra 3 runs a fact's command again at every call,
    and several tasks ask the same one (the platform, the installed packages, the memory);
    before the first operation runs nothing has changed, so every call would read the same."""
    target = target if target is not None else ctx_host.get()
    if ctx_state.get().current_stage != StateStage.Prepare:
        return target.get_fact(fact, **arguments)  # operations may have changed the answer
    key = ("fact", target.name, fact, repr(sorted(arguments.items())))
    return once_per_run(key, lambda: target.get_fact(fact, **arguments))


def prepared_facts(
    hosts: Iterable[Host],
    fact: type[FactBase[T]],
    arguments: Callable[[Host], dict[str, Any]] = lambda _: {},
) -> dict[str, T]:
    """``prepared_fact`` of each of ``hosts`` (by name), asked of all of them at once: one
    host's answer is not waited for before the next is asked."""

    def ask(target: Host) -> T:
        with ctx_host.use(target):
            return prepared_fact(fact, target, **arguments(target))

    asked = {target.name: gevent.spawn(ask, target) for target in hosts}
    gevent.joinall(list(asked.values()), raise_error=True)
    return {name: greenlet.value for name, greenlet in asked.items()}
