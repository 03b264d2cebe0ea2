"""Ports and addresses: valid types and ranges, no two services of a host on one port, no two
hosts on one address, names other hosts can resolve."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from kafkaform.cluster import Node
from kafkaform.settings import PORT_SETTINGS, SECURE_ONLY_PORTS, serves_secured_ports
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import is_int, shown

UNPRIVILEGED = 1024  # below this a port needs root, and the services do not run as root
# RFC 1123 labels: letters, digits and inner hyphens, 63 at most; 253 in all.
LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
ZOOKEEPER_ADMIN_PORT = 8080  # admin.serverPort's default, when admin.enableServer is on
JMX_REMOTE_RE = re.compile(r"^-Dcom\.sun\.management\.jmxremote\.(rmi\.)?port=(\d+)$")


def serves(node: Node, role: str, bake: bool) -> bool:
    if role == "all" or bake or node.data.get("base_box") is True:
        return True  # a box may become any host
    if role == "kafka":
        return node.kafkaid is not None
    if role == "zookeeper":
        return node.zookeeper
    return node.monitoring


def listening_ports(node: Node, bake: bool = False) -> list[tuple[str, Any]]:
    """(field, port) of everything this host listens on: the port settings of its roles and
    ports opened through properties or JVM options."""
    s = node.settings
    secured = serves_secured_ports(s)
    ports = [
        (key, s[key])
        for key, role in PORT_SETTINGS.items()
        if serves(node, role, bake) and (secured or key not in SECURE_ONLY_PORTS)
    ]
    zk = s["zookeeper_properties"]
    if serves(node, "zookeeper", bake) and isinstance(zk, Mapping):
        if "secureClientPort" in zk:
            ports.append(("zookeeper_properties['secureClientPort']", zk["secureClientPort"]))
        if str(zk.get("admin.enableServer", False)).lower() == "true":
            port = zk.get("admin.serverPort", ZOOKEEPER_ADMIN_PORT)
            ports.append(("zookeeper_properties['admin.serverPort']", port))
    for role, key in (("kafka", "kafka_jvm_opts"), ("zookeeper", "zookeeper_jvm_opts")):
        if serves(node, role, bake) and isinstance(s[key], list):
            for opt in s[key]:
                match = JMX_REMOTE_RE.match(opt) if isinstance(opt, str) else None
                if match:
                    ports.append((f"{key}[{opt.split('=')[0][2:]}]", int(match.group(2))))
    return ports


def check_ports(node: Node, bake: bool = False) -> list[Problem]:
    problems = []
    by_port: dict[int, list[str]] = defaultdict(list)
    for field, port in listening_ports(node, bake):
        if isinstance(port, str) and port.isdigit() and "[" in field:
            port = int(port)  # a property value may be written as a string
        if not is_int(port):
            if "[" in field:  # settings' types are value_types' to report
                problems.append(Problem(node.name, field, f"{shown('', port)} is not a port"))
            continue
        if not 1 <= port <= 65535:
            problems.append(Problem(node.name, field, f"{port} is not a TCP port"))
        elif port < UNPRIVILEGED:
            problems.append(
                Problem(
                    node.name,
                    field,
                    f"{port} is a privileged port (below {UNPRIVILEGED}) and the services do "
                    "not run as root: use a port from 1024 up",
                )
            )
        else:
            by_port[port].append(field)
    for port, fields in by_port.items():
        if len(fields) > 1:
            problems.append(Problem(node.name, ", ".join(fields), f"all use port {port}"))
    return problems


def address_problem(value: Any, advertised: bool) -> str | None:
    """Why ``value`` cannot be a host's address (``advertised``: in Kafka's and ZooKeeper's
    configs too), or None."""
    if not isinstance(value, str):
        return f"expected a host name or an IP address, got {shown('', value)}"
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        ip = None
    if ip is not None:
        if advertised and ip.version == 6:
            return (
                f"{value}: an IPv6 address cannot be advertised (listeners and server.N are "
                "written host:port); use a host name that resolves to it"
            )
        return None
    if len(value) > 253 or not all(LABEL_RE.match(label) for label in value.split(".")):
        return (
            f"{shown('', value)} is not a valid host name (RFC 1123: letters, digits and "
            "inner '-' in dot-separated labels) or IP address"
        )
    return None


def check_address(node: Node, advertised: bool = True) -> list[Problem]:
    """The SSH target, and (``advertised``) the address other hosts and clients are given."""
    problems = []
    ssh = node.data.get("ssh_hostname")
    if ssh is not None and (message := address_problem(ssh, advertised=False)):
        problems.append(Problem(node.name, "ssh_hostname", message))
        return problems
    if not advertised:
        return problems
    chosen = node.settings.get("kafka_advertised_host")
    if chosen is not None:
        if isinstance(chosen, str) and (message := address_problem(chosen, advertised=True)):
            problems.append(Problem(node.name, "kafka_advertised_host", message))
    elif ssh is not None:
        if message := address_problem(ssh, advertised=True):
            problems.append(
                Problem(node.name, "ssh_hostname", f"{message} (or set kafka_advertised_host)")
            )
    elif message := address_problem(node.name, advertised=True):
        problems.append(
            Problem(
                node.name,
                "kafka_advertised_host",
                f"not set, so the host name is advertised, and {message}: set ssh_hostname or "
                "kafka_advertised_host",
            )
        )
    return problems


def check_unique_addresses(nodes: Iterable[Node]) -> list[Problem]:
    """Two inventory hosts on one machine (same SSH target) or one advertised address would
    fight over the same ports and files, and clients could not tell them apart."""
    problems = []
    ssh: dict[tuple[str, str], list[str]] = defaultdict(list)
    advertised: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        hostname = node.data.get("ssh_hostname")
        if isinstance(hostname, str):
            ssh[(hostname.lower(), str(node.data.get("ssh_port", 22)))].append(node.name)
        advertised[node.address.lower()].append(node.name)
    for (hostname, port), names in ssh.items():
        if len(names) > 1:
            where = hostname if port == "22" else f"{hostname} port {port}"
            problems.append(
                Problem(", ".join(names), "ssh_hostname", f"{where} is used by {len(names)} hosts")
            )
    for address, names in advertised.items():
        if len(names) > 1:
            problems.append(
                Problem(
                    ", ".join(names),
                    "kafka_advertised_host",
                    f"{address} is the advertised address of {len(names)} hosts",
                )
            )
    return problems
