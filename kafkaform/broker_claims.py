"""Broker id claims in ZooKeeper, through a kazoo client the caller holds.

A claim is a znode ``<chroot>/kafkaform/broker-ids/<id>`` whose data names the inventory host
that holds the id (kafkaform.broker_ids decides who gets which). It is created only if
absent, or taken over from a gone host by a write at the version that was read: either is the
atomic step, and a lost race raises ClaimRace for the caller to read again and retry.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from kafkaform.broker_ids import Assignment, Registry, claims_path, known_ids
from kafkaform.cluster import Cluster


class ClaimRace(Exception):
    """A claim changed between reading ZooKeeper and writing it."""


def read_registry(client: Any, chroot: str) -> Registry:
    """The cluster id, the registered brokers (id -> advertised host) and the claims."""
    raw = _data(client, f"{chroot}/cluster/id")
    cluster_id = _json(raw).get("id") if raw is not None else None
    registered = {}
    for child in _children(client, f"{chroot}/brokers/ids"):
        raw = _data(client, f"{chroot}/brokers/ids/{child}")
        if child.isdigit() and raw is not None:
            registered[int(child)] = _advertised_host(_json(raw))
    claims = {}
    root = claims_path(chroot)
    for child in _children(client, root):
        raw = _data(client, f"{root}/{child}")
        owner = _json(raw).get("host") if raw is not None else None
        if child.isdigit() and isinstance(owner, str):
            claims[int(child)] = owner
    return Registry(str(cluster_id) if cluster_id else None, registered, claims)


def write_claims(client: Any, chroot: str, assignment: Assignment, registry: Registry) -> None:
    """Write the assignment's claims; ClaimRace when one changed since ``registry`` was read."""
    from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

    for broker, host in sorted(assignment.claims.items()):
        path = f"{claims_path(chroot)}/{broker}"
        text = claim_text(host)
        previous = registry.claims.get(broker)
        try:
            if previous is None:
                client.create(path, text, makepath=True)  # fails if anyone claimed it since
            else:
                raw, stat = client.get(path)
                if _json(raw).get("host") != previous:
                    raise ClaimRace
                client.set(path, text, version=stat.version)  # fails if it changed since
        except (NodeExistsError, BadVersionError, NoNodeError):
            raise ClaimRace from None


def claim_text(host: str) -> bytes:
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"host": host, "since": since}).encode()


def _advertised_host(registration: dict[str, Any]) -> str:
    """The host a broker registered (its "host", else its first endpoint's)."""
    if registration.get("host"):
        return str(registration["host"])
    endpoints = registration.get("endpoints") or [""]
    return str(endpoints[0]).rsplit("//", 1)[-1].rsplit(":", 1)[0]


def _data(client: Any, path: str) -> bytes | None:
    from kazoo.exceptions import NoNodeError

    try:
        return client.get(path)[0]
    except NoNodeError:
        return None


def _children(client: Any, path: str) -> list[str]:
    from kazoo.exceptions import NoNodeError

    try:
        return list(client.get_children(path))
    except NoNodeError:
        return []


def _json(raw: bytes | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def open_client(cluster: Cluster, timeout: float) -> Any | None:
    """A kazoo client of the cluster's ensemble, or None when none answers in ``timeout``."""
    if not cluster.ensemble:
        return None
    from kafkaform import verify

    try:
        return verify.cluster_zk(cluster, timeout)
    except Exception:  # noqa: BLE001 - kazoo's own timeout type, or a refused connection
        return None


def close_client(client: Any) -> None:
    try:
        client.stop()
        client.close()
    except Exception:  # noqa: BLE001 - done with it either way; its session expires
        pass


def with_claimed_ids(cluster: Cluster, timeout: float = 10.0) -> Cluster:
    """For tools that read but do not deploy (kafkaform status, tests/verify): "auto" hosts
    with the ids ZooKeeper knows them by (broker_ids.known_ids; one it does not know stays
    "auto"). ZooKeeper silent: the cluster as it was (status reports the silence itself)."""
    if not any(n.auto_kafkaid for n in cluster.nodes):
        return cluster
    registry = fetch_registry(cluster, timeout)
    return cluster if registry is None else cluster.with_kafkaids(known_ids(cluster, registry))


def fetch_registry(cluster: Cluster, timeout: float) -> Registry | None:
    """read_registry through a client of its own; None when no ZooKeeper answers."""
    client = open_client(cluster, timeout)
    if client is None:
        return None
    try:
        return read_registry(client, cluster.brokers[0].settings["zookeeper_chroot"])
    finally:
        close_client(client)
