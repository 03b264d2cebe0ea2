"""A monitoring host: Prometheus (scrape config and alert rules from the inventory),
Alertmanager and the consumer lag exporter. Debian/Ubuntu packages and units."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from deploys.tasks.common import host_platform, install_packages, serve_daemon, service_user
from kafkaform import monitoring
from kafkaform.cluster import Cluster, Node
from kafkaform.templating import JINJA_OPTIONS, template_path

PACKAGES = [
    "prometheus",
    monitoring.ALERTMANAGER_UNIT,
    "python3-confluent-kafka",
    "python3-prometheus-client",
]
LAG_SCRIPT = "/usr/local/lib/kafkaform/kafka-lag-exporter"


def _template(name: str, src: str, dest: str, mode: str = "644", **variables):
    return files.template(
        name=name,
        src=template_path(src),
        dest=dest,
        mode=mode,
        jinja_env_kwargs=JINJA_OPTIONS,
        **variables,
    )


@deploy("Monitoring host")
def configure_monitoring(cluster: Cluster, node: Node) -> None:
    platform = host_platform()
    if platform.family != "apt":
        raise PyinfraError(
            f"{node.name}: monitoring: True needs a Debian or Ubuntu host (Prometheus, "
            "Alertmanager and the lag exporter come from their packages)"
        )
    install_packages(platform, PACKAGES, "Install Prometheus, Alertmanager, lag exporter deps")
    prometheus(cluster, node)
    alertmanager(cluster, node)
    lag_exporter(cluster, node)


def prometheus(cluster: Cluster, node: Node) -> None:
    s = node.settings
    files.directory(name=f"Directory {monitoring.RULES_DIR}", path=monitoring.RULES_DIR, mode="755")
    config = [
        files.put(
            name=f"Alert rules {name}",
            src=StringIO(text),
            dest=f"{monitoring.RULES_DIR}/{name}",
            mode="644",
        )
        for name, text in monitoring.render_rules(s).items()
    ]
    config.append(
        _template(
            "Prometheus scrape configuration",
            "prometheus/prometheus.yml.j2",
            "/etc/prometheus/prometheus.yml",
            scrape_interval=s["prometheus_scrape_interval"],
            evaluation_interval=s["prometheus_evaluation_interval"],
            rules_dir=monitoring.RULES_DIR,
            alertmanagers=monitoring.alertmanager_targets(cluster),
            jobs=monitoring.scrape_jobs(cluster, node),
            cluster_name=s["cluster_name"],
        )
    )
    flags = _template(
        "Prometheus flags",
        "prometheus/default.j2",
        "/etc/default/prometheus",
        port=s["prometheus_port"],
        retention_time=s["prometheus_retention_time"],
        retention_size=s["prometheus_retention_size"],
    )
    server.shell(
        name="Check the Prometheus configuration and rules",
        commands=["promtool check config /etc/prometheus/prometheus.yml"],
        _if=any_changed(*config),
    )
    serve_daemon("prometheus", restart=[flags], reload=config)


def alertmanager(cluster: Cluster, node: Node) -> None:
    s = node.settings
    unit = monitoring.ALERTMANAGER_UNIT
    # Receivers may hold passwords or webhook tokens: readable by Alertmanager's user only.
    config = _template(
        "Alertmanager configuration",
        "alertmanager/alertmanager.yml.j2",
        "/etc/prometheus/alertmanager.yml",
        mode="640",
        user="root",
        group="prometheus",
        route=s["alertmanager_route"],
        receivers=s["alertmanager_receivers"],
    )
    flags = _template(
        "Alertmanager flags",
        "alertmanager/default.j2",
        f"/etc/default/{unit}",
        port=s["alertmanager_port"],
        cluster_port=s["alertmanager_cluster_port"],
        peers=monitoring.alertmanager_peers(cluster, node),
    )
    server.shell(
        name="Check the Alertmanager configuration",
        commands=["amtool check-config /etc/prometheus/alertmanager.yml"],
        _if=config.did_change,
    )
    serve_daemon(unit, restart=[flags], reload=[config])


def lag_exporter(cluster: Cluster, node: Node) -> None:
    s = node.settings
    user = s["lag_exporter_user"]
    unit = monitoring.LAG_EXPORTER_UNIT
    service_user(user, home="/nonexistent")
    files.directory(name="Directory /usr/local/lib/kafkaform", path="/usr/local/lib/kafkaform")
    changes = [
        files.put(
            name="Lag exporter program",
            src=template_path("lag_exporter/kafka-lag-exporter.py"),
            dest=LAG_SCRIPT,
            mode="755",
        ),
        _template(
            f"systemd unit {unit}.service",
            "lag_exporter/kafka-lag-exporter.service.j2",
            f"/etc/systemd/system/{unit}.service",
            run_as=user,
            script=LAG_SCRIPT,
            servers=",".join(f"{b.address}:{b.settings['kafka_port']}" for b in cluster.brokers),
            port=s["lag_exporter_port"],
            interval=s["lag_exporter_interval_seconds"],
        ),
    ]
    systemd.daemon_reload(name="Reload systemd units", _if=changes[1].did_change)
    serve_daemon(unit, restart=changes)
