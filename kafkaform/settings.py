"""Every cluster-wide tunable and its default: the one home for versions, ports and paths.

Inventories override any of these in ``inventories/group_data/*.py`` (or per host). The keys
here are also the typo guard: a group-data name that is not listed is reported with a
"did you mean".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KAFKA_VERSION = "3.9.2"  # newest 3.9.x: the last Kafka line that runs on ZooKeeper
SCALA_VERSION = "2.13"
APACHE_MIRROR = "https://archive.apache.org/dist/kafka"
JMX_EXPORTER_VERSION = "1.0.1"
# sha256 of io.prometheus.jmx:jmx_prometheus_javaagent jars as Maven Central serves them
# (checked there against the published .sha1 by `mvn -C`).
JMX_EXPORTER_SHA256 = {
    "1.0.1": "7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1",
}

DEFAULTS: dict[str, Any] = {
    # Artifact: the Apache tarball layout <mirror>/<version>/kafka_<scala>-<version>.tgz,
    # verified against the .sha512 published beside it (or against kafka_sha512 if pinned).
    "kafka_version": KAFKA_VERSION,
    "scala_version": SCALA_VERSION,
    "kafka_mirror": APACHE_MIRROR,
    "kafka_url": None,  # full URL, overrides kafka_mirror
    "kafka_sha512": None,  # pinned checksum; otherwise read from <url>.sha512
    "kafka_local_file": None,  # tarball on the control machine, uploaded (air-gapped sites)
    "kafka_install_root": "/opt/kafka",  # versions side by side, "current" symlink
    # A version upgrade's run does both of Kafka's phases (kafkaform.upgrade). True stops it
    # after phase 1: the new binaries run at the old protocol, and a rollback to the old
    # version is still possible, until a run with this False finishes the upgrade.
    "kafka_upgrade_hold_protocol": False,
    "download_dir": "/var/cache/kafkaform",
    # Users and directories.
    "kafka_user": "kafka",
    "zookeeper_user": "zookeeper",
    "kafka_config_dir": "/etc/kafka",
    "kafka_data_dirs": ["/var/lib/kafka/data"],
    "kafka_log_dir": "/var/log/kafka",
    "zookeeper_config_dir": "/etc/zookeeper",
    "zookeeper_data_dir": "/var/lib/zookeeper/data",
    "zookeeper_datalog_dir": "/var/lib/zookeeper/datalog",
    "zookeeper_log_dir": "/var/log/zookeeper",
    # ZooKeeper's own working config and the zoo.cfg.dynamic.<version> files it writes at each
    # membership change (kafkaform.ensemble_config).
    "zookeeper_dynamic_dir": "/var/lib/zookeeper/conf",
    # The password of the "kafkaform" ZooKeeper user that runs membership changes (reconfig).
    # None: generated once and kept on the ZooKeeper hosts (root only).
    "zookeeper_admin_password": None,
    # Network.
    "kafka_port": 9092,
    "zookeeper_client_port": 2181,
    "zookeeper_peer_port": 2888,
    "zookeeper_election_port": 3888,
    "zookeeper_chroot": "/kafka",
    "kafka_advertised_host": None,  # default: the host's ssh_hostname / name
    # JVM. None = sized from the host's memory (see kafkaform.cluster.heap_for).
    "java_package": None,  # default per distribution
    "kafka_heap": None,
    "zookeeper_heap": None,
    "kafka_jvm_opts": [
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
    ],
    "zookeeper_jvm_opts": ["-XX:+UseG1GC", "-Djava.awt.headless=true"],
    # Literal property names, merged over the computed defaults (kafkaform.cluster).
    "kafka_properties": {},
    "zookeeper_properties": {},
    # Topics as code (deploys/tasks/topics.py, run once per deploy on one broker): each a dict
    # {"name", "partitions", "replication_factor", "configs": {topic config: value},
    # "delete": True to delete it}. Topics not listed are left alone; counts only go up.
    "kafka_topics": [],
    # Bytes/s each broker may spend copying replicas when kafka_topics raises a replication
    # factor (ReassignPartitionsCommand --throttle; its --verify removes the throttle after).
    "kafka_topics_reassign_throttle": 50_000_000,
    # Cluster shape.
    "allow_even_ensemble": False,
    # OS tuning.
    "sysctl": {
        "vm.swappiness": 1,
        "vm.max_map_count": 262144,
        "net.core.somaxconn": 4096,
    },
    "nofile_limit": 100000,
    # Safe restarts: how long a restarted broker may take to rejoin with no
    # under-replicated partitions before the rolling restart stops.
    "kafka_restart_wait_seconds": 600,
    "kafka_stop_timeout_seconds": 300,  # room for a controlled shutdown
    "zookeeper_restart_wait_seconds": 120,
    # How long a deploy waits for the cluster's roll lock held by another deploy or a
    # hand-run safe-restart before it gives up (nothing changed by then).
    "roll_lock_wait_seconds": 120,
    # --- Security (kafkaform.security). One level per cluster:
    #   "plaintext": no encryption, no authentication (development);
    #   "sasl_ssl": TLS on every Kafka listener, SASL/SCRAM-SHA-512 for clients and between
    #       brokers on their own listener, ACLs (the authorizer on), ZooKeeper locked down
    #       (brokers authenticate, znodes protected, servers authenticate each other), the
    #       exporters, Prometheus and Alertmanager behind TLS and basic auth, logs shipped over TLS.
    "security": "plaintext",
    # A live rollout to sasl_ssl holds here (kafkaform.rollout): the brokers keep the PLAINTEXT
    # listener beside the secure ones while clients move; False and deploy again removes it.
    "kafka_plaintext_listener": False,
    # sasl_ssl listeners: clients on kafka_tls_port, brokers between themselves on
    # kafka_internal_port. kafka_port stays the PLAINTEXT listener of a plaintext cluster.
    "kafka_tls_port": 9095,
    "kafka_internal_port": 9091,
    "zookeeper_secure_client_port": 2182,
    # The control machine's directory of this cluster's CA, issued certificates and generated
    # passwords (kafkaform.pki, kafkaform.secrets), 0700. None: ~/.kafkaform/<cluster_name>.
    # Keep it (backed up) with the inventory: a new one means a new CA and new passwords.
    "pki_dir": None,
    # A CA of the site's own instead of kafkaform's: files on the control machine (PEM).
    "tls_ca_cert_file": None,
    "tls_ca_key_file": None,
    # Certificates the site issued itself, per host name: {"cert_file", "key_file"} (PEM) and
    # tls_ca_cert_file the CA they chain to. Unset: kafkaform issues them.
    "tls_host_certificates": {},
    "tls_cert_days": 365,  # lifetime of the host certificates kafkaform issues
    "tls_renew_days": 30,  # a deploy re-issues a certificate with fewer days left than this
    "tls_ca_days": 3650,
    # SCRAM users as code: [{"name", "password_env" | "password_file"}]; passwords are read on
    # the control machine from the variable or file the entry names, never from the inventory.
    "kafka_users": [],
    # Principals ("User:name") with every right; the brokers' and kafkaform's own users always are.
    "kafka_super_users": [],
    # ACLs as code: [{"principal", "resource_type", "resource_name", "pattern_type",
    # "operations": [...], "permission": "allow" | "deny", "host": "*"}]. ACLs not listed are
    # revoked.
    "kafka_acls": [],
    # Host firewall (kafkaform.firewall): an nftables table of kafkaform's own on each host
    # that drops what these rules do not open. Off by default: turning it off removes the table.
    "firewall": False,
    # Networks or addresses (CIDR) allowed in; 0.0.0.0/0 and ::/0 mean anyone. Admins: SSH
    # and the Prometheus and Alertmanager UIs. Clients: Kafka's client listener(s).
    "firewall_admin_sources": ["0.0.0.0/0", "::/0"],
    "firewall_client_sources": ["0.0.0.0/0", "::/0"],
    # The machines that run kafkaform (the deploy, status, the CLI): they reach ZooKeeper's
    # client ports and Kafka's client listener(s) before any rule could be changed.
    "firewall_control_sources": ["0.0.0.0/0", "::/0"],
    # Who scrapes the exporters besides the inventory's monitoring hosts (another Prometheus;
    # the control machine, for the disk and version columns of `kafkaform status`).
    "firewall_scrape_sources": [],
    # The ports sshd listens on; empty: the host's ssh_port (22).
    "firewall_ssh_ports": [],
    # More ports a site's own services need: [{"port", "protocol": "tcp" | "udp", "sources"}].
    "firewall_open_ports": [],
    # Listen addresses of the exporters and monitoring servers (any security level). None:
    # every address, as before these settings existed; set one per host (host data) to serve
    # on one interface only. The Alertmanager gossip port keeps every address (its peers).
    "node_exporter_listen_address": None,
    "jmx_exporter_listen_address": None,  # the brokers' and ZooKeeper servers' agents
    "lag_exporter_listen_address": None,
    "prometheus_listen_address": None,
    "alertmanager_listen_address": None,
    "log_sink_listen_address": None,
    # --- Observability: exporters, Prometheus + Alertmanager on `monitoring: True` hosts, logs.
    # Label on every series and alert, so one Prometheus can watch several clusters.
    "cluster_name": "kafka",
    # The JMX exporter agent's official channel is Maven Central (any Maven-layout mirror works).
    "maven_mirror": "https://repo1.maven.org/maven2",
    "jmx_exporter_version": JMX_EXPORTER_VERSION,
    # Pinned checksum; default: JMX_EXPORTER_SHA256 for known versions, else the .sha1 that
    # Maven publishes beside every jar.
    "jmx_exporter_sha256": None,
    "jmx_exporter_dir": "/opt/jmx-exporter",
    "kafka_jmx_exporter_port": 7071,
    "zookeeper_jmx_exporter_port": 7072,
    "kafka_jmx_topic_metrics": False,  # per-topic rates: one series per topic and rate
    "node_exporter_port": 9100,
    "node_exporter_flags": [],  # extra node_exporter flags, e.g. collectors to enable
    # Debian/Ubuntu install the distribution's package; EL hosts the release tarball below,
    # checked against node_exporter_sha256 if pinned, else the release's sha256sums.txt.
    "node_exporter_version": "1.8.2",
    "node_exporter_url": None,  # default: the GitHub release for the host's architecture
    "node_exporter_sha256": None,
    # Consumer lag per group and partition, under kafka_exporter's metric names and port.
    "lag_exporter_port": 9308,
    "lag_exporter_interval_seconds": 30,
    "lag_exporter_user": "kafka-lag-exporter",
    "prometheus_port": 9090,
    "prometheus_retention_time": "15d",
    "prometheus_retention_size": "20GB",  # whichever limit is hit first
    "prometheus_scrape_interval": "15s",
    "prometheus_evaluation_interval": "15s",
    "alertmanager_port": 9093,
    "alertmanager_cluster_port": 9094,  # gossip between several monitoring hosts
    # Alertmanager's own receiver and route syntax, rendered as given (secrets: mode 0640).
    "alertmanager_receivers": [{"name": "default"}],
    "alertmanager_route": {
        "receiver": "default",
        "group_by": ["alertname", "cluster"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
    },
    # How long a condition must hold before its alert fires.
    "alert_for": {
        "broker_down": "1m",
        "under_replicated": "2m",
        "under_min_isr": "1m",
        "offline_partitions": "1m",
        "active_controller": "1m",
        "zookeeper_not_serving": "1m",
        "zookeeper_quorum": "30s",
        "host_down": "2m",
        "disk_almost_full": "5m",
        "heap_near_limit": "5m",
        "consumer_lag": "15m",
        "target_down": "5m",
    },
    "alert_thresholds": {
        "disk_free_ratio": 0.15,
        "heap_used_ratio": 0.9,  # of -Xmx, at the lowest point of the window (after GCs)
        "heap_window": "10m",
        "consumer_lag_messages": 1000,  # lag below this never alerts, growing or not
        "consumer_lag_window": "10m",
    },
    # Log shipping: rsyslog on every host -> RELP -> every monitoring host.
    "log_sink_port": 2514,
    "log_sink_dir": "/var/log/kafkaform",  # <dir>/<host>/<source>.log on the sink
    "log_sink_keep_days": 14,
    "log_queue_max_disk": "2g",  # per sink, on each sender, while a sink is unreachable
}

# Per-host role attributes (the inventory model).
HOST_KEYS = {"zookeeper", "zkid", "kafkaid", "monitoring", "base_box"}

# Data pyinfra or its connectors understand; never reported as typos.
PASSTHROUGH_PREFIXES = ("ssh_", "_", "winrm_", "docker_", "vagrant_", "chroot_", "local_")

# Where the JVM is on every supported distribution (alternatives link it there).
JAVA_BIN = "/usr/bin/java"
# CentOS 7 is end-of-life: its mirrorlist is gone and only the vault still serves 7.9.2009.
CENTOS7_VAULT = "https://vault.centos.org/7.9.2009"

# --- Tables the validator reads (kafkaform/validation): what kind of value each setting is.
# Directories kafkaform creates, owns or deletes on the hosts (kafka_data_dirs: a list).
PATH_SETTINGS = (
    "kafka_install_root",
    "download_dir",
    "kafka_config_dir",
    "kafka_data_dirs",
    "kafka_log_dir",
    "zookeeper_config_dir",
    "zookeeper_data_dir",
    "zookeeper_datalog_dir",
    "zookeeper_log_dir",
    "zookeeper_dynamic_dir",
    "jmx_exporter_dir",
    "log_sink_dir",
)
# TCP ports a host listens on, with the role that opens each ("all": every host).
PORT_SETTINGS = {
    "kafka_port": "kafka",
    "kafka_tls_port": "kafka",
    "kafka_internal_port": "kafka",
    "kafka_jmx_exporter_port": "kafka",
    "zookeeper_client_port": "zookeeper",
    "zookeeper_secure_client_port": "zookeeper",
    "zookeeper_peer_port": "zookeeper",
    "zookeeper_election_port": "zookeeper",
    "zookeeper_jmx_exporter_port": "zookeeper",
    "node_exporter_port": "all",
    "lag_exporter_port": "monitoring",
    "prometheus_port": "monitoring",
    "alertmanager_port": "monitoring",
    "alertmanager_cluster_port": "monitoring",
    "log_sink_port": "monitoring",
}
# Ports only a secured cluster (security != "plaintext") listens on.
SECURE_ONLY_PORTS = ("kafka_tls_port", "kafka_internal_port", "zookeeper_secure_client_port")
# The values of `security` (see its comment in DEFAULTS).
PLAINTEXT = "plaintext"
SASL_SSL = "sasl_ssl"
SECURITY_LEVELS = (PLAINTEXT, SASL_SSL)


def secured(settings: Mapping[str, Any]) -> bool:
    """Whether a host's settings ask for any security (TLS, logins, ACLs)."""
    return settings.get("security", PLAINTEXT) != PLAINTEXT


