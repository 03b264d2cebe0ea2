"""Broker identity on live hosts: ``kafkaid: "auto"`` resolved, data volumes checked.

Pure: the hosts' states are facts.live.LiveState's, ZooKeeper's view is a ``Registry`` read
by kafkaform.broker_claims, which also writes the claims this module decides on.

An "auto" host keeps, in this order: the id its data names (meta.properties, or the
server.properties an earlier run wrote), the id ZooKeeper's claims give its inventory name,
the id of the broker registered from its address, else the lowest free id. An id is free
when no other inventory host has it (set, recorded on its disk, or claimed) and no broker is
registered with it from another address. A claim whose host left the inventory, and whose
broker is not registered, is free: the host is gone, and a new host takes its id, and so its
partitions. A registered broker is never taken over.

A volume kept from an earlier machine is adopted (its files given to this host's kafka
account) before the broker first starts on it. A volume is refused, before any change, when
its meta.properties names another cluster than ZooKeeper's, or (for "auto" hosts) a broker id
that belongs to another host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kafkaform.cluster import Cluster, Node
from kafkaform.live import State, broker_metas, kafka_identity_problems, live_broker_id
from kafkaform.validate import Problem

CLAIMS_DIR = "kafkaform/broker-ids"  # under the Kafka chroot: ids are per Kafka cluster


def claims_path(chroot: str) -> str:
    """The znode whose children are the claimed ids (``<chroot>/kafkaform/broker-ids``)."""
    return f"{chroot.rstrip('/')}/{CLAIMS_DIR}"


@dataclass(frozen=True)
class Registry:
    """What ZooKeeper says about broker ids (all empty when no ZooKeeper runs yet)."""

    cluster_id: str | None = None  # <chroot>/cluster/id
    registered: Mapping[int, str] = field(default_factory=dict)  # id -> advertised host
    claims: Mapping[int, str] = field(default_factory=dict)  # id -> claiming host's name


@dataclass
class Assignment:
    ids: dict[str, int] = field(default_factory=dict)  # "auto" host -> its broker id
    claims: dict[int, str] = field(default_factory=dict)  # claims to write: id -> host
    sources: dict[str, str] = field(default_factory=dict)  # host -> where its id came from
    problems: list[Problem] = field(default_factory=list)


def recorded_id(node: Node, state: State | None) -> int | None:
    """The broker id the host's disk names: a meta.properties in its live log dirs or in the
    inventory's (a volume attached to a new machine), else its server.properties."""
    if state is None:
        return None
    paths = [*state["kafka"]["log_dirs"], *node.settings["kafka_data_dirs"]]
    metas = [m["broker.id"] for m in broker_metas(state, paths).values() if m.get("broker.id")]
    found = metas[0] if metas else live_broker_id(state)
    return int(found) if found is not None and found.isdigit() else None


