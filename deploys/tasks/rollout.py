"""This run's step of a live security rollout (kafkaform.rollout), planned once from the
preflight's live states and printed once; and the znode ACL changes that go with two steps:

- secured: once every broker logs in to ZooKeeper and sets ACLs on what it creates (the
  inter_broker_secured stage on), Kafka's ZkSecurityMigrator gives the znodes that existed
  before the same ACLs, after the roll; kafkaform's own znodes follow;
- opened: before the brokers stop logging in to ZooKeeper (a step back below
  kafka_secure_listeners), every znode is opened again, before the roll.

Whether the znodes are secured is read from ZooKeeper when the run is planned (the ACL of
Kafka's /brokers), so a run interrupted between the roll and the migration does it next time.
"""

from __future__ import annotations

import sys

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_inventory
from pyinfra.operations import python

from deploys.tasks.preflight import live_states, refusal
from deploys.tasks.zookeeper import admin_password
from deploys.tasks.zookeeper_security import migrate_znode_acls, protect_kafkaform_znodes
from facts.rollout import StartedBeforeConfig
from kafkaform import security, verify
from kafkaform.cluster import Cluster, Node
from kafkaform.deploy_support import once_per_run, prepared_facts
from kafkaform.ensemble_config import wanted_members
from kafkaform.ensemble_lists import committed
from kafkaform.ensemble_reconfig import reconfig, same_member
from kafkaform.rollout import RolloutPlan, plan_rollout
from kafkaform.settings import zookeeper_clients_secured
from kafkaform.zookeeper_client import cluster_settings, secure_acls


def config_files(node: Node) -> dict[str, str]:
    """service -> the config file whose step the rollout reads (facts.live reads the same)."""
    s, files = node.settings, {}
    if node.zookeeper:
        files["zookeeper"] = f"{s['zookeeper_config_dir']}/zoo.cfg"
    if node.kafkaid is not None:
        files["kafka"] = f"{s['kafka_config_dir']}/server.properties"
    return files


def rollout_plan(cluster: Cluster) -> RolloutPlan:
    def compute() -> RolloutPlan:
        inventory = ctx_inventory.get()
        states = live_states(inventory, cluster)
        complete = all(h.name in states for h in inventory)
        behind = prepared_facts(
            [h for h in inventory if h.name in states],
            StartedBeforeConfig,
            lambda h: {"configs": config_files(cluster.node(h.name))},
        )
        plan = plan_rollout(cluster, states, complete, behind)
        if plan.problems:
            raise PyinfraError(refusal("deploy", list(plan.problems)))
        message = plan.describe()
        if message:
            print(message, file=sys.stderr, flush=True)  # stdout may be --json
        return plan

    return once_per_run("security-rollout", compute)


def staged_cluster(cluster: Cluster) -> Cluster:
    """The cluster whose hosts' settings say this run's rollout step (the same cluster when
    no rollout is under way or held)."""
    return rollout_plan(cluster).apply(cluster)


def znodes_secured(cluster: Cluster) -> bool | None:
    """Whether Kafka's /brokers has the secure ACL (None: no Kafka znodes yet), read once."""

    def read() -> bool | None:
        client = verify.cluster_zk(cluster)
        try:
            path = f"{cluster_settings(cluster)['zookeeper_chroot']}/brokers"
            if not client.exists(path):
                return None
            acls, _ = client.get_acls(path)
            return list(acls) == secure_acls()
        finally:
            client.stop()
            client.close()

    return once_per_run("znodes-secured", read)


def wanted_znode_acls(cluster: Cluster, node: Node) -> bool | None:
    """The ACLs the znodes must get in this run (True: secure, False: open), or None."""
    plan = rollout_plan(cluster)
    if not plan.staged and not plan.positions:
        return None  # a new cluster: its brokers create their znodes as their level says
    if not zookeeper_clients_secured(node.settings):
        return None  # below the steps that may have secured them
    secure = security.stage_of(node.settings).zookeeper_acls
    opened = not security.stage_of(node.settings).secured
    if not secure and not opened:
        return None  # kafka_secure_listeners: brokers log in, leave the ACLs as they are
    current = znodes_secured(cluster)
    if current is None or current == secure:
        return None
    return secure


def open_znodes_before_roll(cluster: Cluster, node: Node, install: str) -> None:
    """A step back to brokers that do not log in to ZooKeeper: every znode opened first."""
    set_znode_acls(cluster, node, install, secure=False)


def secure_znodes_after_roll(cluster: Cluster, node: Node, install: str) -> None:
    """Once every broker sets ACLs on its znodes: those made before get them too."""
    set_znode_acls(cluster, node, install, secure=True)


def set_znode_acls(cluster: Cluster, node: Node, install: str, secure: bool) -> None:
    """Kafka's znodes (its migrator, on the first broker) and kafkaform's own (from the
    control machine), when this run needs them ``secure`` or open and they are not."""
    if node.name != cluster.brokers[0].name or wanted_znode_acls(cluster, node) is not secure:
        return
    migrate_znode_acls(cluster, node, install, secure=secure)
    python.call(
        name=f"kafkaform's znodes given the {'secure' if secure else 'open'} ACL",
        function=protect_kafkaform_znodes,
        cluster=cluster,
        secure=secure,
    )


def member_client_addresses(cluster: Cluster, node: Node) -> None:
    """Where the members bind the plain client port (every address, or loopback once the
    servers close it: the last rollout step) is in ZooKeeper's own member lines, which only a
    reconfig changes; the server binds it at its next start (the roll that follows). One
    reconfig from the control machine, before the servers' roll, when the committed lines
    differ from this run's in that only."""
    if not cluster.ensemble or node.name != cluster.ensemble[0].name:
        return
    found = committed(live_states(ctx_inventory.get(), cluster))
    current, wanted = (found[1] if found else {}), wanted_members(cluster)
    if set(current) != set(wanted):
        return  # a membership change: the ensemble's own step renders its lines
    changed = {z: v for z, v in wanted.items() if not same_member(current[z], v)}
    if not changed:
        return
    python.call(
        name="ZooKeeper members' plain client address (reconfig, bound at the next start)",
        function=reconfig_members,
        cluster=cluster,
        members=changed,
    )


def reconfig_members(cluster: Cluster, members: dict[int, str]) -> None:
    hosts = cluster.zookeeper_connect()
    result = reconfig(cluster_settings(cluster), hosts, admin_password(cluster), joining=members)
    print(f"    member lines now: {[result[z] for z in sorted(result)]}", file=sys.stderr)
