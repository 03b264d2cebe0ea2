"""Everything a Kafka host installs, and nothing that makes it one particular host.

Shared by deploys/kafka.py (which then configures the host) and deploys/base_box.py (which
bakes it into an image), so a baked host and a bare one run the same installation steps and
the deploy on a baked host finds them all done.
"""

from __future__ import annotations

from deploys.tasks.common import prepare_os
from deploys.tasks.distribution import install_distribution
from deploys.tasks.java import install_java
from kafkaform.cluster import Node


def install_software(node: Node) -> str:
    """OS preparation, Java and the Kafka distribution. Returns the distribution's directory,
    which the services' units name. (The JMX agent and node_exporter are installed by each
    entry right after this call, so kafka.py finds them already baked into a box.)"""
    prepare_os(node)
    install_java(node)
    return install_distribution(node)
