"""Java from the distribution's own packages."""

from pyinfra.api import deploy

from deploys.tasks.common import host_platform, install_packages
from kafkaform.cluster import Node


@deploy("Install Java")
def install_java(node: Node) -> None:
    platform = host_platform()
    package = node.settings["java_package"] or platform.java_package
    install_packages(platform, [package], f"Install {package}")
