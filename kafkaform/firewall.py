"""The host firewall's rules: which port of a host is open to whom (nftables, pure).

Each host gets one table of kafkaform's own, ``table inet kafkaform``, whose input chain drops
what it does not accept: established and related traffic, loopback, ICMP, SSH from the admin
sources, and each port the host's roles listen on from the hosts or networks that use it.
Output is left open, and no other table (Docker's, the site's) is touched.

The ports are the port settings (kafkaform.settings.PORT_SETTINGS, as the validator lists a
host's ports); this module only says who reaches each. Kafka's ports follow the broker's own
listeners: a listener that carries inter-broker traffic beside others is for the brokers
alone, and a single listener (a plaintext cluster) serves the brokers and the clients both.

Addresses: nftables matches IP addresses, so inventory host names are resolved on the control
machine at deploy time (deploys/tasks/firewall.py) and passed in as ``addresses``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafkaform.cluster import Cluster, Node
from kafkaform.settings import PORT_SETTINGS
from kafkaform.templating import render
from kafkaform.validation.network import listening_ports

TABLE = "kafkaform"  # nft: table inet kafkaform
MARKER = "kafkaform-ruleset"  # the comment that carries the digest of the loaded rules
TEMPLATE = "firewall/kafkaform.nft.j2"
SOURCE_SETTINGS = (
    "firewall_admin_sources",
    "firewall_client_sources",
    "firewall_control_sources",
    "firewall_scrape_sources",
)
PROTOCOLS = ("tcp", "udp")

# Who reaches each port setting (besides Kafka's listener ports, see kafka_listener_ports):
# groups of inventory hosts, or the firewall_*_sources settings (see audiences).
AUDIENCE: dict[str, tuple[str, ...]] = {
    "zookeeper_client_port": ("brokers", "ensemble", "control"),
    "zookeeper_secure_client_port": ("brokers", "ensemble", "control"),
    "zookeeper_peer_port": ("ensemble",),
    "zookeeper_election_port": ("ensemble",),
    "kafka_jmx_exporter_port": ("scrapers",),
    "zookeeper_jmx_exporter_port": ("scrapers",),
    "node_exporter_port": ("scrapers",),
    "lag_exporter_port": ("scrapers",),
    # Each Prometheus scrapes every monitoring host's Prometheus and Alertmanager and sends
    # its alerts to every Alertmanager.
    "prometheus_port": ("admin", "scrapers"),
    "alertmanager_port": ("admin", "scrapers"),
    "alertmanager_cluster_port": ("monitoring",),
    "log_sink_port": ("hosts",),
}
KAFKA_PORT_SETTINGS = tuple(k for k, role in PORT_SETTINGS.items() if k not in AUDIENCE)
INTER_BROKER = ("brokers",)
KAFKA_CLIENTS = ("clients", "control", "brokers", "monitoring")  # monitoring: lag exporter
OTHER = ("admin",)  # ports opened through properties or JVM options (JMX remote, admin server)
# Alertmanager's cluster gossip (memberlist) uses the port over TCP and UDP.
UDP_TOO = ("alertmanager_cluster_port",)


@dataclass(frozen=True)
class Rule:
    why: str  # what the port is, as the rendered comment says
    protocol: str  # "tcp" | "udp"
    ports: tuple[int, ...]
    sources: tuple[str, ...]  # addresses and networks; ANYWHERE: any

    @property
    def v4(self) -> list[str]:
        return collapsed(self.sources, 4)

    @property
    def v6(self) -> list[str]:
        return collapsed(self.sources, 6)

    @property
    def anywhere(self) -> bool:
        return self.v4 == ["0.0.0.0/0"] and self.v6 == ["::/0"]

    def accepts(self, address: str, port: int, protocol: str = "tcp") -> bool:
        ip = ipaddress.ip_address(address)
        return (
            protocol == self.protocol
            and port in self.ports
            and any(ip in ipaddress.ip_network(s, strict=False) for s in self.sources)
        )


@dataclass(frozen=True)
class Closed:
    """A port the host listens on that no source may reach, said in the file."""

    why: str
    reason: str


@dataclass(frozen=True)
class Leaving:
    """Hosts that still take part while a run changes the cluster (a ZooKeeper server being
    removed, a broker being retired): their addresses keep the peers' ports until it ends."""

    brokers: tuple[str, ...] = ()
    ensemble: tuple[str, ...] = ()


def collapsed(sources: Iterable[str], version: int) -> list[str]:
    """The ``version`` (4 or 6) sources without those inside another (nftables refuses
    overlapping intervals in a set: a client network that holds a broker's address), single
    addresses written plain."""
    networks = {ipaddress.ip_network(s, strict=False) for s in sources}
    kept = [
        n
        for n in networks
        if n.version == version
        and not any(n != o and n.subnet_of(o) for o in networks if o.version == version)
    ]
    return [
        str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in sorted(kept)
    ]


