"""Java from the distribution's own packages (installed in the host's one package transaction,
deploys/tasks/install.py)."""

from kafkaform.cluster import Node
from kafkaform.platforms import Platform


def java_package(node: Node, platform: Platform) -> str:
    return node.settings["java_package"] or platform.java_package
