"""Broker ids and data volumes, settled once per run before any operation is queued.

``kafkaid: "auto"`` hosts get their id here (rules: kafkaform.broker_ids), claimed in
ZooKeeper (kafkaform.broker_claims) through the run's own session, the one that holds the
roll lock; a lost race reads ZooKeeper again. Every later step sees the resolved ids (the
cluster returned). A volume of another cluster or broker stops the run here, before anything
changed.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Any

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_state
from pyinfra.operations import server

from deploys.tasks.preflight import live_states, refusal
from deploys.tasks.roll import RollSession
from kafkaform.broker_claims import (
    ClaimRace,
    close_client,
    open_client,
    read_registry,
    write_claims,
)
from kafkaform.broker_ids import Registry, adopted_dirs, assign_ids, claims_path, volume_problems
from kafkaform.cluster import Cluster, Node
from kafkaform.deploy_support import once_per_run

PROBE_SECONDS = 5.0  # for an ensemble a run without a roll session did not find running
CLAIM_ATTEMPTS = 5  # a lost race re-reads ZooKeeper; only a concurrent claimer causes one


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # stdout may be --json


def resolve_broker_ids(
    cluster: Cluster, session: RollSession, progress: Callable[[str], None] = _progress
) -> Cluster:
    """deploys/kafka.py, right after the roll session: ``cluster`` with every "auto" id
    resolved (and claimed when ZooKeeper runs); refuses foreign volumes."""

    def resolve() -> Cluster:
        if session.client is not None or not any(n.auto_kafkaid for n in cluster.nodes):
            return settle(session.client)
        # No roll lock (nothing runs on the hosts of this run, e.g. a --limit run of new
        # hosts): the claims' atomic create alone keeps concurrent runs apart.
        client = open_client(cluster, PROBE_SECONDS)
        try:
            return settle(client)
        finally:
            if client is not None:
                close_client(client)

    def settle(client: Any) -> Cluster:
        states = live_states(ctx_state.get().inventory, cluster)
        chroot = _chroot(cluster)
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
