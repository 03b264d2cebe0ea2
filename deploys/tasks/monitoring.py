"""A monitoring host: Prometheus (scrape config and alert rules from the inventory),
Alertmanager and the consumer lag exporter. Debian/Ubuntu packages and units."""

from __future__ import annotations

import shlex
from collections.abc import Callable

from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import files, systemd

from deploys.tasks import tls_files
from deploys.tasks.checked_config import place_checked
from deploys.tasks.common import serve_daemon, service_user
from deploys.tasks.host_files import ensure_directories, put_secret, put_text
from deploys.tasks.tls_files import put_tls_files
from kafkaform import client_config, monitoring, monitoring_auth, security
from kafkaform import lag_exporter as lag_exporter_program
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
    tls_changed = web_security(node) if monitoring_auth.secured(node.settings) else None
    prometheus(cluster, node)
    alertmanager(cluster, node, tls_changed)
    lag_exporter(cluster, node)


def web_security(node: Node) -> Callable[[], bool]:
    """A secured cluster's Prometheus and Alertmanager: their TLS files, who may connect
    (web.yml: both re-read it and the certificate at each connection, so a renewal needs no
    restart), and the passwords Prometheus scrapes with. Before the configuration that names
    them, which promtool checks."""
    s = node.settings
    group = monitoring.PROMETHEUS_GROUP
    tls_changed = put_tls_files(node, f"{monitoring.PROMETHEUS_DIR}/tls", group)
    put_secret(
        "Prometheus and Alertmanager users and TLS (web.yml)",
        monitoring.WEB_CONFIG,
        monitoring_auth.web_config(
            s, f"{monitoring.PROMETHEUS_DIR}/tls", monitoring_auth.WEB_USERS
        ),
        mode="640",
        group=group,
    )
    for user, path in monitoring.PASSWORD_FILES.items():
        put_secret(
            f"Prometheus's password as {user}",
            path,
            monitoring_auth.password(s, user),
            mode="640",
            group=group,
        )
    return tls_changed


def web_config_flag(node: Node) -> str | None:
    """Prometheus's and Alertmanager's --web.config.file on a secured cluster."""
    return monitoring.WEB_CONFIG if monitoring_auth.secured(node.settings) else None


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
        listen=monitoring_auth.listen(s["prometheus_listen_address"], s["prometheus_port"]),
        web_config=web_config_flag(node),
        retention_time=s["prometheus_retention_time"],
        retention_size=s["prometheus_retention_size"],
    )
    serve_daemon("prometheus", restart=[flags])


def alertmanager(cluster: Cluster, node: Node, tls_changed: Callable[[], bool] | None) -> None:
    """``tls_changed``: a secured cluster's new TLS files (web_security)."""
    s = node.settings
    unit = monitoring.ALERTMANAGER_UNIT
    peers = monitoring.alertmanager_peers(cluster, node)
    # A secured cluster's Alertmanagers gossip over mutual TLS (their silences and what they
    # notified travel there): an outsider cannot join.
    gossip_tls = tls_changed is not None and bool(peers)
    cluster_tls = None
    if gossip_tls:
        cluster_tls = put_text(
            "Alertmanager gossip TLS (cluster-tls.yml)",
            monitoring.CLUSTER_TLS_CONFIG,
            monitoring_auth.cluster_tls_config(f"{monitoring.PROMETHEUS_DIR}/tls"),
            mode="640",
            user="root",
            group=monitoring.PROMETHEUS_GROUP,
        )
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
        listen=monitoring_auth.listen(s["alertmanager_listen_address"], s["alertmanager_port"]),
        web_config=web_config_flag(node),
        cluster_port=s["alertmanager_cluster_port"],
        peers=peers,
        cluster_tls=monitoring.CLUSTER_TLS_CONFIG if gossip_tls else None,
    )
    serve_daemon(unit, restart=[flags, cluster_tls])
    if gossip_tls and tls_changed:
        # The gossip's TLS is set up at start (the web's is read at each connection).
        restart_on_new_tls(unit, tls_changed)


LAG_EXPORTER_DIR = "/etc/kafka-lag-exporter"
LAG_CLIENT_CONFIG = f"{LAG_EXPORTER_DIR}/client.properties"


def lag_client_config(cluster: Cluster) -> tuple[str, str]:
    """(bootstrap servers, client file) of the lag exporter's user on a secured cluster."""
    ca = f"{LAG_EXPORTER_DIR}/tls/{tls_files.CA}"
    return cluster.bootstrap_servers(), client_config.lag_exporter_config(cluster, ca)


def lag_exporter(cluster: Cluster, node: Node) -> None:
    s = node.settings
    user = s["lag_exporter_user"]
    unit = monitoring.LAG_EXPORTER_UNIT
    service_user(user, home="/nonexistent")
    files.directory(name="Directory /usr/local/lib/kafkaform", path="/usr/local/lib/kafkaform")
    servers, extra_flags, secured_changes = cluster.bootstrap_servers(), [], []
    tls_changed = None
    if security.clients_log_in(s):
        # A secured cluster's clients authenticate: the exporter's user, its password and
        # the CA, in a file only the exporter reads (never on its command line).
        servers, properties = lag_client_config(cluster)
        ensure_directories([LAG_EXPORTER_DIR], mode="750", user="root", group=user)
        tls_changed = put_tls_files(node, f"{LAG_EXPORTER_DIR}/tls", user)
        secured_changes.append(
            put_secret(
                "Lag exporter's Kafka client configuration",
                LAG_CLIENT_CONFIG,
                properties,
                mode="640",
                group=user,
            )
        )
        extra_flags.append(f"--client-config {shlex.quote(LAG_CLIENT_CONFIG)}")
    if s["lag_exporter_listen_address"]:
        extra_flags.append(f"--listen-address {shlex.quote(s['lag_exporter_listen_address'])}")
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
            servers=shlex.quote(servers),
            port=s["lag_exporter_port"],
            interval=s["lag_exporter_interval_seconds"],
            extra_flags=extra_flags,
        ),
    ]
    systemd.daemon_reload(name="Reload systemd units", _if=changes[1].did_change)
    serve_daemon(unit, restart=changes + secured_changes)
    if tls_changed:
        restart_on_new_tls(unit, tls_changed)  # its Kafka clients read the CA when made


def restart_on_new_tls(unit: str, tls_changed: Callable[[], bool]) -> None:
    """Restart a service that reads its TLS files only at start when they changed."""
    systemd.service(
        name=f"Restart {unit} on new TLS files",
        service=f"{unit}.service",
        restarted=True,
        _if=tls_changed,
    )
