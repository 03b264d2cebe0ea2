"""Every cluster-wide tunable and its default: the one home for versions, ports and paths.

Inventories override any of these in ``inventories/group_data/*.py`` (or per host). The keys
here are also the typo guard: a group-data name that is not listed is reported with a
"did you mean".
"""

from __future__ import annotations

from typing import Any

KAFKA_VERSION = "3.9.2"  # newest 3.9.x: the last Kafka line that runs on ZooKeeper
SCALA_VERSION = "2.13"
APACHE_MIRROR = "https://archive.apache.org/dist/kafka"

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
}

# Per-host role attributes (the inventory model).
HOST_KEYS = {"zookeeper", "zkid", "kafkaid", "monitoring"}

# Data pyinfra or its connectors understand; never reported as typos.
PASSTHROUGH_PREFIXES = ("ssh_", "_", "winrm_", "docker_", "vagrant_", "chroot_", "local_")

# Where the JVM is on every supported distribution (alternatives link it there).
JAVA_BIN = "/usr/bin/java"
# CentOS 7 is end-of-life: its mirrorlist is gone and only the vault still serves 7.9.2009.
CENTOS7_VAULT = "https://vault.centos.org/7.9.2009"
