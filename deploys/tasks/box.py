"""What only a box bake does: both service users up front, then the host identity removed.

The scrub is the bake's last step: it deletes the SSH host keys, the machine-id and every
per-host file (myid, broker.id, data, logs, package caches), so each machine started from
the box makes its own on first boot and gets its ids from its own deploy.
"""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.operations import files, server

from deploys.tasks.common import host_platform
from kafkaform.cluster import Node
from kafkaform.dockerd import VAGRANT_INSECURE_KEY

# Debian's ssh.service checks its config with `sshd -t`, which fails without host keys: the
# list is rebuilt so keys are made first (EL's sshd-keygen units already do this).
SSH_KEYGEN_DROPIN = (
    "[Service]\nExecStartPre=\n"
    "ExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"
)
CACHE_CLEAN = {
    "apt": "apt-get clean && rm -rf /var/lib/apt/lists/*",
    "yum": "yum clean all -q && rm -rf /var/cache/yum",
    "dnf": "dnf clean all -q && rm -rf /var/cache/dnf",
}


def scrub_script(node: Node, family: str) -> str:
    s = node.settings
    q = shlex.quote
    per_host = [
        f"{s['zookeeper_data_dir']}/myid",
        f"{s['zookeeper_data_dir']}/version-2",
        f"{s['zookeeper_datalog_dir']}/version-2",
        f"{s['kafka_config_dir']}/server.properties",
        f"{s['zookeeper_config_dir']}/zoo.cfg",
        s["download_dir"],
    ]
    # meta.properties holds broker.id: empty the data dirs (the glob stays outside the quotes).
    contents = [f"{q(d)}/*" for d in s["kafka_data_dirs"]]
    steps = [
        "set -e",
        CACHE_CLEAN[family],
        "rm -rf " + " ".join([*(q(p) for p in per_host), *contents]),
        "rm -f /etc/ssh/ssh_host_*",
        # Empty, not absent: systemd then makes a new id on the next boot.
        "truncate -s 0 /etc/machine-id",
        "if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then "
        "rm -f /var/lib/dbus/machine-id; fi",
        "rm -f /etc/udev/rules.d/70-persistent-net.rules",
        "if command -v cloud-init >/dev/null; then cloud-init clean --logs; fi",
        "find /var/log -type f -delete",
        "rm -rf /tmp/* /var/tmp/* /root/.bash_history /home/*/.bash_history",
        # The baker's login key is not the box's: Vagrant boxes take Vagrant's public one.
        "rm -f /root/.ssh/authorized_keys",
        "if [ -d /home/vagrant/.ssh ]; then "
        f"echo {q(VAGRANT_INSECURE_KEY)} > /home/vagrant/.ssh/authorized_keys; fi",
    ]
    if family != "apt":
        steps.append(
            "sed -i '/^HWADDR=/d;/^UUID=/d' /etc/sysconfig/network-scripts/ifcfg-e* 2>/dev/null "
            "|| true"
        )
    return " && ".join(steps)


@deploy("Remove the host identity")
def scrub_identity(node: Node) -> None:
    family = host_platform().family
    if family == "apt":
        files.put(
            name="sshd makes its host keys at boot",
            src=_text(SSH_KEYGEN_DROPIN),
            dest="/etc/systemd/system/ssh.service.d/kafkaform-host-keys.conf",
            mode="644",
        )
    server.shell(
        name="Remove host keys, machine-id, per-host files, logs and package caches",
        commands=[scrub_script(node, family)],
    )


def _text(content: str):
    from io import StringIO

    return StringIO(content)
