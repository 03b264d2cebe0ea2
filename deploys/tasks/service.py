"""Shared shape of our two JVM services: unit, first start, safe rolling restart."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from kafkaform.settings import JAVA_BIN
from kafkaform.templating import JINJA_OPTIONS, template_path

SCRIPT_DIR = "/usr/local/sbin"


def unit(service: str, **variables) -> OperationMeta:
    return files.template(
        name=f"systemd unit {service}.service",
        src=template_path("common/java-service.service.j2"),
        dest=f"/etc/systemd/system/{service}.service",
        mode="644",
        java_bin=JAVA_BIN,
        jinja_env_kwargs=JINJA_OPTIONS,
        **variables,
    )


def safe_restart_script(service: str, template: str, **variables) -> OperationMeta:
    return files.template(
        name=f"Safe restart script {service}-safe-restart",
        src=template_path(template),
        dest=f"{SCRIPT_DIR}/{service}-safe-restart",
        mode="755",
        java_bin=JAVA_BIN,
        jinja_env_kwargs=JINJA_OPTIONS,
        **variables,
    )


def run_service(
    service: str, unit_op: OperationMeta, changes: list[OperationMeta], last: str | None = None
) -> None:
    """Start a stopped service and wait for it; restart a running one only if something changed.

    Restarts are serial (one host at a time) and each waits until the service is healthy
    again: that is what keeps a rolling change from taking the cluster down. ``last`` (a
    reason, e.g. "the ZooKeeper leader") puts this host's restart after all the others', so
    the role it holds moves once instead of at every step.
    """
    was_running = host.get_fact(SystemdStatus).get(f"{service}.service", False)
    systemd.daemon_reload(name="Reload systemd units", _if=unit_op.did_change)
    if was_running:
        systemd.service(
            name=f"Enable {service} at boot",
            service=f"{service}.service",
            enabled=True,
            running=True,
        )
        restart = {
            "commands": [f"{SCRIPT_DIR}/{service}-safe-restart"],
            "_serial": True,
            "_if": any_changed(unit_op, *changes),
        }
        # pyinfra orders operations by source line: the "last" call must stay below.
        if not last:
            server.shell(name=f"Restart {service} safely (one host at a time)", **restart)
        else:
            server.shell(name=f"Restart {service} safely ({last} last)", **restart)
    else:
        systemd.service(
            name=f"Start and enable {service}",
            service=f"{service}.service",
            running=True,
            enabled=True,
        )
        server.shell(
            name=f"Wait until {service} is healthy",
            commands=[f"{SCRIPT_DIR}/{service}-safe-restart --wait-only"],
        )
