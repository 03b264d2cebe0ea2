"""``kafkaform status INVENTORY``: the cluster's health from the control machine, as a table
or ``--json``; exit 1 when it is unhealthy, so scripts and CI can gate on it.

Observed with ZooKeeper's ``srvr`` and kazoo (modes, registered brokers, the controller) and
Kafka's AdminClient (partitions, ISR, min.insync.replicas, the protocol version, consumer
groups' lag). What is observed (``Observed``) is judged by a pure function (``assess``).
Data-dir disk use comes from each broker host's node_exporter. Not yet shown: each broker's
running Kafka version (neither ZooKeeper nor the AdminClient tell it).
"""

from __future__ import annotations

import argparse
import json
import re
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from kafkaform.cluster import Cluster

EXIT_HEALTHY, EXIT_UNHEALTHY = 0, 1
DISK_FULL_PERCENT = 90  # a data dir's filesystem this full is a problem: Kafka stops at 100


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # -1: offline
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    min_isr: int


@dataclass(frozen=True)
class GroupLag:
    group: str
    members: int
    lag: int  # summed over the partitions the group committed


@dataclass(frozen=True)
class Observed:
    """What the cluster answered; None where it did not answer at all."""

    zookeeper_modes: dict[str, str | None]  # host -> leader/follower/standalone, None: silent
    registered: list[int] | None  # broker ids under /brokers/ids
    controller: int | None  # None: no controller (or ZooKeeper silent)
    partitions: list[PartitionState] | None  # None: no broker answered
    protocol: dict[int, str] = field(default_factory=dict)  # broker -> IBP in effect
    groups: list[GroupLag] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # reads that failed, as said to the user
    disk_used: dict[str, int] = field(default_factory=dict)  # host -> % of its fullest data dir


@dataclass
class HostRow:
    host: str
    zookeeper: str | None  # mode, "down", or None: no ZooKeeper role
    broker: int | None
    registered: bool | None
    controller: bool
    protocol: str | None
    leaders: int | None
    out_of_sync: int | None  # replicas on this broker that are not in their ISR
    disk_used: int | None = None  # % used of the fullest filesystem holding a data dir
    problems: list[str] = field(default_factory=list)


@dataclass
class Status:
    hosts: list[HostRow]
    partitions: dict[str, int]  # total, under_replicated, under_min_isr, offline
    groups: list[GroupLag]
    problems: list[str]  # every problem, host ones named by their host

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> str:
        return json.dumps({"healthy": self.healthy, **asdict(self)}, indent=2)


def partition_counts(partitions: list[PartitionState]) -> dict[str, int]:
    return {
        "total": len(partitions),
        "under_replicated": sum(len(p.isr) < len(p.replicas) for p in partitions),
        "under_min_isr": sum(len(p.isr) < p.min_isr for p in partitions),
        "offline": sum(p.leader < 0 for p in partitions),
    }


def assess(cluster: Cluster, seen: Observed) -> Status:
    problems: list[str] = list(seen.errors)
    rows = []
    for node in cluster.nodes:
        row = HostRow(node.name, None, node.kafkaid, None, False, None, None, None)
        if node.zookeeper:
            row.zookeeper = seen.zookeeper_modes.get(node.name) or "down"
            if row.zookeeper == "down":
                row.problems.append("ZooKeeper does not serve")
        if node.kafkaid is not None:
            broker = node.kafkaid
            if seen.registered is not None:
                row.registered = broker in seen.registered
                if not row.registered:
                    row.problems.append(f"broker {broker} is not registered")
            row.controller = seen.controller == broker
            row.protocol = seen.protocol.get(broker)
            if seen.partitions is not None:
                mine = [p for p in seen.partitions if broker in p.replicas]
                row.leaders = sum(p.leader == broker for p in mine)
                # An offline partition's replicas wait for a leader, not for this broker.
                row.out_of_sync = sum(broker not in p.isr for p in mine if p.leader >= 0)
                if row.out_of_sync and row.registered:
                    row.problems.append(f"{row.out_of_sync} replicas out of sync")
            row.disk_used = seen.disk_used.get(node.name)
            if row.disk_used is not None and row.disk_used >= DISK_FULL_PERCENT:
                row.problems.append(f"data dir disk {row.disk_used}% used")
        problems += [f"{node.name}: {problem}" for problem in row.problems]
        rows.append(row)

    modes = [m for m in seen.zookeeper_modes.values() if m]
    if cluster.ensemble and not {"leader", "standalone"} & set(modes):
        problems.append("ZooKeeper: no leader (no quorum)")
    if seen.registered is None:
        problems.append("ZooKeeper: could not read the registered brokers")
    elif cluster.brokers and seen.controller is None:
        problems.append("Kafka: no active controller")
    counts = {"total": 0, "under_replicated": 0, "under_min_isr": 0, "offline": 0}
    if seen.partitions is None:
        if cluster.brokers:
            problems.append("Kafka: no broker answered")
    else:
        counts = partition_counts(seen.partitions)
        for key, what in (
            ("offline", "offline"),
            ("under_min_isr", "under min.insync.replicas"),
            ("under_replicated", "under-replicated"),
        ):
            if counts[key]:
                problems.append(f"Kafka: {counts[key]} partitions {what}")
    return Status(rows, counts, list(seen.groups), problems)