# Written into each host's settings by a run of a live security rollout (kafkaform.rollout),
# never by a user: the stage this run renders. Absent, every side renders its level's end.
ZOOKEEPER_STAGE_KEY = "zookeeper_security_stage"  # the servers' (ZOOKEEPER_STAGES)
KAFKA_STAGE_KEY = "kafka_security_stage"  # the brokers' (kafkaform.security.STAGES)
ZOOKEEPER_CLIENTS_KEY = "zookeeper_clients_secure"  # the machinery's ZooKeeper clients
ROLLOUT_KEYS = (ZOOKEEPER_STAGE_KEY, KAFKA_STAGE_KEY, ZOOKEEPER_CLIENTS_KEY)


def serves_secured_ports(settings: Mapping[str, Any]) -> bool:
    """Whether a host listens on the secured ports (TLS listeners, ZooKeeper's TLS port): at
    a secured level, and at every step of a rollout but plaintext's, either way."""
    stages = (settings.get(ZOOKEEPER_STAGE_KEY), settings.get(KAFKA_STAGE_KEY))
    return secured(settings) or any(stage not in (None, PLAINTEXT) for stage in stages)


def zookeeper_clients_secured(settings: Mapping[str, Any]) -> bool:
    """Whether kafkaform's own ZooKeeper clients (control machine, host scripts and tools)
    talk TLS to the secure client port and log in."""
    value = settings.get(ZOOKEEPER_CLIENTS_KEY)
    return secured(settings) if value is None else bool(value)


