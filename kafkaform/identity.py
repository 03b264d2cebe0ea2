"""What makes a machine one particular host, and how each kind of image leaves it out.

A box, a lab base or a Docker image is copied onto many machines: none may carry one host's
SSH host keys, machine-id (and D-Bus's copy of it), login keys, logs or caches. Each machine
makes its own on first boot (systemd writes an empty machine-id, the drop-in below makes
host keys). The users: the bake's scrub (deploys/tasks/box.py), the lab's base rootfs and
box export (kafkaform.lab.rootfs, kafkaform.lab.export) and the Docker image
(kafkaform.dockerd). Standard library only.
"""

from __future__ import annotations

import shlex
from pathlib import Path

HOST_KEYS = "/etc/ssh/ssh_host_*"
MACHINE_ID = "/etc/machine-id"
DBUS_MACHINE_ID = "/var/lib/dbus/machine-id"
ROOT_AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"
JOURNAL = "/var/log/journal"
UDEV_NET_RULES = "/etc/udev/rules.d/70-persistent-net.rules"  # pins NIC names to MACs (EL 7)
# Package caches and lists: stale on every machine started from the image, and large. The
# stamp of the last `apt-get update` goes with the lists: left behind, it would tell the next
# install within the hour (pyinfra's cache_time) that lists it no longer has are fresh.
PACKAGE_CACHE_CLEAN = {
    "apt": (
        "apt-get clean && rm -rf /var/lib/apt/lists/*"
        " && rm -f /var/lib/apt/periodic/update-success-stamp"
    ),
    "yum": "yum clean all -q && rm -rf /var/cache/yum",
    "dnf": "dnf clean all -q && rm -rf /var/cache/dnf",
}

# Debian's ssh.service checks its config with `sshd -t`, which fails without host keys: the
# ExecStartPre list is rebuilt so keys are made first (EL's sshd-keygen units already do this).
SSH_KEYGEN_DROPIN_PATH = "/etc/systemd/system/ssh.service.d/kafkaform-host-keys.conf"
SSH_KEYGEN_DROPIN = (
    "[Service]\nExecStartPre=\n"
    "ExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"
)

# Public by design: every Vagrant box accepts it until Vagrant swaps in a per-machine key.
VAGRANT_INSECURE_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niN"
    "ltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMz"
    "F8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiY"
    "JnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVY"
    "CzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key"
)
VAGRANT_AUTHORIZED_KEYS = "/home/vagrant/.ssh/authorized_keys"


def _within(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def authorize_vagrant_key() -> str:
    """Shell: Vagrant's public key as the vagrant user's only login key."""
    return f"echo {shlex.quote(VAGRANT_INSECURE_KEY)} > {VAGRANT_AUTHORIZED_KEYS}"


def scrub_commands(family: str) -> list[str]:
    """Shell steps that remove the identity from a machine that ran (a bake's last step);
    ``family`` is the package manager (apt, yum, dnf), which tells Debian from EL."""
    dbus = DBUS_MACHINE_ID
    steps = [
        f"rm -f {HOST_KEYS}",
        # Empty, not absent: systemd then makes a new id on the next boot.
        f"truncate -s 0 {MACHINE_ID}",
        f"if [ -f {dbus} ] && [ ! -L {dbus} ]; then rm -f {dbus}; fi",
        f"rm -f {UDEV_NET_RULES}",
        "if command -v cloud-init >/dev/null; then cloud-init clean --logs; fi",
        "find /var/log -type f -delete",
        "rm -rf /tmp/* /var/tmp/* /root/.bash_history /home/*/.bash_history",
        # The baker's login key is not the box's: Vagrant boxes take Vagrant's public one.
        f"rm -f {ROOT_AUTHORIZED_KEYS}",
        f"if [ -d {Path(VAGRANT_AUTHORIZED_KEYS).parent} ]; then {authorize_vagrant_key()}; fi",
    ]
    if family != "apt":
        # EL's interface files pin the NIC's MAC address and the connection's UUID.
        steps.append(
            "sed -i '/^HWADDR=/d;/^UUID=/d' /etc/sysconfig/network-scripts/ifcfg-e* 2>/dev/null "
            "|| true"
        )
    return steps


def vagrant_login_commands() -> list[str]:
    """Shell steps that give an image Vagrant's login and no root login key of this machine."""
    home = Path(VAGRANT_AUTHORIZED_KEYS).parent
    return [
        "useradd --create-home --shell /bin/bash vagrant",
        f"install -d -m 700 -o vagrant -g vagrant {home}",
        authorize_vagrant_key(),
        f"chown vagrant:vagrant {VAGRANT_AUTHORIZED_KEYS}",
        f"chmod 600 {VAGRANT_AUTHORIZED_KEYS}",
        "echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/vagrant",
        "chmod 440 /etc/sudoers.d/vagrant",
        f"rm -f {ROOT_AUTHORIZED_KEYS}",
    ]


def scrub_root(root: Path) -> None:
    """Leave the identity out of a root filesystem on this machine that has never booted
    (the lab's base): no host keys (made at boot by the drop-in), an empty machine-id and
    D-Bus's id pointing at it."""
    for key in _within(root, HOST_KEYS).parent.glob(Path(HOST_KEYS).name):
        key.unlink()
    dropin = _within(root, SSH_KEYGEN_DROPIN_PATH)
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(SSH_KEYGEN_DROPIN)
    _within(root, MACHINE_ID).write_text("")
    dbus_id = _within(root, DBUS_MACHINE_ID)
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
        dbus_id.symlink_to(MACHINE_ID)


def made_at_boot() -> list[str]:
    """Patterns (relative, as tar names them: ./etc/...) of the identity a booted host made
    itself after its image was scrubbed: an export of its disk leaves them out."""
    return [f".{MACHINE_ID}", f".{HOST_KEYS}", f".{JOURNAL}/*"]
