"""The host firewall's settings (kafkaform.firewall): sources are IP networks, ports are
ports, and a firewall that nobody could SSH through is refused."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from kafkaform.cluster import Node
from kafkaform.firewall import PROTOCOLS, SOURCE_SETTINGS
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import is_int, shown


def source_problems(name: str, field: str, sources: Any) -> list[Problem]:
    if not isinstance(sources, list):
        return []  # value_types reports the type of a setting; an open port's is below
    problems = []
    for source in sources:
        try:
            if not isinstance(source, str):
                raise TypeError(source)  # ip_network would take a number as an address
            ipaddress.ip_network(source, strict=False)
        except (TypeError, ValueError):
            problems.append(
                Problem(
                    name,
                    field,
                    f"{shown('', source)} is not an IP address or network (CIDR, such as "
                    "10.0.0.0/24): nftables matches addresses, not names",
                )
            )
    return problems


def port_problem(value: Any) -> str | None:
    if not is_int(value) or not 1 <= value <= 65535:
        return f"{shown('', value)} is not a TCP/UDP port"
    return None


def open_port_problems(name: str, index: int, entry: Any) -> list[Problem]:
    field = f"firewall_open_ports[{index}]"
    if not isinstance(entry, Mapping) or not {"port", "sources"} <= entry.keys():
        return [Problem(name, field, "expected {'port', 'protocol' (tcp|udp), 'sources'}")]
    problems = []
    unknown = sorted(set(entry) - {"port", "protocol", "sources"})
    if unknown:
        problems.append(Problem(name, field, f"unknown keys {', '.join(map(str, unknown))}"))
    if message := port_problem(entry["port"]):
        problems.append(Problem(name, f"{field}.port", message))
    if entry.get("protocol", "tcp") not in PROTOCOLS:
        problems.append(Problem(name, f"{field}.protocol", "expected tcp or udp"))
    if not isinstance(entry["sources"], list):
        problems.append(Problem(name, f"{field}.sources", "expected a list of networks"))
    return problems + source_problems(name, f"{field}.sources", entry["sources"])


def check_firewall(node: Node) -> list[Problem]:
    s = node.settings
    problems = []
    for setting in SOURCE_SETTINGS:
        problems += source_problems(node.name, setting, s[setting])
    if isinstance(s["firewall_ssh_ports"], list):
        for port in s["firewall_ssh_ports"]:
            if message := port_problem(port):
                problems.append(Problem(node.name, "firewall_ssh_ports", message))
    if isinstance(s["firewall_open_ports"], list):
        for index, entry in enumerate(s["firewall_open_ports"]):
            problems += open_port_problems(node.name, index, entry)
    if s["firewall"] is True and s["firewall_admin_sources"] == []:
        problems.append(
            Problem(
                node.name,
                "firewall_admin_sources",
                "empty: with the firewall on, nobody could reach SSH (the next deploy "
                "included); name the networks admins and the control machine come from",
            )
        )
    return problems
