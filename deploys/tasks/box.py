"""What only a box bake does after the installation: the host identity removed.

The scrub is the bake's last step: it deletes the SSH host keys, the machine-id and every
per-host file (myid, broker.id, data, logs, package caches), so each machine started from
the box makes its own on first boot and gets its ids from its own deploy.
"""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.operations import server

from deploys.tasks.common import host_platform
from deploys.tasks.host_files import put_text
from kafkaform import identity
from kafkaform.cluster import Node
from kafkaform.ensemble_config import BOOTSTRAP_FILE, JOIN_FILE, SECRET_FILE


def scrub_script(node: Node, family: str) -> str:
    s = node.settings
    q = shlex.quote
    per_host = [
        f"{s['zookeeper_data_dir']}/myid",
        f"{s['zookeeper_data_dir']}/version-2",
        f"{s['zookeeper_datalog_dir']}/version-2",
        f"{s['kafka_config_dir']}/server.properties",
        f"{s['zookeeper_config_dir']}/zoo.cfg",
        # The membership files and the kafkaform ZooKeeper user's password.
        *(
            f"{s['zookeeper_config_dir']}/{name}"
            for name in (JOIN_FILE, BOOTSTRAP_FILE, SECRET_FILE)
        ),
        s["download_dir"],
    ]
    # meta.properties holds broker.id: empty the data dirs (the glob stays outside the quotes);
    # ZooKeeper's working config and committed memberships likewise.
    contents = [f"{q(d)}/*" for d in [*s["kafka_data_dirs"], s["zookeeper_dynamic_dir"]]]
    steps = [
        "set -e",
        identity.PACKAGE_CACHE_CLEAN[family],
        "rm -rf " + " ".join([*(q(p) for p in per_host), *contents]),
        *identity.scrub_commands(family),
    ]
    return " && ".join(steps)


@deploy("Remove the host identity")
def scrub_identity(node: Node) -> None:
    family = host_platform().family
    if family == "apt":
        put_text(
            "sshd makes its host keys at boot",
            identity.SSH_KEYGEN_DROPIN_PATH,
            identity.SSH_KEYGEN_DROPIN,
            mode="644",
        )
    server.shell(
        name="Remove host keys, machine-id, per-host files, logs and package caches",
        commands=[scrub_script(node, family)],
    )
