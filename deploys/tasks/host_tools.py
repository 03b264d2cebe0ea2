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

from deploys.tasks.host_files import put_template, put_text
from kafkaform import programs
from kafkaform.cluster import Cluster, Node
from kafkaform.settings import JAVA_BIN
from kafkaform.templating import render

TOOLS_DIR = "/usr/local/bin"  # on the PATH of every login shell and of sudo's secure_path
CLIENT_CONFIG_NAME = "client.properties"


def client_config_path(node: Node) -> str:
    return f"{node.settings['kafka_config_dir']}/{CLIENT_CONFIG_NAME}"


def launcher_variables(cluster: Cluster, node: Node) -> dict[str, str]:
    """What every launcher of this host is rendered with, besides its tool."""
    s = node.settings
    return {
        "java_bin": JAVA_BIN,
        "kafka_home": shlex.quote(f"{s['kafka_install_root']}/current"),
        "client_config": shlex.quote(client_config_path(node)),
        "zookeeper_connect": shlex.quote(cluster.zookeeper_connect(s["zookeeper_chroot"])),
    }


def launcher_text(tool: programs.Tool, variables: dict[str, str]) -> str:
    return render("tools/launcher.j2", tool=tool, **variables)


@deploy("Kafka's command-line tools")
def install_host_tools(cluster: Cluster, node: Node) -> None:
    # Readable by all: it names servers only. Once it holds credentials (a secured cluster)
    # its mode must narrow.
    put_template(
        "Client configuration of the command-line tools",
        "tools/client.properties.j2",
        client_config_path(node),
        mode="644",
        user="root",
        group="root",
        bootstrap_servers=cluster.bootstrap_servers(),
    )
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
