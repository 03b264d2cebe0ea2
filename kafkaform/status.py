"""``kafkaform status``: how what the cluster answered is judged and shown.

Pure: ``Observed`` (what ZooKeeper, Kafka and the hosts' exporters answered, read by
kafkaform.status_reads) is judged by ``assess`` into a ``Status``: a row per host, partition
counts and the lists behind them, consumer groups' lag, problems (any problem: unhealthy) and
notes (worth knowing, not unhealthy: an upgrade under way). ``table`` and ``Status.to_json``
show it; kafkaform.status_cli is the command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from kafkaform.cluster import Cluster
from kafkaform.upgrade import PROTOCOL_KEY, operator_pins, protocol_of, shown

DISK_FULL_PERCENT = 90  # a data dir's filesystem this full is a problem: Kafka stops at 100
LISTED_IN_TABLE = 10  # partitions named per kind in the table; --json lists every one


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # -1: offline
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    min_isr: int


# The unhealthy kinds of partition, worst first, and how the problems name them.
PARTITION_KINDS: dict[str, tuple[str, Callable[[PartitionState], bool]]] = {
    "offline": ("offline", lambda p: p.leader < 0),
    "under_min_isr": ("under min.insync.replicas", lambda p: len(p.isr) < p.min_isr),
    "under_replicated": ("under-replicated", lambda p: len(p.isr) < len(p.replicas)),
}


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
    kafka_versions: dict[str, str] = field(default_factory=dict)  # host -> its broker runs
    zookeeper_versions: dict[str, str] = field(default_factory=dict)  # host -> its server runs
    # zkid -> server line of the membership ZooKeeper committed (/zookeeper/config); None: unread
    zookeeper_members: dict[int, str] | None = None


@dataclass
class HostRow:
    host: str
    zookeeper: str | None = None  # mode, "down", or None: no ZooKeeper role
    zookeeper_version: str | None = None  # what its ZooKeeper server runs (srvr)
    broker: int | None = None
    registered: bool | None = None
    controller: bool = False
    version: str | None = None  # the Kafka version its broker runs; None: not read
    protocol: str | None = None  # inter.broker.protocol.version in effect
    leaders: int | None = None
    out_of_sync: int | None = None  # replicas on this broker that are not in their ISR
    disk_used: int | None = None  # % used of the fullest filesystem holding a data dir
    problems: list[str] = field(default_factory=list)


@dataclass
class Status:
    hosts: list[HostRow]
    partitions: dict[str, int]  # total and one count per PARTITION_KINDS
    groups: list[GroupLag]
    problems: list[str]  # every problem, host ones named by their host
    unhealthy_partitions: dict[str, list[PartitionState]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # not problems: an upgrade under way
    upgrade_under_way: bool = False

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> str:
        return json.dumps({"healthy": self.healthy, **asdict(self)}, indent=2)


def unhealthy_partitions(partitions: list[PartitionState]) -> dict[str, list[PartitionState]]:
    return {kind: [p for p in partitions if test(p)] for kind, (_, test) in PARTITION_KINDS.items()}


def partition_counts(partitions: list[PartitionState]) -> dict[str, int]:
    listed = unhealthy_partitions(partitions)
    return {"total": len(partitions), **{kind: len(found) for kind, found in listed.items()}}


def assess(cluster: Cluster, seen: Observed) -> Status:
    problems: list[str] = list(seen.errors)
    rows = []
    for node in cluster.nodes:
        row = HostRow(node.name, broker=node.kafkaid)
        if node.zookeeper:
            row.zookeeper = seen.zookeeper_modes.get(node.name) or "down"
            row.zookeeper_version = seen.zookeeper_versions.get(node.name)
            if row.zookeeper == "down":
                row.problems.append("ZooKeeper does not serve")
        if node.kafkaid is not None:
            assess_broker(row, node.kafkaid, seen)
        row.disk_used = seen.disk_used.get(node.name)
        if row.disk_used is not None and row.disk_used >= DISK_FULL_PERCENT:
            row.problems.append(f"data dir disk {row.disk_used}% used")
        problems += [f"{node.name}: {problem}" for problem in row.problems]
        rows.append(row)

    modes = [m for m in seen.zookeeper_modes.values() if m]
    if cluster.ensemble and not {"leader", "standalone"} & set(modes):
        problems.append("ZooKeeper: no leader (no quorum)")
    problems += membership_problems(cluster, seen)
    if seen.registered is None:
        problems.append("ZooKeeper: could not read the registered brokers")
    elif cluster.brokers and seen.controller is None:
        problems.append("Kafka: no active controller")
    listed: dict[str, list[PartitionState]] = {kind: [] for kind in PARTITION_KINDS}
    counts = {"total": 0, **{kind: 0 for kind in PARTITION_KINDS}}
    if seen.partitions is None:
        if cluster.brokers:
            problems.append("Kafka: no broker answered")
    else:
        listed = unhealthy_partitions(seen.partitions)
        counts = partition_counts(seen.partitions)
        for kind, (what, _) in PARTITION_KINDS.items():
            if counts[kind]:
                problems.append(f"Kafka: {counts[kind]} partitions {what}")
    notes, under_way = version_notes(cluster, rows)
    return Status(rows, counts, list(seen.groups), problems, listed, notes, under_way)


def membership_problems(cluster: Cluster, seen: Observed) -> list[str]:
    """The committed ZooKeeper membership against the inventory's, and servers that answer
    as leader or follower without being members (a joiner not added, a removed server still
    running)."""
    if seen.zookeeper_members is None or not cluster.ensemble:
        return []
    members = set(seen.zookeeper_members)
    wanted = {n.zkid for n in cluster.ensemble}
    problems = []
    if members != wanted:
        problems.append(
            f"ZooKeeper: membership change pending: committed {sorted(members)}, "
            f"inventory {sorted(wanted)} (deploy to finish it)"
        )
    for node in cluster.ensemble:
        mode = seen.zookeeper_modes.get(node.name)
        if node.zkid not in members and mode in ("leader", "follower"):
            problems.append(f"{node.name}: ZooKeeper server {node.zkid} serves but is no member")
    return problems


def assess_broker(row: HostRow, broker: int, seen: Observed) -> None:
    if seen.registered is not None:
        row.registered = broker in seen.registered
        if not row.registered:
            row.problems.append(f"broker {broker} is not registered")
    row.controller = seen.controller == broker
    row.protocol = seen.protocol.get(broker)
    row.version = seen.kafka_versions.get(row.host)
    if seen.partitions is not None:
        mine = [p for p in seen.partitions if broker in p.replicas]
        row.leaders = sum(p.leader == broker for p in mine)
        # An offline partition's replicas wait for a leader, not for this broker.
        row.out_of_sync = sum(broker not in p.isr for p in mine if p.leader >= 0)
        if row.out_of_sync and row.registered:
            row.problems.append(f"{row.out_of_sync} replicas out of sync")


def by_value(found: Mapping[str, str | None]) -> str:
    """``{"kafka-1": "3.8.1", "kafka-2": "3.9.2"}`` -> ``3.8.1 on kafka-1; 3.9.2 on kafka-2``."""
    hosts: dict[str, list[str]] = {}
    for host, value in found.items():
        if value is not None:
            hosts.setdefault(value, []).append(host)
    return "; ".join(f"{value} on {', '.join(names)}" for value, names in sorted(hosts.items()))


def version_notes(cluster: Cluster, rows: list[HostRow]) -> tuple[list[str], bool]:
    """Where a version change stands, from what the services run (not problems: a rolling
    upgrade runs mixed versions on purpose), and whether one is under way (services on
    different versions or protocols, or a protocol held below the version: the inventory
    asking for another version is not, until a deploy starts it). No note when everything
    runs one version at its own protocol, the inventory's."""
    brokers = {r.host: r.version for r in rows if r.broker is not None and r.version}
    protocols = {r.host: r.protocol for r in rows if r.broker is not None and r.protocol}
    servers = {r.host: r.zookeeper_version for r in rows if r.zookeeper_version}
    notes = []
    if len(set(brokers.values())) > 1:
        notes.append(f"Kafka: brokers run different versions ({by_value(brokers)})")
    if len(set(servers.values())) > 1:
        notes.append(f"ZooKeeper: servers run different versions ({by_value(servers)})")
    # "3.8" pinned and "3.8-IV0" by default are one protocol: compared by major.minor.
    if len({protocol_of(p) for p in protocols.values()}) > 1:
        notes.append(f"Kafka: brokers speak different {PROTOCOL_KEY} ({by_value(protocols)})")
    if notes:
        return [
            *notes,
            "an upgrade (or a rollback) is under way: run the deploy to finish it",
        ], True
    under_way = False
    if brokers and protocols:
        version, protocol = next(iter(brokers.values())), next(iter(protocols.values()))
        held, running = protocol_of(protocol), protocol_of(version)
        pins = operator_pins(cluster)
        if held and running and held < running and not pins:
            under_way = True
            notes.append(
                f"Kafka: every broker runs {version} but speaks protocol {protocol}: upgrade "
                f"phase 2 (the roll to protocol {shown(running)}) is still to run: run the deploy"
            )
        wanted = cluster.nodes[0].settings["kafka_version"]
        if version != wanted:
            notes.append(
                f"Kafka: the inventory's kafka_version is {wanted}, the brokers run {version}: "
                "run the deploy to roll it out"
            )
    return notes, under_way


