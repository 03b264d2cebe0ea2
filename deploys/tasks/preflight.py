"""Read every host before anything changes, and refuse what would hurt a live cluster.

Called by the entries at prepare time, before any operation is queued. The deploy file runs
once per host, but the checks read all hosts at once and run once per run: one problem on
any host stops the run for all of them, with every problem listed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ContextObject, ctx_inventory

from facts.live import LiveState
from kafkaform.broker_claims import fetch_registry
from kafkaform.broker_ids import assign_ids
from kafkaform.cluster import Cluster
from kafkaform.deploy_support import once_per_run, prepared_facts
from kafkaform.live import (
    BAKE_REASON,
    State,
    bake_problems,
    leaving_broker,
    live_problems,
    probe_paths,
)
from kafkaform.partition_reads import read_layout
from kafkaform.rebalance import stranded_replica_problems
from kafkaform.upgrade import upgrade_problems
from kafkaform.validate import Problem

READ_SECONDS = 10.0  # ZooKeeper reads before the run changes anything


def refuse_destructive_changes(inventory: Any, cluster: Cluster) -> None:
    """deploys/kafka.py: data directories, ZooKeeper membership and ids, roles of live hosts;
    a version below the protocol the brokers speak, a --limit run in mid-upgrade; a broker
    taken out of the inventory while it still holds replicas."""

    def problems(states: dict[str, State]) -> list[Problem]:
        found = live_problems(cluster, states) + upgrade_problems(cluster, states)
        return found + stranded_replicas(cluster, states)

    _once(inventory, "deploy", problems, cluster)


def stranded_replicas(cluster: Cluster, states: dict[str, State]) -> list[Problem]:
    """Replicas on brokers no inventory host gives a kafkaid: a host taken out of the
    inventory (only the cluster knows it) or one whose kafkaid was taken away (the deploy
    retires that broker, so it must hold nothing). Read in ZooKeeper while a broker runs."""
    if not any(state["services"]["kafka"]["active"] for state in states.values()):
        return []  # no broker runs: nothing was assigned yet, or nothing can be read
    leaving = {
        node.name: broker
        for node in cluster.nodes
        if node.name in states and (broker := leaving_broker(node, states[node.name]))
    }
    try:
        layout = read_layout(cluster)
    except Exception as error:  # noqa: BLE001 - kazoo raises its own types
        # Nothing else is judged here: the roll lock, taken next, refuses the run then.
        print(f"    replicas of removed brokers: not checked ({error})", file=sys.stderr)
        return [
            Problem(
                name,
                "kafkaid",
                f"runs Kafka broker {broker} but has no kafkaid, and whether it still holds "
                f"replicas cannot be told: ZooKeeper did not answer ({error})",
            )
            for name, broker in leaving.items()
        ]
    ids = [node.kafkaid for node in cluster.brokers if isinstance(node.kafkaid, int)]
    found = stranded_replica_problems(layout.assignment, ids, layout.registered)
    if found and any(node.auto_kafkaid for node in cluster.brokers):
        # "auto" hosts hold the ids ZooKeeper gives them, among them a gone broker's, whose
        # replicas its replacement takes over: not stranded.
        given = auto_ids(cluster, states)
        if given is None:
            return []  # the id resolution refuses this run itself, saying why
        found = stranded_replica_problems(layout.assignment, ids + given, layout.registered)
    return found


def auto_ids(cluster: Cluster, states: dict[str, State]) -> list[int] | None:
    """The ids this run gives the "auto" hosts (deploys.tasks.broker_identity claims them
    after the roll lock is taken, by the same rules); None when not all can be given."""
    registry = fetch_registry(cluster, READ_SECONDS)
    if registry is None:
        return None
    assignment = assign_ids(cluster, states, registry)
    return None if assignment.problems else list(assignment.ids.values())


def refuse_unsafe_bake(inventory: Any, cluster: Cluster) -> None:
    """deploys/base_box.py: only fresh machines, never a host with a role, data or services."""

    def problems(states: dict[str, State]) -> list[Problem]:
        found = []
        for name, state in states.items():
            found += bake_problems(cluster.node(name), state)
        return found

    _once(inventory, "bake", problems, cluster)


def live_states(inventory: Any, cluster: Cluster) -> dict[str, State]:
    """LiveState of every host pyinfra connected to (a --limit run connects to fewer)."""
    active = set(inventory.get_active_hosts())
    return prepared_facts(
        [host for host in inventory if host in active],
        LiveState,
        lambda host: probe_paths(cluster.node(host.name)),
    )


def _once(
    inventory: Any,
    check: str,
    problems_of: Callable[[dict[str, State]], list[Problem]],
    cluster: Cluster,
) -> None:
    def judge() -> None:
        # pyinfra hands deploy code a context proxy; the object behind it is this run's.
        run = ctx_inventory.get() if isinstance(inventory, ContextObject) else inventory
        problems = problems_of(live_states(run, cluster))
        if problems:
            raise PyinfraError(refusal(check, problems))

    once_per_run(f"preflight-{check}", judge)


def refusal(check: str, problems: list[Problem]) -> str:
    """The error that stops a run before any change (``check``: "deploy" or "bake")."""
    what = f"the bake ({BAKE_REASON})" if check == "bake" else "this deploy"
    lines = "\n".join(f"  - {p}" for p in problems)
    return f"refusing {what}, nothing was changed; {len(problems)} problem(s):\n{lines}"
