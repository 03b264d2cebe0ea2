"""The installation list: everything a kafkaform host can hold, and what each host gets.

deploys/kafka.py installs what the host's roles use, then configures it; deploys/base_box.py
installs everything a box holds, then removes the identity. Both call ``install``, so a box
and a bare host run the same steps and a deploy on a machine from a box finds them done.
Every component declares its packages; the host gets them in one package transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import deploy

from deploys.tasks import firewall, logs, monitoring, node_exporter
from deploys.tasks.common import (
    host_platform,
    install_packages,
    missing_packages,
    point_yum_at_the_vault,
    prepare_os,
    service_user,
)
from deploys.tasks.distribution import install_distribution, mark_current
from deploys.tasks.java import java_package
from deploys.tasks.jmx_exporter import JmxAgent, install_jmx_agent
from kafkaform.cluster import Cluster, Node
from kafkaform.platforms import BASE_PACKAGES


@dataclass(frozen=True)
class Wanted:
    """What to install. OS preparation and node_exporter are on every host."""

    kafka: bool  # Java, the Kafka distribution (ZooKeeper's jars too), the JMX agent
    log_shipping: bool  # rsyslog, RELP, logrotate: only where logs go to a sink
    monitoring: bool  # Prometheus, Alertmanager, the lag exporter's Python libraries
    # A box: both service users up front (every machine from it has the same uids owning
    # the same files), and ``current`` set now, as no service runs the installed version.
    box: bool = False


# A box may become any ZooKeeper or Kafka host, of an inventory with or without a log sink.
BOX = Wanted(kafka=True, log_shipping=True, monitoring=False, box=True)


def wanted_by(cluster: Cluster, node: Node) -> Wanted:
    """What the host's roles use: a monitoring-only host runs no JVM."""
    return Wanted(
        kafka=node.zookeeper or node.kafkaid is not None,
        log_shipping=bool(cluster.monitoring),
        monitoring=node.monitoring,
    )


@dataclass(frozen=True)
class Installed:
    distribution: str | None  # the configured version's directory, which the units name
    agent: JmxAgent | None


def package_groups(node: Node, wanted: Wanted) -> list[tuple[str, list[str]]]:
    """(what, packages) for each wanted component that comes from the package manager."""
    platform = host_platform()
    groups = []
    if wanted.kafka:
        package = java_package(node, platform)
        groups.append((f"Java ({package})", [package]))
    groups += [
        ("base packages", BASE_PACKAGES),
        ("node_exporter", node_exporter.packages(platform)),
    ]
    if wanted.log_shipping:
        groups.append(("rsyslog, its RELP module and logrotate", logs.PACKAGES))
    if wanted.monitoring:
        groups.append(
            ("Prometheus, Alertmanager, lag exporter deps", monitoring.packages(node, platform))
        )
    if firewall.packages(node):
        groups.append(("nftables (the host firewall)", firewall.packages(node)))
    return groups


def install(node: Node, wanted: Wanted) -> Installed:
    platform = host_platform()
    if platform.centos7_vault:
        point_yum_at_the_vault()
    missing = {
        what: missing_packages(platform, names) for what, names in package_groups(node, wanted)
    }
    install_packages(
        platform,
        [package for names in missing.values() for package in names],
        "Install " + ", ".join(what for what, names in missing.items() if names),
    )
    prepare_os(node)
    if wanted.box:
        create_service_users(node)
    installed = Installed(None, None)
    if wanted.kafka:
        installed = Installed(install_distribution(node), install_jmx_agent(node))
    if wanted.box:
        mark_current(node)
    node_exporter.install_node_exporter(node)
    return installed


@deploy("Service users")
def create_service_users(node: Node) -> None:
    s = node.settings
    service_user(s["kafka_user"], home=s["kafka_data_dirs"][0])
    service_user(s["zookeeper_user"], home=s["zookeeper_data_dir"])
