"""Observability model: what Prometheus scrapes, its alert rules, what each host ships as logs.

Pure functions of the cluster model (no pyinfra state), so the deploy, the offline tests and
``promtool`` in the unit tests all see the same rendered files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from kafkaform import programs
from kafkaform.cluster import Cluster, Node
from kafkaform.templating import JINJA_OPTIONS, TEMPLATES, render

# Alert rule files: [[ ]] marks kafkaform's variables, so Prometheus's own {{ $labels.x }}
# templates pass through untouched.
RULE_FILES = ("kafka", "zookeeper", "hosts", "consumer-lag", "monitoring")
RULES_DIR = "/etc/prometheus/rules"
# Debian's unit names; the tarball installs (EL) use the same names.
NODE_EXPORTER_UNIT = "prometheus-node-exporter"
ALERTMANAGER_UNIT = "prometheus-alertmanager"
LAG_EXPORTER_UNIT = "kafka-lag-exporter"
_RULES_JINJA = {**JINJA_OPTIONS, "variable_start_string": "[[", "variable_end_string": "]]"}


@dataclass(frozen=True)
class Target:
    address: str  # host:port
    host: str  # inventory name
    role: str


@dataclass(frozen=True)
class Job:
    name: str
    targets: tuple[Target, ...]


def _target(node: Node, port_key: str, role: str) -> Target:
    return Target(f"{node.address}:{node.settings[port_key]}", node.name, role)


def scrape_jobs(cluster: Cluster, prometheus: Node) -> list[Job]:
    """Every exporter of every host, for the Prometheus on ``prometheus``.

    Each monitoring host scrapes everything except the lag exporters, of which it scrapes its
    own only: every lag exporter reads the same cluster, and two of them in one Prometheus
    would double every lag sum.
    """
    monitors = cluster.monitoring
    jobs = [
        Job(
            "node",
            tuple(
                _target(n, "node_exporter_port", ",".join(n.roles) or "none") for n in cluster.nodes
            ),
        ),
        Job(
            "kafka", tuple(_target(n, "kafka_jmx_exporter_port", "kafka") for n in cluster.brokers)
        ),
        Job(
            "zookeeper",
            tuple(_target(n, "zookeeper_jmx_exporter_port", "zookeeper") for n in cluster.ensemble),
        ),
        Job("kafka-lag", (_target(prometheus, "lag_exporter_port", "monitoring"),)),
        Job("prometheus", tuple(_target(n, "prometheus_port", "monitoring") for n in monitors)),
        Job("alertmanager", tuple(_target(n, "alertmanager_port", "monitoring") for n in monitors)),
    ]
    return [job for job in jobs if job.targets]


def alertmanager_targets(cluster: Cluster) -> list[str]:
    return [f"{n.address}:{n.settings['alertmanager_port']}" for n in cluster.monitoring]


def alertmanager_peers(cluster: Cluster, node: Node) -> list[str]:
    """The other Alertmanagers this one gossips with, so a firing alert is notified once."""
    return [
        f"{n.address}:{n.settings['alertmanager_cluster_port']}"
        for n in cluster.monitoring
        if n.name != node.name
    ]


def prometheus_config(cluster: Cluster, node: Node) -> str:
    """prometheus.yml for the Prometheus on ``node``; it reads its rules from rules/ beside it."""
    s = node.settings
    return render(
        "prometheus/prometheus.yml.j2",
        scrape_interval=s["prometheus_scrape_interval"],
        evaluation_interval=s["prometheus_evaluation_interval"],
        alertmanagers=alertmanager_targets(cluster),
        jobs=scrape_jobs(cluster, node),
        cluster_name=s["cluster_name"],
    )


def render_rules(settings: Mapping[str, Any]) -> dict[str, str]:
    """Alert rule files by name (``kafka.rules.yml`` ...), with the inventory's durations."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        **_RULES_JINJA,
    )
    variables = {
        "cluster_name": settings["cluster_name"],
        "alert_for": settings["alert_for"],
        "threshold": settings["alert_thresholds"],
    }
    return {
        f"{name}.rules.yml": env.get_template(f"prometheus/rules/{name}.rules.yml.j2").render(
            **variables
        )
        for name in RULE_FILES
    }


# --- log shipping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    path: str
    source: str  # file name at the sink: <log_sink_dir>/<host>/<source>.log


def log_files(node: Node) -> list[LogFile]:
    """The service logs a host ships: broker (server, controller, state-change), ZooKeeper."""
    files = []
    for service, runs, log_dir in (
        (programs.BROKER, node.kafkaid is not None, "kafka_log_dir"),
        (programs.ZOOKEEPER, node.zookeeper, "zookeeper_log_dir"),
    ):
        if runs:
            files += [
                LogFile(f"{node.settings[log_dir]}/{service.log_file(appender)}", source)
                for appender, source in service.shipped.items()
            ]
    return files


def journal_units(node: Node) -> list[str]:
    """Our systemd units on this host, whose journal (stdout, crashes, systemd's own lines about
    them) is shipped as journal-<unit>."""
    units = [NODE_EXPORTER_UNIT]
    if node.kafkaid is not None:
        units.append("kafka")
    if node.zookeeper:
        units.append("zookeeper")
    if node.monitoring:
        units += ["prometheus", ALERTMANAGER_UNIT, LAG_EXPORTER_UNIT]
    return units
