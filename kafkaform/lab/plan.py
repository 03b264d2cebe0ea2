"""The lab's plan, pure: host names and addresses, the files each host gets, inventory data.

Nothing here touches this machine, so it is shared by the lab commands, ``inventories/lab.py``
and the offline tests.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from kafkaform.cluster import planned_roles
from kafkaform.hostops import HostError
from kafkaform.local_hosts import LAB_MIRROR_PORT, SMALL_HEAPS, security_level

State = dict[str, Any]

BRIDGE = "kf-br0"
GATEWAY = "10.213.0.1"
PREFIX = 24
SUBNET = "10.213.0.0/24"
FIRST_OCTET = 10  # kafka-i gets 10.213.0.(10+i)
MAX_NODES = 244  # keeps the last address at .254
NODE_PREFIX = "kafka-"
MIRROR_URL = f"http://{GATEWAY}:{LAB_MIRROR_PORT}"
# The opt-in monitoring host (`lab up --monitoring`): Prometheus, Alertmanager, the log sink.
MONITOR_NAME = "monitor"
MONITOR_IP = "10.213.0.10"  # just below kafka-1


class LabError(HostError):
    """A lab problem with a message a person can act on."""


def node_name(index: int) -> str:
    return f"{NODE_PREFIX}{index}"


def node_index(name: str) -> int:
    match = re.fullmatch(rf"{NODE_PREFIX}([1-9][0-9]*)", name)
    if not match or int(match.group(1)) > MAX_NODES:
        raise LabError(f"{name!r} is not a lab node name (kafka-1 .. kafka-{MAX_NODES})")
    return int(match.group(1))


def node_ip(index: int) -> str:
    if not 1 <= index <= MAX_NODES:
        raise ValueError(f"node index {index} is outside 1..{MAX_NODES}")
    return str(ipaddress.ip_network(SUBNET)[FIRST_OCTET + index])


def with_nodes(state: State, count: int, monitoring: bool = False) -> State:
    """The state listing nodes kafka-1..kafka-max(count, existing), then the monitoring host
    if asked for now or before; known pids are kept."""
    known = {node["name"]: node for node in state["nodes"]}
    highest = max([count, *(node_index(name) for name in known if name != MONITOR_NAME)])
    nodes = [
        known.get(node_name(i), {"name": node_name(i), "ip": node_ip(i), "pid": None})
        for i in range(1, highest + 1)
    ]
    if monitoring or MONITOR_NAME in known:
        fresh = {"name": MONITOR_NAME, "ip": MONITOR_IP, "pid": None, "monitoring": True}
        nodes.append(known.get(MONITOR_NAME, fresh))
    return {**state, "nodes": nodes}


def kafka_nodes(state: State) -> list[dict[str, Any]]:
    """The broker hosts kafka-1..N, in order (not the monitoring host)."""
    nodes = [node for node in state["nodes"] if not node.get("monitoring")]
    return sorted(nodes, key=lambda node: node_index(node["name"]))


def find_node(state: State, name: str) -> dict[str, Any]:
    for node in state["nodes"]:
        if node["name"] == name:
            return node
    names = ", ".join(node["name"] for node in state["nodes"]) or "none"
    raise LabError(f"the lab has no node {name!r} (nodes: {names})")


def hosts_file(nodes: list[Mapping[str, Any]]) -> str:
    # Each name maps to its lab address (not 127.0.1.1) so ZooKeeper and Kafka bind and
    # advertise an address the other hosts can reach.
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{node['ip']}\t{node['name']}" for node in nodes]
    return "\n".join(lines) + "\n"


def network_file(ip: str, dns: list[str]) -> str:
    lines = [
        "[Match]",
        "Name=host0",
        "",
        "[Network]",
        f"Address={ip}/{PREFIX}",
        f"Gateway={GATEWAY}",
        *(f"DNS={server}" for server in dns),
        "LinkLocalAddressing=no",
        "IPv6AcceptRA=no",
    ]
    return "\n".join(lines) + "\n"


def resolv_conf(dns: list[str]) -> str:
    return "".join(f"nameserver {server}\n" for server in dns)


def inventory_hosts(state: State) -> list[tuple[str, dict[str, Any]]]:
    """pyinfra hosts for the lab: every node a broker, ZooKeeper on the first 1, 3 or 5
    (kafkaform.cluster.planned_roles), then the monitoring host."""
    nodes = kafka_nodes(state)
    ssh = {
        "ssh_user": "root",
        "ssh_key": state["ssh_key"],
        "ssh_known_hosts_file": state["known_hosts"],
        "ssh_strict_host_key_checking": "accept-new",
    }
    hosts = []
    for node in nodes:
        roles = planned_roles(node_index(node["name"]), len(nodes))
        hosts.append((node["name"], {"ssh_hostname": node["ip"], **ssh, **roles}))
    for node in state["nodes"]:
        if node.get("monitoring"):
            hosts.append((node["name"], {"ssh_hostname": node["ip"], **ssh, "monitoring": True}))
    return hosts


LAB_ALERT_FOR = (
    "broker_down",
    "under_replicated",
    "under_min_isr",
    "offline_partitions",
    "active_controller",
    "zookeeper_not_serving",
    "zookeeper_quorum",
    "host_down",
    "consumer_lag",
)


def inventory_group_data(state: State) -> dict[str, Any]:
    return {
        "kafka_mirror": state["mirror_url"].rstrip("/") + "/kafka",
        **SMALL_HEAPS,  # the lab's hosts share this machine's memory
        # The JMX exporter jar from the lab's Maven-layout mirror (kafkaform.artifacts).
        "maven_mirror": state["mirror_url"].rstrip("/") + "/maven2",
        # Quick scrapes and short `for:` so a crash alerts within a test's patience.
        "prometheus_scrape_interval": "5s",
        "prometheus_evaluation_interval": "5s",
        "alert_for": {key: "15s" for key in LAB_ALERT_FOR},
        "alertmanager_route": {"group_wait": "5s", "group_interval": "10s"},
        # The lab's root filesystems are overlays, which node_exporter skips by default.
        "node_exporter_flags": [
            "--collector.filesystem.fs-types-exclude=^(autofs|proc|sysfs|tmpfs|devpts|cgroup2?)$"
        ],
        "lag_exporter_interval_seconds": 5,
        **security_level(),
    }
