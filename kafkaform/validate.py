"""Inventory validation: every problem at once, each naming the host and the field.

Runs offline (no host is contacted): ``kafkaform validate INVENTORY`` and, before any
operation is queued, ``deploys/kafka.py``. The checks live in ``kafkaform.validation``, one
module per category; this module runs them all and reports.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from kafkaform.cluster import Cluster, Node
from kafkaform.validation import (
    consistency,
    jvm,
    keys,
    network,
    observability,
    paths,
    properties,
    releases,
    roles,
    shell,
    tls,
    topics,
    users,
    value_types,
)
from kafkaform.validation.problems import InventoryError, Problem, merge_across_hosts

__all__ = [
    "InventoryError",
    "Problem",
    "add_cli",
    "check",
    "check_inventory",
    "findings",
    "load_inventory",
    "run",
]

# Checks of one host's settings, in the order their problems are listed.
NODE_CHECKS: tuple[Callable[[Node], list[Problem]], ...] = (
    value_types.check_types,
    paths.check_paths,
    users.check_users,
    releases.check_versions,
    releases.check_checksums,
    releases.check_urls,
    jvm.check_heaps,
    jvm.check_jvm_opts,
    shell.check_sysctl,
    shell.check_flags,
    shell.check_words,
    properties.check_properties,
    observability.check_observability,
    topics.check_topics,
    tls.check_tls,
)
ID_FIELDS = {"zkid", "kafkaid", "zookeeper"}


def guarded(where: str, check: Callable[..., list[Problem]], *args: Any) -> list[Problem]:
    """Run one check; a value of a shape no check foresaw is reported, never a traceback."""
    try:
        return check(*args)
    except Exception as error:  # a bug in a check must not hide the other problems
        return [
            Problem(
                where,
                check.__name__.removeprefix("check_"),
                f"could not be checked ({type(error).__name__}): please report this",
            )
        ]


def findings(
    hosts: Iterable[tuple[str, Mapping[str, Any]]],
    groups: Mapping[str, Mapping[str, Any]] | None = None,
    host_only: Mapping[str, Mapping[str, Any]] | None = None,
    roles_too: bool = True,
    group_hosts: Mapping[str, Iterable[str]] | None = None,
) -> list[Problem]:
    """Every problem and warning; see :func:`check`."""
    cluster = Cluster.from_hosts(hosts)
    problems: list[Problem] = []
    sources: dict[str, Mapping[Any, Any]] = {}
    for group, data in (groups or {}).items():
        sources[f"group_data/{group}.py"] = data
        problems += keys.unknown_keys(f"group_data/{group}.py", data)
    for node in cluster.nodes:
        source = (host_only or {}).get(node.name, node.data if groups is None else {})
        sources[node.name] = source
        problems += keys.unknown_keys(node.name, source)
        problems += guarded(node.name, roles.check_roles, node) if roles_too else []
        for check_node in NODE_CHECKS:
            problems += guarded(node.name, check_node, node)
        problems += guarded(node.name, network.check_ports, node, not roles_too)
        problems += guarded(node.name, network.check_address, node, roles_too)
    if roles_too:
        problems += roles.check_unique(cluster.nodes, "zkid")
        problems += roles.check_unique(cluster.nodes, "kafkaid")
        problems += guarded("inventory", network.check_unique_addresses, cluster.nodes)
        problems += guarded("inventory", consistency.check_cluster_wide, cluster.nodes)
        problems += guarded("inventory", tls.check_certificate_hosts, cluster.nodes)
        if not any(p.field in ID_FIELDS for p in problems):
            problems += roles.check_shape(cluster)
            for node in cluster.brokers:
                problems += guarded(node.name, properties.check_broker_properties, cluster, node)
                problems += guarded(node.name, topics.check_topic_replication, cluster, node)
        problems += consistency.check_ineffective(cluster.nodes, sources, group_hosts)
    return merge_across_hosts(problems)


def check(
    hosts: Iterable[tuple[str, Mapping[str, Any]]],
    groups: Mapping[str, Mapping[str, Any]] | None = None,
    host_only: Mapping[str, Mapping[str, Any]] | None = None,
    roles: bool = True,
    group_hosts: Mapping[str, Iterable[str]] | None = None,
) -> list[Problem]:
    """The errors in resolved host data; ``groups``/``host_only`` name where keys came from,
    ``group_hosts`` which hosts each group has. Warnings are left out (see :func:`findings`).

    ``roles=False`` checks settings only: a box bake runs on hosts that have no ids yet.
    """
    found = findings(hosts, groups, host_only, roles, group_hosts)
    return [p for p in found if not p.warning]


def inventory_findings(inventory: Any, roles: bool = True) -> list[Problem]:
    """Every problem and warning of a pyinfra ``Inventory`` (as built by the CLI or the deploy)."""
    hosts = [(host.name, host.data.dict()) for host in inventory]
    # group_data/all.py lands in the inventory's base data, the other groups by name (a
    # group_data file whose group no host is in becomes a group without hosts).
    groups = {"all": dict(inventory.get_data())}
    groups.update({name: dict(inventory.get_group_data(name)) for name in inventory.group_data})
    members = {name: [h.name for h in inventory.groups.get(name, [])] for name in groups}
    host_only = {host.name: dict(inventory.get_host_data(host.name)) for host in inventory}
    return findings(hosts, groups, host_only, roles, members)


def check_inventory(inventory: Any, roles: bool = True) -> list[Problem]:
    """The errors of a pyinfra ``Inventory``; its warnings go to pyinfra's log."""
    found = inventory_findings(inventory, roles)
    for warning in (p for p in found if p.warning):
        logging.getLogger("pyinfra").warning(f"inventory: {warning}")
    return [p for p in found if not p.warning]


