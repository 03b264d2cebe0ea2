"""The inventory as a whole: values that must agree on every host, and settings that cannot
take effect in this inventory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from kafkaform.cluster import Node
from kafkaform.settings import MONITORING_ONLY_SETTINGS
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import shown

# Settings that must be the same on every host of a role; per host they would split or break
# the cluster rather than tune one host:
# - kafka_version, scala_version: one distribution for the cluster; a per-host version is a
#   half-done upgrade (version changes go through the roll, host by host, from one value).
# - cluster_name: the label every series and alert carries; two names are two dashboards.
# - zookeeper_chroot: brokers with different chroots form separate clusters in one ensemble.
# - zookeeper_peer_port / zookeeper_election_port: every member writes the whole ensemble's
#   server.N lines; a per-host value is an edit that members apply at different times in a
#   roll, and members with different views of the ensemble cannot form a quorum.
# Deliberately per host: kafka_port and zookeeper_client_port (each host's own is written
# wherever it is used), paths, heaps and users (hosts may differ in disks and memory).
CLUSTER_WIDE: dict[str, str] = {
    "kafka_version": "all",
    "scala_version": "all",
    "cluster_name": "all",
    "zookeeper_chroot": "kafka",
    "zookeeper_peer_port": "zookeeper",
    "zookeeper_election_port": "zookeeper",
    "kafka_upgrade_hold_protocol": "kafka",
    "security": "all",  # a rollout plans one step for the whole cluster from it
    "kafka_plaintext_listener": "all",
    "kafka_topics": "kafka",  # one list for the cluster: the broker that applies it may be any
    "kafka_topics_reassign_throttle": "kafka",
}
ROLE_NAMES = {"all": "host", "kafka": "broker", "zookeeper": "ZooKeeper server"}


def has_role(node: Node, role: str) -> bool:
    if role == "kafka":
        return node.kafkaid is not None
    if role == "zookeeper":
        return node.zookeeper
    return True


def check_cluster_wide(nodes: Iterable[Node]) -> list[Problem]:
    problems = []
    for key, role in CLUSTER_WIDE.items():
        hosts_by_value: dict[str, list[str]] = defaultdict(list)
        for node in nodes:
            if has_role(node, role):
                hosts_by_value[shown(key, node.settings[key])].append(node.name)
        if len(hosts_by_value) > 1:
            detail = "; ".join(f"{v} on {', '.join(h)}" for v, h in hosts_by_value.items())
            problems.append(
                Problem(
                    ", ".join(h for hosts in hosts_by_value.values() for h in hosts),
                    key,
                    f"must be the same on every {ROLE_NAMES[role]}: {detail}",
                )
            )
    return problems


def check_ineffective(
    nodes: Iterable[Node],
    sources: Mapping[str, Mapping[Any, Any]],
    group_hosts: Mapping[str, Iterable[str]] | None,
) -> list[Problem]:
    """Warnings: monitoring settings with no monitoring host; group data no host reads.

    ``sources`` maps where data was written (a group_data file or a host) to that data.
    """
    problems = []
    if not any(node.monitoring for node in nodes):
        for where, data in sources.items():
            for key in MONITORING_ONLY_SETTINGS:
                if key in data:
                    problems.append(
                        Problem(
                            where,
                            key,
                            "no host has monitoring: True, so nothing uses this setting",
                            warning=True,
                        )
                    )
    for group, hosts in (group_hosts or {}).items():
        data = sources.get(f"group_data/{group}.py")
        if group != "all" and data and not list(hosts):
            problems.append(
                Problem(
                    f"group_data/{group}.py",
                    "group",
                    f"no host of this inventory is in group '{group}': its data is not used",
                    warning=True,
                )
            )
    return problems
