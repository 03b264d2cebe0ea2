"""The cluster model: who runs what, each host's settings, and the config derived from them.

Everything here is pure (no pyinfra state, no network) so that validation and the rendered
configuration can be checked offline and shared by the deploy, the CLI and the tests.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafkaform import security
from kafkaform.derived import Derived
from kafkaform.settings import DEFAULTS
from kafkaform.zookeeper_security import zookeeper_client_port

HEAP_RE = re.compile(r"^[1-9][0-9]*[mMgG]$")
# kafkaid of a host whose broker id is claimed at deploy time (kafkaform.broker_ids).
AUTO_KAFKAID = "auto"


def resolve_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULTS overlaid with a host's data; dict-valued settings merge key by key."""
    resolved = copy.deepcopy(DEFAULTS)
    for key, value in data.items():
        default = DEFAULTS.get(key)
        if isinstance(default, dict) and isinstance(value, Mapping):
            resolved[key] = {**default, **value}
        else:
            resolved[key] = value
    return resolved


@dataclass(frozen=True)
class Node:
    name: str
    data: Mapping[str, Any]
    settings: dict[str, Any] = field(compare=False, repr=False)

    @property
    def zookeeper(self) -> bool:
        return self.data.get("zookeeper") is True

    @property
    def zkid(self) -> int | None:
        return self.data.get("zkid") if self.zookeeper else None

    @property
    def kafkaid(self) -> int | str | None:
        """The broker id; AUTO_KAFKAID until the deploy resolves it (Cluster.with_kafkaids)."""
        return self.data.get("kafkaid")

    @property
    def auto_kafkaid(self) -> bool:
        """Whether the inventory leaves this broker's id to the deploy (``kafkaid: "auto"``)."""
        return self.data.get("kafkaid") == AUTO_KAFKAID

    @property
    def monitoring(self) -> bool:
        return self.data.get("monitoring") is True

    @property
    def roles(self) -> list[str]:
        """What this host runs, for labels: kafka, zookeeper, monitoring."""
        flags = (
            ("kafka", self.kafkaid is not None),
            ("zookeeper", self.zookeeper),
            ("monitoring", self.monitoring),
        )
        return [role for role, on in flags if on]

    @property
    def address(self) -> str:
        """Where other hosts and clients reach this host."""
        return str(
            self.settings.get("kafka_advertised_host") or self.data.get("ssh_hostname") or self.name
        )


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[Node, ...]

    @classmethod
    def from_hosts(cls, hosts: Iterable[tuple[str, Mapping[str, Any]]]) -> Cluster:
        return cls(tuple(Node(name, dict(data), resolve_settings(data)) for name, data in hosts))

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def ensemble(self) -> list[Node]:
        return sorted((n for n in self.nodes if n.zkid is not None), key=lambda n: n.zkid)

    @property
    def brokers(self) -> list[Node]:
        """By broker id; hosts whose id is still "auto" after them, in inventory order."""
        return sorted(
            (n for n in self.nodes if n.kafkaid is not None),
            key=lambda n: (n.auto_kafkaid, n.kafkaid if isinstance(n.kafkaid, int) else 0),
        )

    def with_kafkaids(self, ids: Mapping[str, int]) -> Cluster:
        """This cluster with the broker ids ``ids`` (host name -> id) in place of "auto"."""
        return Cluster(
            tuple(
                Node(n.name, {**n.data, "kafkaid": ids[n.name]}, n.settings) if n.name in ids else n
                for n in self.nodes
            )
        )

    @property
    def monitoring(self) -> list[Node]:
        """Hosts that run Prometheus, Alertmanager, the lag exporter and the log sink."""
        return [n for n in self.nodes if n.monitoring]

    def bootstrap_servers(self) -> str:
        """Every broker's address and port: where clients first reach the cluster."""
        return ",".join(f"{n.address}:{security.client_port(n.settings)}" for n in self.brokers)

    def zookeeper_connect(self, chroot: str | None = None, secure: bool | None = None) -> str:
        """The ensemble's connect string: by default as kafkaform's own clients reach it;
        ``secure`` chooses the TLS port (True) or the plain one (False), as a broker's
        security stage does."""

        def port(n: Node) -> Any:
            if secure is None:
                return zookeeper_client_port(n.settings)
            key = "zookeeper_secure_client_port" if secure else "zookeeper_client_port"
            return n.settings[key]

        return ",".join(f"{n.address}:{port(n)}" for n in self.ensemble) + (chroot or "")

    def replication_defaults(self) -> dict[str, int]:
        """Replication settings the broker count can satisfy: RF up to 3, one replica of slack."""
        rf = min(3, max(1, len(self.brokers)))
        min_isr = max(1, min(2, rf - 1))
        return {
            "default.replication.factor": rf,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
        }

    def broker_properties(self, node: Node) -> dict[str, str]:
        props: dict[str, Any] = {
            "zookeeper.connection.timeout.ms": 18000,
            **self.replication_defaults(),
            "unclean.leader.election.enable": False,
            # A typo in a producer's topic name should fail, not create a topic.
            "auto.create.topics.enable": False,
            "controlled.shutdown.enable": True,
            "num.partitions": 3,
        }
        props.update(node.settings["kafka_properties"])
        props.update(self.derived(kafka_derived_table(node), node))
        return {k: java_value(v) for k, v in props.items()}

    def listener_properties(self, node: Node) -> dict[str, Any]:
        """The listeners of this broker's security stage (kafkaform.security)."""
        stage = security.stage_of(node.settings)
        return security.listener_properties(node.settings, node.address, stage)

    def zookeeper_properties(self, node: Node) -> dict[str, str]:
        props: dict[str, Any] = {
            "tickTime": 2000,
            "initLimit": 10,
            "syncLimit": 5,
            "maxClientCnxns": 60,
            "autopurge.snapRetainCount": 5,
            "autopurge.purgeInterval": 24,
            "4lw.commands.whitelist": "srvr,mntr,ruok",
            # The embedded Jetty admin server would take port 8080 unauthenticated.
            "admin.enableServer": False,
        }
        props.update(node.settings["zookeeper_properties"])
        props.update(self.derived(DERIVED_ZOOKEEPER_PROPERTIES, node))
        return {k: java_value(v) for k, v in props.items()}

    def derived(self, table: Mapping[str, Derived], node: Node) -> dict[str, Any]:
        """The properties ``table`` composes for ``node``; they win over any override (the
        validator refuses such overrides, naming the setting to change instead)."""
        props: dict[str, Any] = {}
        for entry in table.values():
            props.update(entry.compose(self, node))
        return props


