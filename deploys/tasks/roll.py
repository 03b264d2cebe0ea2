"""The rules of changing a live cluster, enforced for the whole pyinfra run.

- Every host of the inventory (or of an explicit ``--limit``) answers before anything changes.
- No command-line mode may run a roll's steps on several hosts at once.
- The run stops at the first failed operation: a failed restart never lets the roll carry on
  to the next host (pyinfra's own serial loop would).
- One cluster-wide roll lock, an ephemeral znode held by this run's ZooKeeper session for the
  whole run; the safe-restart scripts on the hosts check it (or take it when run by hand).
- The active controller is read here so that its host restarts last.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import BaseStateCallback
from pyinfra.context import ctx_state
from pyinfra.facts.systemd import SystemdStatus

from deploys.tasks.host_files import ensure_directories, put_template
from deploys.tasks.zookeeper_security import install_client_files
from kafkaform import programs, roll_lock
from kafkaform.cluster import Cluster
from kafkaform.deploy_support import once_per_run, prepared_facts
from kafkaform.roll_lock import LOCK_PATH
from kafkaform.settings import JAVA_BIN
from kafkaform.zookeeper_client import cluster_settings
from kafkaform.zookeeper_security import shell_jvm_options

LIB_DIR = "/usr/local/lib/kafkaform"  # what the safe-restart scripts source or run
ROLL_LIBRARY = f"{LIB_DIR}/roll.sh"
# pyinfra flags that would run the steps of a roll on several hosts at once, or stop it from
# ending at the first failure.
PARALLEL_FLAGS = ("--no-wait", "--serial")


class StopAtFirstFailure(BaseStateCallback):
    """pyinfra goes on with the other hosts after one fails; a roll must not."""

    @staticmethod
    def operation_host_error(state, host, op_hash, retry_count=0, max_retries=0):
        meta = state.get_op_meta(op_hash)
        if meta.global_arguments.get("_serial"):
            # Raised inside the serial loop: no later host runs this step.
            raise PyinfraError(stop_message(host.name, ", ".join(meta.names)))

    @staticmethod
    def operation_end(state, op_hash):
        if state.failed_hosts:
            names = ", ".join(sorted(h.name for h in state.failed_hosts))
            meta = state.get_op_meta(op_hash)
            raise PyinfraError(stop_message(names, ", ".join(meta.names)))


def stop_message(hosts: str, operation: str) -> str:
    return (
        f"kafkaform stopped the run: '{operation}' failed on {hosts} (its output is above); "
        "no later step ran on any host. Fix the cause on that host (for a service: "
        "journalctl -u <service>), then run the same command again: it completes what this "
        "run started."
    )


def refuse_parallel_flags(argv: list[str]) -> None:
    used = [arg for arg in argv if arg in PARALLEL_FLAGS]
    if used:
        raise PyinfraError(
            f"{' '.join(used)}: kafkaform restarts services one host at a time and stops at "
            "the first failure; these pyinfra modes would break that. Run without them."
        )


def refuse_unreachable(failed_hosts: Any) -> None:
    if failed_hosts:
        names = ", ".join(sorted(h.name for h in failed_hosts))
        raise PyinfraError(
            f"cannot connect to {names}: nothing was changed on any host. A deploy changes the "
            "cluster as a whole; bring the host back, or leave it out explicitly with "
            "--limit (e.g. --limit kafka-1 --limit kafka-2)."
        )


@dataclass
class RollSession:
    """This run's hold on the cluster: the lock token the hosts check, the controller."""

    token: str | None  # None: nothing ran yet, so nothing can be rolled (first deploy)
    controller: int | None = None
    # The kazoo client holding the lock (None with no token): other steps that need
    # ZooKeeper during the run's preparation use it (deploys/tasks/broker_identity.py).
    client: Any = field(default=None, repr=False, compare=False)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # stdout may be --json


