"""What every host gets: its platform, one package transaction, kernel settings, open-file
limits, service users; and the shape of a daemon kept running."""

import os
import shlex
from collections.abc import Iterable

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, dnf, server, systemd, yum

from deploys.tasks.host_files import changed, ensure_directories, listed, put_template
from facts.host import Account, ContainerVirtualization
from kafkaform.cluster import Node
from kafkaform.deploy_support import prepared_fact
from kafkaform.platforms import Platform, UnsupportedPlatform, platform_for
from kafkaform.settings import CENTOS7_VAULT

SYSCTL_FILE = "/etc/sysctl.d/60-kafkaform.conf"
LIMITS_FILE = "/etc/security/limits.d/60-kafkaform.conf"


def host_platform() -> Platform:
    try:
        return platform_for(prepared_fact(LinuxDistribution))
    except UnsupportedPlatform as error:
        raise PyinfraError(f"{host.name}: {error}") from None


def missing_packages(platform: Platform, packages: Iterable[str]) -> list[str]:
    """Those of ``packages`` the host does not have (as it was before this run)."""
    if platform.family == "apt":
        from pyinfra.facts.deb import DebPackages as Installed
    else:
        from pyinfra.facts.rpm import RpmPackages as Installed
    installed = prepared_fact(Installed)
    return [p for p in dict.fromkeys(packages) if p not in installed]


def install_packages(platform: Platform, missing: list[str], name: str) -> None:
    """One package manager transaction for ``missing`` (see ``missing_packages``), none at
    all when it is empty, so a converged host runs no package manager."""
    if not missing:
        return
    if platform.family == "apt":
        apt.packages(name=name, packages=missing, update=True, cache_time=3600, no_recommends=True)
    else:
        op = yum.packages if platform.family == "yum" else dnf.packages
        op(name=name, packages=missing)


@deploy("Prepare the OS")
def point_yum_at_the_vault() -> None:
    """CentOS 7's mirrors are gone: its repositories must name the vault before any install."""
    put_template(
        "Point CentOS 7 repositories at the vault",
        "common/centos7-vault.repo.j2",
        "/etc/yum.repos.d/CentOS-Base.repo",
        vault=CENTOS7_VAULT,
    )


@deploy("Prepare the OS")
def prepare_os(node: Node) -> None:
    listed([os.path.dirname(SYSCTL_FILE), os.path.dirname(LIMITS_FILE)])  # in one command
    sysctl = put_template(
        "Kernel settings for Kafka and ZooKeeper",
        "common/sysctl.conf.j2",
        SYSCTL_FILE,
        sysctl=node.settings["sysctl"],
    )
    if sysctl and prepared_fact(ContainerVirtualization) is None:
        server.shell(
            name="Apply kernel settings",
            commands=[f"sysctl -p {shlex.quote(SYSCTL_FILE)}"],
            _if=sysctl.did_change,
        )
    # In a container /proc/sys is the host's and read-only: the file is in place for
    # when this image runs on a VM, and the container host owns the kernel settings.

    box = node.data.get("base_box") is True  # a box may become either: limits for both
    users = [
        node.settings[k]
        for k, role in (
            ("kafka_user", node.kafkaid is not None or box),
            ("zookeeper_user", node.zookeeper or box),
        )
        if role
    ]
    put_template(
        "Open-file limits for the service users",
        "common/limits.conf.j2",
        LIMITS_FILE,
        users=users,
        nofile_limit=node.settings["nofile_limit"],
    )


NOLOGIN = "/usr/sbin/nologin"


@deploy("Create a service user")
def service_user(name: str, home: str) -> None:
    """A system user and its own group, no login. An account already as wanted gets no
    operation (pyinfra's user operation reads every account of the host first)."""
    if prepared_fact(Account, user=name) == {"group": name, "home": home, "shell": NOLOGIN}:
        return
    server.group(name=f"Group {name}", group=name, system=True)
    server.user(
        name=f"User {name} (no login)",
        user=name,
        group=name,
        home=home,
        shell=NOLOGIN,
        system=True,
        create_home=False,
        ensure_home=False,
    )


def directories(owner: str, paths: list[str], mode: str = "750") -> None:
    ensure_directories(paths, mode=mode, user=owner, group=owner)


def serve_daemon(unit: str, restart: list[OperationMeta | None]) -> None:
    """Keep a daemon enabled and running; restart it when ``restart`` ops changed (None: a
    file already right). Checked configs reload their daemon themselves
    (deploys/tasks/checked_config.py)."""
    systemd.service(
        name=f"Start and enable {unit}", service=f"{unit}.service", running=True, enabled=True
    )
    if any(op is not None for op in restart):
        systemd.service(
            name=f"Restart {unit} on a change",
            service=f"{unit}.service",
            restarted=True,
            _if=changed(*restart),
        )