def load_inventory(path: str) -> Any:
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    if not Path(path).exists():
        raise FileNotFoundError(f"no inventory file at {path}")
    # Inventory files are executed the way the pyinfra CLI does it, which needs a state.
    with ctx_state.use(State()):
        return make_inventory(path, cwd=os.getcwd())


class UnusableInventory(Exception):
    """An inventory a command cannot work from: it does not load, or it has errors."""


def load_cluster(path: str) -> tuple[Any, Cluster]:
    """For the commands that read a live cluster: the inventory and its cluster, or
    UnusableInventory naming the file and every error (its warnings are the deploy's and
    `kafkaform validate`'s to say)."""
    try:
        inventory = load_inventory(path)
    except Exception as error:  # the inventory file is user code: report, don't trace
        cause = getattr(error, "exception", error)  # pyinfra wraps errors raised in the file
        raise UnusableInventory(f"{path}: cannot load the inventory: {cause}") from None
    errors = [p for p in inventory_findings(inventory) if not p.warning]
    if errors:
        raise UnusableInventory(f"{path}: {InventoryError(errors)}")
    return inventory, Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)


def run(args: argparse.Namespace) -> int:
    try:
        inventory = load_inventory(args.inventory)
    except Exception as error:  # the inventory file is user code: report, don't trace
        cause = getattr(error, "exception", error)  # pyinfra wraps errors raised in the file
        print(f"{args.inventory}: cannot load the inventory: {cause}")
        return 2
    found = inventory_findings(inventory)
    errors = [p for p in found if not p.warning]
    warnings = [p for p in found if p.warning]
    if warnings:
        lines = "\n".join(f"  - {p}" for p in warnings)
        print(f"{len(warnings)} warning(s), settings that cannot take effect:\n{lines}")
    if errors:
        print(InventoryError(errors))
        return 1
    print(f"{args.inventory}: OK")
    return 0


def add_cli(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check an inventory offline (no host is contacted)",
        description="Check an inventory offline; every problem is listed with its host and field.",
    )
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/prod.py")
    parser.set_defaults(func=run)