# Declared once: composition (above) and validation (kafkaform.validation) both read these.
DERIVED_KAFKA_PROPERTIES: dict[str, Derived] = {
    "broker.id": Derived("kafkaid", lambda c, n: {"broker.id": n.kafkaid}),
    "listeners": Derived(
        "kafka_port / kafka_internal_port / kafka_tls_port (by security level)",
        lambda c, n: {"listeners": c.listener_properties(n)["listeners"]},
    ),
    "advertised.listeners": Derived(
        "kafka_advertised_host / kafka_port / kafka_internal_port / kafka_tls_port",
        lambda c, n: {"advertised.listeners": c.listener_properties(n)["advertised.listeners"]},
    ),
    "log.dirs": Derived(
        "kafka_data_dirs", lambda c, n: {"log.dirs": ",".join(n.settings["kafka_data_dirs"])}
    ),
    "zookeeper.connect": Derived(
        "the zookeeper hosts / zookeeper_chroot",
        lambda c, n: {
            "zookeeper.connect": c.zookeeper_connect(
                n.settings["zookeeper_chroot"], secure=security.stage_of(n.settings).secured
            )
        },
    ),
}


def kafka_derived_table(node: Node) -> dict[str, Derived]:
    """Every broker property kafkaform composes for ``node``: who and where it is, and what
    its security stage adds (kafkaform.security)."""
    return {**DERIVED_KAFKA_PROPERTIES, **security.derived_properties(node.settings)}


DERIVED_ZOOKEEPER_PROPERTIES: dict[str, Derived] = {
    "dataDir": Derived(
        "zookeeper_data_dir", lambda c, n: {"dataDir": n.settings["zookeeper_data_dir"]}
    ),
    # Transaction log on its own directory (ideally its own disk): fsync latency.
    "dataLogDir": Derived(
        "zookeeper_datalog_dir", lambda c, n: {"dataLogDir": n.settings["zookeeper_datalog_dir"]}
    ),
    "clientPort": Derived(
        "zookeeper_client_port", lambda c, n: {"clientPort": n.settings["zookeeper_client_port"]}
    ),
    "server.N": Derived(
        "the ensemble (zookeeper / zkid and the peer and election ports of each host)",
        lambda c, n: {
            f"server.{peer.zkid}": f"{peer.address}:{peer.settings['zookeeper_peer_port']}:"
            f"{peer.settings['zookeeper_election_port']}"
            for peer in c.ensemble
        },
        family=r"server\.\d+",
    ),
}


def java_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(java_value(v) for v in value)
    return str(value)


def heap_for(role: str, memory_mb: int | None, configured: str | None) -> str:
    """JVM heap: the configured value, else a share of RAM that leaves the rest to page cache.

    Kafka serves reads from the page cache, so its heap stays small (a quarter of RAM, capped
    at 6 GiB as is usual for brokers); ZooKeeper needs less still (an eighth, up to 2 GiB).
    The heap is part of the unit, so it must not follow MemTotal's small moves (a kernel
    update reserving a few MB more would roll every broker): RAM is counted in whole GiB,
    rounded to the nearest (MemTotal sits a few percent below the machine's nominal size,
    far from a half-GiB boundary), and the share is rounded down to a multiple of 256 MiB.
    """
    if configured:
        return str(configured)
    share, floor, cap = {"kafka": (4, 256, 6144), "zookeeper": (8, 256, 2048)}[role]
    step = 256  # MiB
    ram_gib = max(1, round((memory_mb or 1024) / 1024))
    mb = ram_gib * 1024 // share // step * step
    return f"{max(floor, min(cap, mb))}m"


def ensemble_size(hosts: int) -> int:
    """ZooKeeper servers for a planned cluster of ``hosts``: always odd, at most five."""
    if hosts < 1:
        raise ValueError(f"a cluster needs at least one host, got {hosts}")
    if hosts < 3:
        return 1
    if hosts < 5:
        return 3
    return 5


def planned_roles(index: int, hosts: int) -> dict[str, Any]:
    """Role data of host number ``index`` (1-based) of ``hosts`` in a planned cluster (the lab,
    the dev nodes): broker id = index; ZooKeeper, with zkid = index, on the first 1, 3 or 5."""
    if not 1 <= index <= hosts:
        raise ValueError(f"host {index} is outside 1..{hosts}")
    roles: dict[str, Any] = {"kafkaid": index}
    if index <= ensemble_size(hosts):
        roles.update(zookeeper=True, zkid=index)
    return roles