class ReleaseAtDisconnect(BaseStateCallback):
    """The run is over when pyinfra disconnects (after success or failure): let go of the
    lock at once rather than when the process's session expires."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def host_disconnect(self, state, host):
        roll_lock.release(self.client)


def open_session(
    cluster: Cluster, running: bool, wait_seconds: float, progress=_progress
) -> RollSession:
    """Take the roll lock (waiting up to ``wait_seconds`` for a holder to finish).

    ``running``: whether any ZooKeeper or Kafka service runs on the hosts; if none does there
    is nothing to roll and no ZooKeeper to hold a lock in.
    """
    if not running:
        return RollSession(token=None)
    hosts = cluster.zookeeper_connect()
    try:
        client = roll_lock.lock_client(hosts, cluster_settings(cluster))
    except Exception as error:  # kazoo raises its own timeout type
        raise PyinfraError(
            f"cannot reach ZooKeeper ({hosts}) from this machine to take the roll lock "
            f"({error}); services run on the hosts, so a change could restart them. Check "
            "that the ensemble serves (echo srvr | nc HOST 2181) and that this machine "
            "reaches the client port."
        ) from None
    atexit.register(roll_lock.release, client)
    ctx_state.get().add_callback_handler(ReleaseAtDisconnect(client))
    token = uuid.uuid4().hex
    try:
        roll_lock.take(
            client,
            roll_lock.holder_text("deploy", token),
            wait_seconds,
            lambda holder: progress(f"--> Waiting for the roll lock, held by: {holder}"),
        )
    except roll_lock.LockHeld as held:
        raise PyinfraError(
            f"the cluster's roll lock ({LOCK_PATH}) is held by: {held.holder}. Another "
            "deploy, a hand-run safe-restart or a rebalance is changing the cluster; wait for "
            "it and run again. (A holder that was killed lets go within "
            f"{roll_lock.SESSION_TIMEOUT:.0f}s.)"
        ) from None
    return RollSession(token=token, controller=_controller(client, cluster), client=client)


def _controller(client: Any, cluster: Cluster) -> int | None:
    from kazoo.exceptions import NoNodeError

    chroot = cluster.brokers[0].settings["zookeeper_chroot"] if cluster.brokers else ""
    try:
        data = client.get(f"{chroot}/controller")[0]
    except NoNodeError:
        return None
    try:
        return int(json.loads(data)["brokerid"])
    except (ValueError, KeyError, TypeError):
        return None


def cli_argv() -> list[str]:
    """The pyinfra command line, when run by the CLI (empty under the API and in tests)."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return sys.argv[1:] if program in ("pyinfra", "__main__.py") else []


def guard_run() -> None:
    """Once per run: refuse parallel modes and missing hosts; stop at the first failure."""

    def guard() -> None:
        state = ctx_state.get()
        refuse_parallel_flags(cli_argv())
        refuse_unreachable(state.failed_hosts)
        state.add_callback_handler(StopAtFirstFailure())

    once_per_run("guard", guard)


def roll_session(cluster: Cluster) -> RollSession:
    """Once per run, before any operation: the run guard, then the roll lock if anything runs.
    (Every host's deploy file asks; only the first opens a session, so a run never queues
    for the lock it holds itself.)"""
    guard_run()

    def open_for_run() -> RollSession:
        hosts = ctx_state.get().inventory.get_active_hosts()
        running = any(
            units.get(f"{unit}.service")
            for units in prepared_facts(hosts, SystemdStatus).values()
            for unit in ("zookeeper", "kafka")
        )
        wait = max(n.settings["roll_lock_wait_seconds"] for n in cluster.nodes)
        return open_session(cluster, running, wait)

    return once_per_run("roll-session", open_for_run)


def install_roll_library(cluster: Cluster, install: str) -> OperationMeta | None:
    """The shell functions both safe-restart scripts source: the roll lock, unit waits; on a
    secured cluster with the ZooKeeper client files the lock's zookeeper-shell reads."""
    ensure_directories([LIB_DIR])
    install_client_files(cluster.node(host.name))
    # TLS and the client files' JAAS on a secured cluster (nothing on a plaintext one).
    zk_options = shell_jvm_options(cluster_settings(cluster))
    zk_options = f" {zk_options}" if zk_options else ""
    return put_template(
        "Roll functions for the safe-restart scripts",
        "roll/roll.sh.j2",
        ROLL_LIBRARY,
        mode="644",
        lock_path=LOCK_PATH,
        ensemble=shlex.quote(cluster.zookeeper_connect()),
        java_bin=JAVA_BIN,
        tool_jvm_options=programs.TOOL_JVM_OPTIONS,
        zk_client_options=zk_options,
        zookeeper_shell=programs.ZOOKEEPER_SHELL,
        classpath=f"{install}/libs/*",
        tools_log4j=f"{install}/config/tools-log4j.properties",
    )
