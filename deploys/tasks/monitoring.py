"""A monitoring host: Prometheus (scrape config and alert rules from the inventory),
Alertmanager and the consumer lag exporter. Debian/Ubuntu packages and units."""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import files, systemd

from deploys.tasks.checked_config import place_checked
from deploys.tasks.common import serve_daemon, service_user
from kafkaform import lag_exporter as lag_exporter_program
from kafkaform import monitoring
from kafkaform.candidates import Candidate, staging_dir
from kafkaform.cluster import Cluster, Node
from kafkaform.platforms import Platform
from kafkaform.templating import JINJA_OPTIONS, render, template_path

PACKAGES = [
    "prometheus",
    monitoring.ALERTMANAGER_UNIT,
    "python3-confluent-kafka",
    "python3-prometheus-client",
]
LAG_SCRIPT = "/usr/local/lib/kafkaform/kafka-lag-exporter"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
ALERTMANAGER_CONFIG = "/etc/prometheus/alertmanager.yml"


def _template(name: str, src: str, dest: str, mode: str = "644", **variables):
    return files.template(
        name=name,
        src=template_path(src),
        dest=dest,
        mode=mode,
        jinja_env_kwargs=JINJA_OPTIONS,
        **variables,
    )


def packages(node: Node, platform: Platform) -> list[str]:
    """What a monitoring host installs (in its one package transaction: tasks/install.py)."""
    if platform.family != "apt":
        raise PyinfraError(
            f"{node.name}: monitoring: True needs a Debian or Ubuntu host (Prometheus, "
            "Alertmanager and the lag exporter come from their packages)"
        )
    return PACKAGES


@deploy("Monitoring host")
def configure_monitoring(cluster: Cluster, node: Node) -> None:
    """After the installation (deploys/tasks/install.py), which refuses a non-Debian host."""
    prometheus(cluster, node)
    alertmanager(cluster, node)
    lag_exporter(cluster, node)


def prometheus(cluster: Cluster, node: Node) -> None:
    s = node.settings
    files.directory(name=f"Directory {monitoring.RULES_DIR}", path=monitoring.RULES_DIR, mode="755")
    # prometheus.yml names its rules relatively (rules/*.rules.yml): staged side by side,
    # promtool checks the candidate config with the candidate rules.
    config = monitoring.prometheus_config(cluster, node)
    candidates = [Candidate("prometheus.yml", PROMETHEUS_CONFIG, config)] + [
        Candidate(f"rules/{name}", f"{monitoring.RULES_DIR}/{name}", text)
        for name, text in monitoring.render_rules(s).items()
    ]
    place_checked(
        "the Prometheus configuration and rules",
        "prometheus",
        candidates,
        check=f"promtool check config {shlex.quote(staging_dir('prometheus'))}/prometheus.yml",
        checker="promtool",
        activate="systemctl try-reload-or-restart prometheus.service",
    )
    flags = _template(
        "Prometheus flags",
        "prometheus/default.j2",
        "/etc/default/prometheus",
        port=s["prometheus_port"],
        retention_time=s["prometheus_retention_time"],
        retention_size=s["prometheus_retention_size"],
    )
    serve_daemon("prometheus", restart=[flags])


def alertmanager(cluster: Cluster, node: Node) -> None:
    s = node.settings
    unit = monitoring.ALERTMANAGER_UNIT
    # Receivers may hold passwords or webhook tokens: readable by Alertmanager's user only.
    config = Candidate(
        "alertmanager.yml",
        ALERTMANAGER_CONFIG,
        render(
            "alertmanager/alertmanager.yml.j2",
            route=s["alertmanager_route"],
            receivers=s["alertmanager_receivers"],
        ),
        mode="640",
        group="prometheus",
    )
    place_checked(
        "the Alertmanager configuration",
        "alertmanager",
        [config],
        check=f"amtool check-config {shlex.quote(staging_dir('alertmanager'))}/alertmanager.yml",
        checker="amtool",
        activate=f"systemctl try-reload-or-restart {unit}.service",
    )
    flags = _template(
        "Alertmanager flags",
        "alertmanager/default.j2",
        f"/etc/default/{unit}",
        port=s["alertmanager_port"],
        cluster_port=s["alertmanager_cluster_port"],
        peers=monitoring.alertmanager_peers(cluster, node),
    )
    serve_daemon(unit, restart=[flags])


def lag_exporter(cluster: Cluster, node: Node) -> None:
    s = node.settings
    user = s["lag_exporter_user"]
    unit = monitoring.LAG_EXPORTER_UNIT
    service_user(user, home="/nonexistent")
    files.directory(name="Directory /usr/local/lib/kafkaform", path="/usr/local/lib/kafkaform")
    changes = [
        files.put(
            name="Lag exporter program",
            # A program, kept and tested as kafkaform/lag_exporter.py, shipped as one file.
            src=lag_exporter_program.__file__,
            dest=LAG_SCRIPT,
            mode="755",
        ),
        _template(
            f"systemd unit {unit}.service",
            "lag_exporter/kafka-lag-exporter.service.j2",
            f"/etc/systemd/system/{unit}.service",
            run_as=user,
            # systemd splits ExecStart like a shell and understands its quotes.
            script=shlex.quote(LAG_SCRIPT),
            servers=shlex.quote(cluster.bootstrap_servers()),
            port=s["lag_exporter_port"],
            interval=s["lag_exporter_interval_seconds"],
        ),
    ]
    systemd.daemon_reload(name="Reload systemd units", _if=changes[1].did_change)
    serve_daemon(unit, restart=changes)