def assign_ids(cluster: Cluster, states: Mapping[str, State], registry: Registry) -> Assignment:
    """Each "auto" host's broker id, in inventory order; ``states``: the hosts read this run."""
    names = {n.name for n in cluster.nodes}
    addresses = {n.address: n.name for n in cluster.nodes}
    holders: dict[int, str] = {}  # id -> inventory host that has it
    recorded: dict[int, list[str]] = {}  # id -> "auto" hosts whose data names it
    for node in cluster.nodes:
        if isinstance(node.kafkaid, int):
            holders[node.kafkaid] = node.name
        elif node.auto_kafkaid and (found := recorded_id(node, states.get(node.name))) is not None:
            recorded.setdefault(found, []).append(node.name)
    shared: dict[int, list[str]] = {}  # ids the data of several hosts names, no owner known
    for broker, hosts in recorded.items():
        running = addresses.get(registry.registered.get(broker, ""))
        if len(hosts) == 1 or running in hosts:
            holders.setdefault(broker, hosts[0] if len(hosts) == 1 else str(running))
        else:
            shared[broker] = hosts
    for broker, owner in registry.claims.items():
        if owner in names:
            holders.setdefault(broker, owner)
    result = Assignment()

    def taken(broker: int, node: Node) -> str | None:
        """Why ``broker`` is not ``node``'s to take, or None."""
        holder = holders.get(broker)
        if holder is not None and holder != node.name:
            return f"host {holder} has it"
        others = [name for name in shared.get(broker, []) if name != node.name]
        if others:
            return f"the data of {', '.join(others)} names it too"
        address = registry.registered.get(broker)
        if address is not None and address != node.address:
            host = addresses.get(address)
            return f"a broker registered from {address}" + (f" ({host})" if host else "") + " runs"
        return None

    lingering = sorted(b for b, a in registry.registered.items() if a not in addresses)
    for node in cluster.nodes:
        if not node.auto_kafkaid:
            continue
        found = recorded_id(node, states.get(node.name))
        mine = sorted(b for b, owner in registry.claims.items() if owner == node.name)
        if found is not None:
            broker, source = found, "its data"
        elif mine:
            broker, source = mine[0], "its claim in ZooKeeper"
        elif running := [b for b, a in sorted(registry.registered.items()) if a == node.address]:
            broker, source = running[0], "the broker registered from its address"
        elif node.name not in states:
            result.problems.append(
                Problem(
                    node.name,
                    "kafkaid",
                    '"auto": this host was left out of the run (--limit) and ZooKeeper holds '
                    "no claim for it, so its broker id is unknown; run once with it included.",
                )
            )
            continue
        elif lingering:
            result.problems.append(
                Problem(
                    node.name,
                    "kafkaid",
                    f'"auto" needs a free broker id, but broker(s) {lingering} are registered '
                    "in ZooKeeper from hosts that are not in the inventory: a host that died "
                    "keeps its registration until its session expires "
                    "(zookeeper.session.timeout.ms), and a running one must not lose its id. "
                    "Run again once they are gone, or add those hosts to the inventory.",
                )
            )
            continue
        else:
            broker = 1
            while taken(broker, node) is not None:
                broker += 1
            source = "the lowest free id"
        why = taken(broker, node)
        if why is not None:
            result.problems.append(
                Problem(
                    node.name,
                    "kafkaid",
                    f'"auto": {source} names broker {broker}, but {why}: two brokers with one '
                    "id would take each other's place. Refused, nothing was overwritten: give "
                    "this host an empty data volume (or its own), or remove the other host.",
                )
            )
            continue
        holders[broker] = node.name
        result.ids[node.name] = broker
        result.sources[node.name] = source
        if registry.claims.get(broker) != node.name:
            result.claims[broker] = node.name
    return result


def volume_problems(
    cluster: Cluster, states: Mapping[str, State], registry: Registry, resolved: set[str]
) -> list[Problem]:
    """Volumes the brokers must not start on: another Kafka cluster's (meta.properties'
    cluster.id against ZooKeeper's), and for the hosts in ``resolved`` (ids just resolved
    from "auto") another broker's. ``cluster`` has its ids resolved."""
    problems: list[Problem] = []
    for node in cluster.brokers:
        state = states.get(node.name)
        if state is None:
            continue
        if node.name in resolved:
            problems += kafka_identity_problems(node, state)
        if registry.cluster_id is None:
            continue
        paths = [*state["kafka"]["log_dirs"], *node.settings["kafka_data_dirs"]]
        for path, meta in broker_metas(state, paths).items():
            other = meta.get("cluster.id")
            if other and other != registry.cluster_id:
                problems.append(
                    Problem(
                        node.name,
                        "kafka_data_dirs",
                        f"{path}/meta.properties belongs to Kafka cluster {other}, but this "
                        f"cluster (ZooKeeper's cluster/id) is {registry.cluster_id}: the broker "
                        "would refuse to start (InconsistentClusterIdException). Refused, "
                        "nothing was overwritten: attach this cluster's volume or an empty one; "
                        "empty this one only if that cluster's data is not needed.",
                    )
                )
    return problems


def adopted_dirs(node: Node, state: State | None) -> list[str]:
    """The inventory's data dirs holding Kafka data on a host that never ran this broker
    (no server.properties yet): a volume from an earlier machine, whose files belong to
    that machine's kafka account, which need not have this one's uid."""
    if state is None or state["kafka"]["config"] is not None or node.kafkaid is None:
        return []
    dirs = state["dirs"]["kafka"]
    return [
        path
        for path in node.settings["kafka_data_dirs"]
        if dirs.get(path, {}).get("meta") or dirs.get(path, {}).get("partitions", 0) > 0
    ]


def known_ids(cluster: Cluster, registry: Registry) -> dict[str, int]:
    """Read-only resolution for tools that do not deploy (status): each "auto" host's claimed
    id, else the id of the broker registered from its address."""
    ids: dict[str, int] = {}
    for broker, owner in sorted(registry.claims.items()):
        if any(n.name == owner and n.auto_kafkaid for n in cluster.nodes):
            ids.setdefault(owner, broker)
    for broker, address in sorted(registry.registered.items()):
        for node in cluster.nodes:
            if node.auto_kafkaid and node.address == address:
                ids.setdefault(node.name, broker)
    return ids