def monitoring_secured(settings: Mapping[str, Any]) -> bool:
    """Whether monitoring and log shipping are behind TLS and logins: with the level, and in
    a rollout only once the brokers reach its end (their JMX agents change with that roll)."""
    stage = settings.get(KAFKA_STAGE_KEY)
    return secured(settings) if stage is None else stage == SASL_SSL


# Accounts the services run as (kafkaform creates them as system users).
SERVICE_USER_SETTINGS = ("kafka_user", "zookeeper_user", "lag_exporter_user")
# URLs the hosts or the control machine download from.
URL_SETTINGS = ("kafka_mirror", "kafka_url", "maven_mirror", "node_exporter_url")
# Pinned checksums and their length in hex digits.
CHECKSUM_SETTINGS = {"kafka_sha512": 128, "jmx_exporter_sha256": 64, "node_exporter_sha256": 64}
# Settings and properties whose values are never shown: names that hold passwords, tokens or
# key material (ssl.key.password, sasl.jaas.config, ssh_password, ssl.keystore.key, ...).
# Alertmanager's receivers hold webhook URLs and API keys under any name.
SECRET_NAME_PATTERN = (
    r"pass(word|wd|phrase)?|secret|token|credential|jaas|private|(^|[._-])keys?($|[._-])"
)
SECRET_SETTINGS = ("alertmanager_receivers",)
# Settings only a `monitoring: True` host uses: set with no such host, they do nothing.
MONITORING_ONLY_SETTINGS = (
    "alertmanager_receivers",
    "alertmanager_route",
    "alert_for",
    "alert_thresholds",
)