COLUMNS = ("HOST", "ZOOKEEPER", "ZK-VERSION", "BROKER", "REGISTERED", "CONTROLLER", "VERSION",
           "PROTOCOL", "LEADERS", "OUT-OF-SYNC", "DISK", "PROBLEMS")  # fmt: skip


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def listed_partitions(found: list[PartitionState]) -> str:
    names = [f"{p.topic}-{p.partition}" for p in found[:LISTED_IN_TABLE]]
    more = len(found) - len(names)
    return ", ".join(names) + (f" (and {more} more: --json lists all)" if more else "")


def table(status: Status) -> str:
    """The text an operator reads: hosts, partitions, groups, notes, verdict."""
    rows = [COLUMNS] + [
        (
            r.host,
            cell(r.zookeeper),
            cell(r.zookeeper_version),
            cell(r.broker),
            cell(r.registered),
            "active" if r.controller else "",
            cell(r.version),
            cell(r.protocol),
            cell(r.leaders),
            cell(r.out_of_sync),
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
    lines += [
        f"  {kind.replace('_', ' ')}: {listed_partitions(found)}"
        for kind, found in status.unhealthy_partitions.items()
        if found
    ]
    if status.groups:
        lines += ["", "consumer groups (members, lag):"]
        lines += [f"  {g.group}  {g.members}  {g.lag}" for g in status.groups]
    if status.notes:
        lines += ["", "notes:"] + [f"  {note}" for note in status.notes]
    lines += [""] + (
        ["healthy"] if status.healthy else ["UNHEALTHY:"] + [f"  {p}" for p in status.problems]
    )
    return "\n".join(lines)