def kafka_listener_ports(props: Mapping[str, str]) -> dict[int, bool]:
    """Port -> whether it is for the brokers alone, from a broker's composed properties.

    The listener named by inter.broker.listener.name (else the one named after
    security.inter.broker.protocol) or control.plane.listener.name is the brokers' when the
    broker has other listeners too; a lone listener serves clients as well."""
    listeners = {}
    for entry in filter(None, (e.strip() for e in props.get("listeners", "").split(","))):
        name, _, where = entry.partition("://")
        listeners[name.upper()] = int(where.rsplit(":", 1)[1])
    inter = props.get("inter.broker.listener.name") or props.get(
        "security.inter.broker.protocol", "PLAINTEXT"
    )
    internal = {inter.upper(), str(props.get("control.plane.listener.name", "")).upper()}
    shared = not set(listeners) - internal
    return {port: not shared and name in internal for name, port in listeners.items()}


def source_list(node: Node, setting: str) -> tuple[str, ...]:
    return tuple(str(s) for s in node.settings[setting])


def audiences(
    cluster: Cluster, node: Node, addresses: Mapping[str, Sequence[str]], leaving: Leaving
) -> dict[str, tuple[str, ...]]:
    """The sources each audience name stands for, on ``node``."""

    def of(nodes: Iterable[Node]) -> tuple[str, ...]:
        return tuple(a for n in nodes for a in addresses[n.name])

    monitoring = of(cluster.monitoring)
    return {
        "hosts": of(cluster.nodes),
        "brokers": of(cluster.brokers) + leaving.brokers,
        "ensemble": of(cluster.ensemble) + leaving.ensemble,
        "monitoring": monitoring,
        "scrapers": monitoring + source_list(node, "firewall_scrape_sources"),
        "admin": source_list(node, "firewall_admin_sources"),
        "clients": source_list(node, "firewall_client_sources"),
        "control": source_list(node, "firewall_control_sources"),
    }


def union(groups: Mapping[str, tuple[str, ...]], names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for name in names for a in groups[name]))


def ssh_ports(node: Node) -> tuple[int, ...]:
    return tuple(node.settings["firewall_ssh_ports"]) or (int(node.data.get("ssh_port", 22)),)


def host_rules(
    cluster: Cluster,
    node: Node,
    addresses: Mapping[str, Sequence[str]],
    leaving: Leaving = Leaving(),
    broker_properties: Mapping[str, str] | None = None,
) -> tuple[list[Rule], list[Closed]]:
    """``node``'s accepted ports, SSH first, and the ports it listens on that stay closed.
    ``addresses``: each inventory host's IP addresses; ``broker_properties``: the broker's
    composed properties (default: the cluster's)."""
    groups = audiences(cluster, node, addresses, leaving)
    rules = [Rule("ssh", "tcp", ssh_ports(node), groups["admin"])]
    closed: list[Closed] = []

    def add(why: str, port: int, names: tuple[str, ...], protocols: Sequence[str]) -> None:
        sources = union(groups, names)
        if not sources:
            closed.append(Closed(why, f"no source: nobody in {', '.join(names)}"))
        for protocol in protocols if sources else ():
            rules.append(Rule(why, protocol, (port,), sources))

    kafka: dict[int, bool] = {}
    if node.kafkaid is not None:
        props = broker_properties or cluster.broker_properties(node)
        kafka = kafka_listener_ports(props)
    for field, port in listening_ports(node):
        why = f"{field} {port}"
        if field in KAFKA_PORT_SETTINGS:
            if port in kafka:
                add(why, int(port), INTER_BROKER if kafka.pop(port) else KAFKA_CLIENTS, ["tcp"])
        elif field in AUDIENCE:
            add(why, int(port), AUDIENCE[field], PROTOCOLS if field in UDP_TOO else ["tcp"])
        else:
            add(why, int(port), OTHER, ["tcp"])
    for port, internal in kafka.items():  # a listener on a port no setting names
        add(f"kafka listener {port}", port, INTER_BROKER if internal else KAFKA_CLIENTS, ["tcp"])
    for extra in node.settings["firewall_open_ports"]:
        rules.append(
            Rule(
                f"firewall_open_ports {extra['port']}",
                extra.get("protocol", "tcp"),
                (int(extra["port"]),),
                tuple(str(s) for s in extra["sources"]),
            )
        )
    return rules, closed


def accepted(rules: Iterable[Rule], address: str, port: int, protocol: str = "tcp") -> bool:
    """Whether a new connection from ``address`` to ``port`` passes these rules."""
    return any(rule.accepts(address, port, protocol) for rule in rules)


def ruleset(host: str, rules: Sequence[Rule], closed: Sequence[Closed] = ()) -> str:
    """The nft file: our table created (if missing), deleted and written whole, in one
    transaction (``nft -f``); its last rule's comment carries the digest of the rest, which
    tells a deploy whether the live table is this one."""
    variables: dict[str, Any] = {
        "host": host,
        "table": TABLE,
        "rules": rules,
        "closed": closed,
        "marker": MARKER,
    }
    digest = hashlib.sha256(render(TEMPLATE, digest="", **variables).encode()).hexdigest()
    return render(TEMPLATE, digest=digest[:16], **variables)


def digest_of(text: str) -> str | None:
    """The digest a ruleset file (or ``nft list table`` output) carries."""
    for line in text.splitlines():
        if f'"{MARKER} ' in line:
            return line.split(f'"{MARKER} ', 1)[1].split('"', 1)[0].split(":")[0]
    return None
