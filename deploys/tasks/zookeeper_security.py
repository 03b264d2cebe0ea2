"""A secured ensemble's files on the hosts (kafkaform.zookeeper_security says what they hold):
the servers' TLS files and JAAS file, the ZooKeeper client files of the hosts' root-run tools
(roll lock, zookeeper-shell, the ACL migration), and Kafka's ZkSecurityMigrator, run once when
a plaintext cluster's znodes must get the secure ACLs. Every secret goes up with put_secret."""

from __future__ import annotations

import posixpath
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from deploys.tasks.host_files import ensure_directories, put_secret, put_text
from deploys.tasks.tls_files import put_tls_files
from kafkaform import pki, verify
from kafkaform.broker_ids import claims_path
from kafkaform.cluster import Cluster, Node
from kafkaform.roll_lock import LOCK_PATH
from kafkaform.settings import JAVA_BIN, zookeeper_clients_secured
from kafkaform.zookeeper_client import cluster_settings, protect_own_znodes
from kafkaform.zookeeper_security import (
    CLIENT_CA,
    CLIENT_DIR,
    CLIENT_JAAS,
    CLIENT_TLS_PROPERTIES,
    SERVER_PEM,
    client_tls_properties,
    migrator_command,
    properties_text,
    server_ca_path,
    server_has_security,
    server_jaas,
    server_jaas_path,
    server_tls_dir,
    zookeeper_client_jaas,
    zookeeper_client_port,
)


@dataclass(frozen=True)
class FilesChanged:
    """Files written by a helper that answers only "changed?" (put_tls_files), in the list of
    changes JavaService.run restarts on (it asks each one's did_change, as of an operation)."""

    did_change: Callable[[], bool]


def security_files(node: Node) -> tuple[list[Any], list[str]]:
    """A secured server's TLS files (its key and certificate in the one file ZooKeeper's PEM
    key store reads, the CAs it trusts) and its JAAS file: what tells that they changed, for
    the restart, and the files the server reads at start. Nothing at the plaintext stage (a
    rollout's first stage already needs them)."""
    s = node.settings
    if not server_has_security(s):
        return [], []
    group = s["zookeeper_user"]
    tls = server_tls_dir(s)
    jaas = server_jaas_path(s)
    changes = [
        FilesChanged(put_tls_files(node, tls, group)),
        put_secret("ZooKeeper JAAS (SASL users)", jaas, server_jaas(s), "640", "root", group),
    ]
    return changes, [f"{tls}/{SERVER_PEM}", server_ca_path(s), jaas]


def mode_fact_arguments(settings: dict) -> dict:
    """ZooKeeperMode's arguments: the port clients use, and the CA file to trust when that
    port speaks TLS."""
    port = zookeeper_client_port(settings)
    if not zookeeper_clients_secured(settings):
        return {"port": port}
    return {"port": port, "ca": server_ca_path(settings)}


def install_client_files(node: Node) -> None:
    """CLIENT_DIR (root only): the JAAS "Client" section (user "kafka"), the CA, and Kafka's
    ZooKeeper TLS client config, for the host's tools that reach a secured ensemble as root.
    Nothing on a plaintext cluster."""
    s = node.settings
    if not zookeeper_clients_secured(s):
        return
    ensure_directories([CLIENT_DIR], mode="700", user="root", group="root")
    put_secret("ZooKeeper client JAAS of the host's tools", CLIENT_JAAS,
               zookeeper_client_jaas(s), "600", "root", "root")  # fmt: skip
    put_text("ZooKeeper client CA of the host's tools", CLIENT_CA, pki.host_tls(node).ca_pem,
             "644", "root", "root")  # fmt: skip
    put_text("ZooKeeper client TLS config of the host's tools", CLIENT_TLS_PROPERTIES,
             properties_text(client_tls_properties(CLIENT_CA)), "644", "root", "root")  # fmt: skip


def migrate_znode_acls(
    cluster: Cluster, node: Node, install: str, secure: bool = True
) -> OperationMeta:
    """Kafka's ZkSecurityMigrator from this host: every znode under Kafka's chroot gets
    sasl:kafka (all) and world (read), or (``secure=False``) is opened to everyone again. For
    the live rollout (deploys/tasks/rollout.py), on one broker host with the client files
    (install_client_files); no secret is on the command line."""
    what = "Secure ACLs on" if secure else "Open ACLs again on"
    return server.shell(
        name=f"{what} Kafka's znodes (ZkSecurityMigrator)",
        commands=[migrator_command(cluster, node, install, JAVA_BIN, secure)],
    )


def protect_kafkaform_znodes(cluster: Cluster, secure: bool = True) -> None:
    """On the control machine (python.call, beside migrate_znode_acls): kafkaform's own
    znodes, which Kafka's migrator does not know (the roll lock's parent, the broker-id
    claims), get the same ACLs."""
    chroot = cluster_settings(cluster)["zookeeper_chroot"]
    roots = [posixpath.dirname(LOCK_PATH), posixpath.dirname(claims_path(chroot))]
    client = verify.cluster_zk(cluster)
    try:
        changed = protect_own_znodes(client, roots, secure)
    finally:
        client.stop()
        client.close()
    print(f"    kafkaform's znodes given the {'secure' if secure else 'open'} ACL: {changed}",
          file=sys.stderr)  # fmt: skip
