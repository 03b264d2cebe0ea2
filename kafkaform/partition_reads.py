"""Where the cluster's partitions are, as ZooKeeper holds them, read from the control machine
(kazoo, as the roll lock and ``kafkaform status`` reach ZooKeeper).

In ZooKeeper mode the controller keeps every topic's assignment in
``<chroot>/brokers/topics/<topic>`` (internal topics included) and each live broker's
registration in ``<chroot>/brokers/ids/<id>``: one read of both tells which brokers hold
replicas, which are up, and which partitions are being reassigned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kafkaform.cluster import Cluster
from kafkaform.rebalance import PartitionId


@dataclass(frozen=True)
class Layout:
    assignment: dict[PartitionId, tuple[int, ...]]  # replicas, preferred leader first
    reassigning: frozenset[PartitionId] = frozenset()  # a reassignment is under way
    registered: dict[int, str] = field(default_factory=dict)  # live broker -> its address
    racks: dict[int, str] = field(default_factory=dict)  # live broker -> its broker.rack


class LayoutError(Exception):
    pass


def parse_topic(topic: str, data: bytes) -> tuple[dict[PartitionId, tuple[int, ...]], set]:
    """A topic znode: ``{"partitions": {"0": [1, 2]}, "adding_replicas": {"0": [3]}, ...}``."""
    try:
        document = json.loads(data)
        partitions = document["partitions"]
    except (ValueError, KeyError, TypeError) as error:
        raise LayoutError(f"topic {topic}: unreadable assignment in ZooKeeper ({error})") from None
    assignment = {(topic, int(p)): tuple(int(b) for b in r) for p, r in partitions.items()}
    moving = {
        (topic, int(p))
        for key in ("adding_replicas", "removing_replicas")
        for p, replicas in (document.get(key) or {}).items()
        if replicas
    }
    return assignment, moving


def parse_registration(data: bytes) -> str:
    """A broker's registration: its first endpoint (``PLAINTEXT://10.0.0.5:9092``), else
    host:port."""
    try:
        document = json.loads(data)
    except ValueError:
        return "?"
    endpoints = document.get("endpoints") or []
    if endpoints:
        return str(endpoints[0]).split("://", 1)[-1]
    return f"{document.get('host', '?')}:{document.get('port', '?')}"


def parse_rack(data: bytes) -> str | None:
    """A broker's registration's ``rack`` (its broker.rack), or None."""
    try:
        rack = json.loads(data).get("rack")
    except (ValueError, AttributeError):
        return None
    return str(rack) if rack else None


def chroot(cluster: Cluster) -> str:
    nodes = cluster.brokers or cluster.ensemble
    return nodes[0].settings["zookeeper_chroot"] if nodes else ""


def read_layout(cluster: Cluster, timeout: float = 10.0) -> Layout:
    """Every topic's assignment and every registered broker; raises when ZooKeeper cannot be
    read (a partial layout would hide replicas)."""
    from kazoo.exceptions import NoNodeError

    from kafkaform import verify

    root = chroot(cluster)
    client = verify.cluster_zk(cluster, timeout)
    try:
        try:
            topics = client.get_children(f"{root}/brokers/topics")
        except NoNodeError:
            topics = []  # no broker ever started in this chroot
        pending = {t: client.get_async(f"{root}/brokers/topics/{t}") for t in topics}
        assignment: dict[PartitionId, tuple[int, ...]] = {}
        reassigning: set[PartitionId] = set()
        for topic, result in pending.items():
            try:
                data = result.get(timeout=timeout)[0]
            except NoNodeError:
                continue  # deleted since it was listed
            found, moving = parse_topic(topic, data)
            assignment.update(found)
            reassigning |= moving
        try:
            ids = client.get_children(f"{root}/brokers/ids")
        except NoNodeError:
            ids = []
        registered, racks = {}, {}
        for broker in ids:
            try:
                data = client.get(f"{root}/brokers/ids/{broker}")[0]
            except NoNodeError:
                continue  # went away since it was listed
            registered[int(broker)] = parse_registration(data)
            if rack := parse_rack(data):
                racks[int(broker)] = rack
        return Layout(assignment, frozenset(reassigning), registered, racks)
    finally:
        client.stop()
        client.close()
