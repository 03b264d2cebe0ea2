"""SCRAM credentials of Kafka users, set in ZooKeeper from one broker host with Kafka's
ConfigCommand (``--zookeeper``: it needs no broker, so the built-in users exist before any
broker starts with SASL between brokers).

A password never reaches a command line: each goes into a 0600 file under /run (uploaded
without showing it, host_files.secret_file) that ConfigCommand reads (--add-config-file) and
that is removed right after. Idempotent: the credentials in ZooKeeper are read while the
deploy is prepared and a user is set only if its stored key was not made from its password.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from pyinfra import host
from pyinfra.operations import server

from deploys.tasks.host_files import secret_file
from facts.scram import ScramCredentials
from kafkaform import programs, scram, security
from kafkaform.cluster import Cluster, Node
from kafkaform.settings import JAVA_BIN

STAGING = "/run/kafkaform/scram"  # tmpfs: a file left by an interrupted run is gone at boot
# ConfigCommand quotes a credential it cannot parse, password included: never let it through.
HIDE = "sed -E 's/password=.*/password=(hidden)/'"


def scram_host(cluster: Cluster) -> Node:
    """The host that sets the credentials: the first broker (it has Kafka's tools)."""
    return cluster.brokers[0]


def outdated(users: Mapping[str, str], found: Mapping[str, scram.Credential] | None) -> list[str]:
    """The users whose credential in ZooKeeper is missing or made from another password
    (all of them when the credentials could not be read)."""
    return [
        name
        for name, password in users.items()
        if found is None or not scram.matches(found.get(name), password)
    ]


def put_scram_users(
    cluster: Cluster,
    node: Node,
    users: Mapping[str, str],
    install: str,
    zookeeper_jvm_options: str = "",
) -> None:
    """Set each of ``users`` (name -> password) whose credential in ZooKeeper differs; on
    the cluster's scram_host only (a no-op call on the others)."""
    if node.name != scram_host(cluster).name or not users:
        return
    chroot = node.settings["zookeeper_chroot"]
    ensemble = cluster.zookeeper_connect()
    connect = shlex.quote(ensemble + chroot)
    tool = programs.tool_java(
        JAVA_BIN, install, f"{zookeeper_jvm_options} {programs.CONFIG_COMMAND}".strip()
    )
    configs = f"{tool} --zookeeper {connect}"
    current = f"{node.settings['kafka_install_root']}/current"
    live_tool = programs.tool_java(
        JAVA_BIN, current, f"{zookeeper_jvm_options} {programs.CONFIG_COMMAND}".strip()
    )
    found = host.get_fact(
        ScramCredentials,
        describe=f"{live_tool} --zookeeper {connect} --describe --entity-type users",
        install=current,
    )
    shell = programs.tool_java(
        JAVA_BIN,
        install,
        f"{zookeeper_jvm_options} {programs.ZOOKEEPER_SHELL}".strip(),
        heap="-Xmx64m",
    )
    # ConfigCommand cannot work under a chroot that does not exist yet (the first broker
    # makes it): made here first, on the first deploy.
    make_chroot = (
        f"{shell} -server {shlex.quote(ensemble)} create {shlex.quote(chroot)} >/dev/null 2>&1"
        " || true"
        if chroot
        else "true"
    )
    for name in outdated(users, found):
        staged = f"{STAGING}/{name}.properties"
        secret_file(
            name=f"SCRAM credential of {name}: staged (secret: content not shown)",
            text=scram.config_file_text(users[name]),
            dest=staged,
            mode="600",
            user="root",
            group="root",
        )
        q = shlex.quote
        server.shell(
            name=f"SCRAM credential of {name} set in ZooKeeper",
            commands=[
                f"{make_chroot}; out=$({configs} --alter --entity-type users"
                f" --entity-name {q(name)} --add-config-file {q(staged)} 2>&1); rc=$?;"
                f' rm -f {q(staged)}; printf "%s\\n" "$out" | {HIDE}; exit $rc'
            ],
        )


def builtin_users(settings: Mapping[str, object]) -> dict[str, str]:
    """The built-in users (security.BUILTIN_USERS) and their generated passwords."""
    return {user: security.scram_password(settings, user) for user in security.BUILTIN_USERS}
