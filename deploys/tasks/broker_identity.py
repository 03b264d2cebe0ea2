"""Broker ids and data volumes, settled once per run before any operation is queued.

``kafkaid: "auto"`` hosts get their id here (rules: kafkaform.broker_ids), claimed in
ZooKeeper through the run's own session, the one that holds the roll lock: a claim is a
znode ``<chroot>/kafkaform/broker-ids/<id>`` naming the host, created only if absent, or
taken over from a gone host by a versioned write; either is the atomic step, and a lost
race reads ZooKeeper again. Every later step sees the resolved ids (the cluster returned).
A volume of another cluster or broker stops the run here, before anything changed.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_state
from pyinfra.operations import server

from deploys.tasks.preflight import live_states, refusal
from deploys.tasks.roll import RollSession
from kafkaform.broker_ids import (
    Assignment,
    Registry,
    adopted_dirs,
    assign_ids,
    claims_path,
    volume_problems,
)
from kafkaform.cluster import Cluster, Node
from kafkaform.deploy_support import once_per_run

CLAIM_ATTEMPTS = 5  # a lost race re-reads ZooKeeper; only a concurrent claimer causes one


class ClaimRace(Exception):
    """A claim changed between reading ZooKeeper and writing it."""


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # stdout may be --json


def resolve_broker_ids(
    cluster: Cluster, session: RollSession, progress: Callable[[str], None] = _progress
) -> Cluster:
    """deploys/kafka.py, right after the roll session: ``cluster`` with every "auto" id
    resolved (and claimed when ZooKeeper runs); refuses foreign volumes."""

    def resolve() -> Cluster:
        inventory = ctx_state.get().inventory
        states = live_states(inventory, cluster)
        chroot = _chroot(cluster)
        client = session.client
        registry = read_registry(client, chroot) if client is not None else Registry()
        for _ in range(CLAIM_ATTEMPTS):
            assignment = assign_ids(cluster, states, registry)
            resolved = cluster.with_kafkaids(assignment.ids)
            # Judged before any claim is written: a refused run leaves ZooKeeper as it was.
            problems = assignment.problems + volume_problems(
                resolved, states, registry, set(assignment.ids)
            )
            if problems:
                raise PyinfraError(refusal("deploy", problems))
            if client is None:
                break
            try:
                write_claims(client, chroot, assignment, registry)
                break
            except ClaimRace:
                registry = read_registry(client, chroot)
        else:
            raise PyinfraError(
                f"kafkaid auto: the broker id claims under {claims_path(chroot)} kept changing "
                f"while this run claimed ids ({CLAIM_ATTEMPTS} tries); nothing was changed. "
                "Another tool writes there; run again once it is done."
            )
        for name, broker in assignment.ids.items():
            if client is None:
                note = "not claimed: no ZooKeeper runs yet, the next run claims it"
            elif broker in assignment.claims:
                note = "claimed in ZooKeeper"
            else:
                continue  # kept from an earlier run: nothing to say
            progress(
                f"--> kafkaid auto: {name} is broker {broker} ({assignment.sources[name]}; {note})"
            )
        return resolved

    return once_per_run("broker-ids", resolve)


def adopt_volumes(cluster: Cluster, node: Node) -> None:
    """Queued after the kafka account exists and before the broker first starts: a data
    volume kept from an earlier machine becomes this account's (only on that first run:
    afterwards the host has a server.properties)."""
    state = live_states(ctx_state.get().inventory, cluster).get(node.name)
    dirs = adopted_dirs(node, state)
    if dirs:
        owner = shlex.quote(f"{node.settings['kafka_user']}:{node.settings['kafka_user']}")
        server.shell(
            name="Kafka data volume kept from an earlier host: owned by this host's kafka",
            commands=[f"chown -R {owner} {' '.join(shlex.quote(d) for d in dirs)}"],
        )


def _chroot(cluster: Cluster) -> str:
    return cluster.brokers[0].settings["zookeeper_chroot"] if cluster.brokers else ""


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
