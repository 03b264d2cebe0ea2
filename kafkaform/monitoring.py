"""Observability model: what Prometheus scrapes, its alert rules, what each host ships as logs.

Pure functions of the cluster model (no pyinfra state), so the deploy, the offline tests and
``promtool`` in the unit tests all see the same rendered files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from kafkaform import monitoring_auth, pki, programs
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
# Prometheus and Alertmanager (both run as `prometheus`) share their TLS files and web config.
PROMETHEUS_DIR = "/etc/prometheus"
PROMETHEUS_GROUP = "prometheus"
WEB_CONFIG = f"{PROMETHEUS_DIR}/web.yml"
CLUSTER_TLS_CONFIG = f"{PROMETHEUS_DIR}/cluster-tls.yml"  # Alertmanager's gossip
CA_FILE = f"{PROMETHEUS_DIR}/tls/ca.crt"  # deploys/tasks/tls_files.py's layout
# What Prometheus sends as the scraping users' passwords (read at each scrape).
PASSWORD_FILES = {
    monitoring_auth.SCRAPER: f"{PROMETHEUS_DIR}/scrape.password",
    monitoring_auth.JMX_SCRAPER: f"{PROMETHEUS_DIR}/jmx.password",
}
_RULES_JINJA = {**JINJA_OPTIONS, "variable_start_string": "[[", "variable_end_string": "]]"}


@dataclass(frozen=True)
class Target:
    address: str  # host:port
    host: str  # inventory name
    role: str


@dataclass(frozen=True)
class ScrapeAuth:
    """How Prometheus reaches an endpoint of a secured cluster."""

    scheme: str  # "https", or "http" (the JMX agents)
    username: str
    password_file: str
    ca_file: str | None  # None: no TLS


@dataclass(frozen=True)
class Job:
    name: str
    targets: tuple[Target, ...]
    auth: ScrapeAuth | None = None  # None: plain HTTP, no authentication


def scrape_auth(settings: Mapping[str, Any], user: str) -> ScrapeAuth | None:
    """Prometheus's credentials for an endpoint that ``user`` reads; None on a plaintext
    cluster."""
    if not monitoring_auth.secured(settings):
        return None
    if user == monitoring_auth.JMX_SCRAPER:  # the agent serves plain HTTP
        return ScrapeAuth("http", user, PASSWORD_FILES[user], None)
    return ScrapeAuth("https", user, PASSWORD_FILES[user], CA_FILE)


def _target(node: Node, port_key: str, role: str) -> Target:
    return Target(f"{node.address}:{node.settings[port_key]}", node.name, role)


def scrape_jobs(cluster: Cluster, prometheus: Node) -> list[Job]:
    """Every exporter of every host, for the Prometheus on ``prometheus``.

    Each monitoring host scrapes everything except the lag exporters, of which it scrapes its
    own only: every lag exporter reads the same cluster, and two of them in one Prometheus
    would double every lag sum.
    """
    monitors = cluster.monitoring
    web = scrape_auth(prometheus.settings, monitoring_auth.SCRAPER)
    jmx = scrape_auth(prometheus.settings, monitoring_auth.JMX_SCRAPER)
    jobs = [
        Job(
            "node",
            tuple(
                _target(n, "node_exporter_port", ",".join(n.roles) or "none") for n in cluster.nodes
            ),
            web,
        ),
        Job(
            "kafka",
            tuple(_target(n, "kafka_jmx_exporter_port", "kafka") for n in cluster.brokers),
            jmx,
        ),
        Job(
            "zookeeper",
            tuple(_target(n, "zookeeper_jmx_exporter_port", "zookeeper") for n in cluster.ensemble),
            jmx,
        ),
        # The lag exporter: plain HTTP, no authentication (see its listen address setting).
        Job("kafka-lag", (_target(prometheus, "lag_exporter_port", "monitoring"),)),
        Job(
            "prometheus", tuple(_target(n, "prometheus_port", "monitoring") for n in monitors), web
        ),
        Job(
            "alertmanager",
            tuple(_target(n, "alertmanager_port", "monitoring") for n in monitors),
            web,
        ),
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
        alertmanager_auth=scrape_auth(s, monitoring_auth.SCRAPER),
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


@dataclass(frozen=True)
class RelpTls:
    """rsyslog's RELP over TLS: the host's files (deploys/tasks/tls_files.py's layout)."""

    ca_file: str
    cert_file: str
    key_file: str


def relp_tls(settings: Mapping[str, Any], config_dir: str) -> RelpTls | None:
    """A secured cluster's RELP TLS files under ``config_dir``/tls; None: plain RELP."""
    if not monitoring_auth.secured(settings):
        return None
    return RelpTls(
        f"{config_dir}/tls/ca.crt", f"{config_dir}/tls/host.crt", f"{config_dir}/tls/host.key"
    )


@dataclass(frozen=True)
class Sink:
    id: str  # rsyslog's name for its action and queue
    address: str
    # A secured cluster's senders send only to a peer whose certificate shows one of these.
    names: tuple[str, ...] = ()


def relp_sinks(cluster: Cluster, secured: bool) -> list[Sink]:
    """Every monitoring host, as each host's rsyslog ships to it."""
    return [
        Sink(
            re.sub(r"[^A-Za-z0-9]", "_", node.name),
            node.address,
            tuple(pki.host_names(node)) if secured else (),
        )
        for node in cluster.monitoring
    ]


def relp_senders(cluster: Cluster) -> list[str]:
    """The names a sink takes lines from over TLS: every host's, as its certificate shows
    them. (RELP's "certvalid" mode would be simpler, but measured with rsyslog 8.2302 and
    GnuTLS the sink then accepted a certificate of another CA: only "name" checks both.)"""
    return list(dict.fromkeys(name for node in cluster.nodes for name in pki.host_names(node)))
