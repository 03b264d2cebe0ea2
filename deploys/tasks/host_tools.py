"""Kafka's command-line tools on a broker host: a launcher per tool of kafkaform.programs.TOOLS
on the PATH, under the names Confluent's packages give them (kafka-topics, ...), and the client
configuration they use by default.

The assembled distribution has no bin/ and Apache's scripts are not used: each launcher runs
the ``current`` distribution's jars itself, so it follows the version the host's services run
(``current`` moves only once they do) and picks the tool's class those jars hold.
"""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from deploys.tasks.host_files import put_secret, put_template, put_text
from kafkaform import pki, programs, security
from kafkaform.cluster import Cluster, Node
from kafkaform.settings import JAVA_BIN
from kafkaform.templating import render
from kafkaform.zookeeper_security import shell_jvm_options

TOOLS_DIR = "/usr/local/bin"  # on the PATH of every login shell and of sudo's secure_path


def client_config_path(node: Node) -> str:
    return security.tools_config(node.settings)


def launcher_variables(cluster: Cluster, node: Node) -> dict[str, str]:
    """What every launcher of this host is rendered with, besides its tool."""
    s = node.settings
    return {
        "java_bin": JAVA_BIN,
        "kafka_home": shlex.quote(f"{s['kafka_install_root']}/current"),
        "client_config": shlex.quote(client_config_path(node)),
        "zookeeper_connect": shlex.quote(cluster.zookeeper_connect(s["zookeeper_chroot"])),
        # A secured ensemble: the host's ZooKeeper client files (JAAS, CA), paths only.
        "zookeeper_options": shell_jvm_options(s),
    }


def launcher_text(tool: programs.Tool, variables: dict[str, str]) -> str:
    return render("tools/launcher.j2", tool=tool, **variables)


def client_config_text(cluster: Cluster, node: Node, ca_pem: str = "") -> str:
    """The tools' client configuration; on a secured cluster it logs in as kafkaform's admin
    user (its password inside: a secret) and trusts ``ca_pem``."""
    s = node.settings
    if security.tools_login(s) is None:
        return render("tools/client.properties.j2", bootstrap_servers=cluster.bootstrap_servers())
    user = security.ADMIN_USER
    return render(
        "tools/client.properties.j2",
        bootstrap_servers=cluster.bootstrap_servers(),
        user=user,
        admin_group=security.ADMIN_GROUP,
        mechanism=security.SCRAM_MECHANISM,
        sasl_login=security.scram_login(user, security.scram_password(s, user)),
        ca_lines=ca_pem.strip().splitlines(),
    )


def put_client_config(cluster: Cluster, node: Node) -> OperationMeta | None:
    """The client configuration of the host's tools and of the safe restart (before the
    broker's first start: its safe restart reads it). Plaintext: readable by all, it names
    servers only. Secured: 0640 root:ADMIN_GROUP (operators in that group use the tools)."""
    path = client_config_path(node)
    if security.tools_login(node.settings) is None:
        return put_template(
            "Client configuration of the command-line tools",
            "tools/client.properties.j2",
            path,
            mode="644",
            user="root",
            group="root",
            bootstrap_servers=cluster.bootstrap_servers(),
        )
    server.group(
        name=f"Group {security.ADMIN_GROUP} (Kafka tools as kafkaform-admin)",
        group=security.ADMIN_GROUP,
        system=True,
    )
    return put_secret(
        "Client configuration of the command-line tools",
        path,
        client_config_text(cluster, node, pki.host_tls(node).ca_pem),
        mode="640",
        user="root",
        group=security.ADMIN_GROUP,
    )


@deploy("Kafka's command-line tools")
def install_host_tools(cluster: Cluster, node: Node) -> None:
    """The launchers (the client configuration they read is written with the broker's
    files: kafka.configure_kafka)."""
    variables = launcher_variables(cluster, node)
    for tool in programs.TOOLS:
        put_text(
            f"Launcher {TOOLS_DIR}/{tool.name}",
            f"{TOOLS_DIR}/{tool.name}",
            launcher_text(tool, variables),
            mode="755",
            user="root",
            group="root",
        )