COLUMNS = ("HOST", "ZOOKEEPER", "BROKER", "REGISTERED", "CONTROLLER", "PROTOCOL", "LEADERS",
           "OUT-OF-SYNC", "DISK", "PROBLEMS")  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def table(status: Status) -> str:
    """The text an operator reads: hosts, partitions, groups, verdict."""
    rows = [COLUMNS] + [
        (
            r.host,
            _cell(r.zookeeper),
            _cell(r.broker),
            _cell(r.registered),
            "active" if r.controller else "",
            _cell(r.protocol),
            _cell(r.leaders),
            _cell(r.out_of_sync),
            "-" if r.disk_used is None else f"{r.disk_used}%",
            "; ".join(r.problems),
        )
        for r in status.hosts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    p = status.partitions
    lines += [
        "",
        f"partitions: {p['total']} total, {p['under_replicated']} under-replicated, "
        f"{p['under_min_isr']} under min ISR, {p['offline']} offline",
    ]
    if status.groups:
        lines += ["", "consumer groups (members, lag):"]
        lines += [f"  {g.group}  {g.members}  {g.lag}" for g in status.groups]
    lines += [""] + (
        ["healthy"] if status.healthy else ["UNHEALTHY:"] + [f"  {p}" for p in status.problems]
    )
    return "\n".join(lines)


def observe(cluster: Cluster, timeout: float = 10.0) -> Observed:
    """Ask the cluster (ZooKeeper, then Kafka); parts that do not answer are None."""
    from kafkaform import verify

    modes = {
        n.name: verify.server_mode(n.address, n.settings["zookeeper_client_port"], timeout)
        for n in cluster.ensemble
    }
    registered, controller = read_zookeeper(cluster, timeout)
    partitions, protocol, groups, errors = None, {}, [], []
    if cluster.brokers:
        servers = cluster.bootstrap_servers()
        # Each read on its own: groups that cannot be read do not hide the partitions.
        try:
            partitions, protocol = read_kafka(servers, timeout)
        except Exception as error:  # noqa: BLE001 - a silent cluster is a status, not a crash
            errors.append(f"Kafka: partitions: {error}")
        try:
            groups = read_groups(servers, timeout)
        except Exception as error:  # noqa: BLE001
            errors.append(f"Kafka: consumer groups: {error}")
    disk = {}
    for node in cluster.brokers:
        url = f"http://{node.address}:{node.settings['node_exporter_port']}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                text = answer.read().decode()
        except OSError:
            continue  # shown as "-": the broker's own problems say more
        used = disk_used_percent(text, node.settings["kafka_data_dirs"])
        if used is not None:
            disk[node.name] = used
    return Observed(modes, registered, controller, partitions, protocol, groups, errors, disk)


FILESYSTEM = re.compile(
    r'^node_filesystem_(size|avail)_bytes\{[^}]*mountpoint="([^"]*)"[^}]*\} (\S+)$', re.M
)


def disk_used_percent(metrics: str, paths: list[str]) -> int | None:
    """% used of the fullest filesystem holding one of ``paths``, from node_exporter's text
    (each path's filesystem: the longest mountpoint it lies under)."""
    sizes: dict[str, dict[str, float]] = {}
    for kind, mountpoint, value in FILESYSTEM.findall(metrics):
        sizes.setdefault(mountpoint, {})[kind] = float(value)
    mounts = [m for m, v in sizes.items() if v.get("size")]
    used = []
    for path in paths:
        under = [m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")]
        if under:
            fs = sizes[max(under, key=len)]
            used.append(round(100 * (1 - fs.get("avail", 0.0) / fs["size"])))
    return max(used) if used else None


def read_groups(servers: str, timeout: float) -> list[GroupLag]:
    from kafkaform import lag_exporter

    reader = lag_exporter.connect(servers, timeout)
    try:
        reading = reader.read()
    finally:
        reader.close()
    lags: dict[str, int] = {}
    for group, _topic, _partition, _offset, lag in lag_exporter.lag_rows(
        reading.end, reading.committed
    ):
        lags[group] = lags.get(group, 0) + lag
    return [GroupLag(g, reading.members[g], lags.get(g, 0)) for g in sorted(reading.members)]


def read_zookeeper(cluster: Cluster, timeout: float) -> tuple[list[int] | None, int | None]:
    from kafkaform import verify

    if not cluster.ensemble:
        return None, None
    chroot = cluster.ensemble[0].settings["zookeeper_chroot"]
    try:
        client = verify.zk_client(cluster.zookeeper_connect(), timeout)
    except Exception:  # noqa: BLE001 - reported as "could not read the registered brokers"
        return None, None
    try:
        registered = sorted(int(i) for i in client.get_children(f"{chroot}/brokers/ids"))
        controller = None
        if client.exists(f"{chroot}/controller"):
            data, _ = client.get(f"{chroot}/controller")
            controller = json.loads(data)["brokerid"]
        return registered, controller
    finally:
        client.stop()
        client.close()


def read_kafka(servers: str, timeout: float) -> tuple[list[PartitionState], dict[int, str]]:
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": servers})
    metadata = admin.list_topics(timeout=timeout)
    # Every topic in one request; a broker's configs only one per request (Kafka's rule).
    requests = [[ConfigResource(ConfigResource.Type.TOPIC, t) for t in metadata.topics]]
    requests += [[ConfigResource(ConfigResource.Type.BROKER, str(b))] for b in metadata.brokers]
    configs = {
        (r.restype, r.name): future.result(timeout=timeout)
        for resources in requests
        if resources
        for r, future in admin.describe_configs(resources, request_timeout=timeout).items()
    }
    partitions = []
    for topic, meta in sorted(metadata.topics.items()):
        topic_config = configs[(ConfigResource.Type.TOPIC, topic)]
        min_isr = int(topic_config["min.insync.replicas"].value)
        for p in sorted(meta.partitions.values(), key=lambda p: p.id):
            partitions.append(
                PartitionState(topic, p.id, p.leader, tuple(p.replicas), tuple(p.isrs), min_isr)
            )
    protocol = {
        int(b): configs[(ConfigResource.Type.BROKER, str(b))]["inter.broker.protocol.version"].value
        for b in metadata.brokers
    }
    return partitions, protocol


def run(args: argparse.Namespace) -> int:
    from kafkaform.validate import load_inventory

    inventory = load_inventory(args.inventory)
    cluster = Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)
    status = assess(cluster, observe(cluster, args.timeout))
    print(status.to_json() if args.json else table(status))
    return EXIT_HEALTHY if status.healthy else EXIT_UNHEALTHY


def add_cli(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="the cluster's health from here (exit 1 when unhealthy)",
        description=(
            "Per host: ZooKeeper mode, broker registered, the controller, protocol version, "
            "partitions it leads and its replicas out of sync; cluster-wide partition health "
            "and consumer groups' lag. Exit status 1 when anything is unhealthy."
        ),
    )
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/lab.py")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.set_defaults(func=run)
