"""The cluster's ACL bindings and SCRAM users as Kafka's own tools list them, read on one broker
host with its admin client config (kafkaform.access_tools)."""

from __future__ import annotations

from pyinfra.api import FactBase

from kafkaform.access import Binding
from kafkaform.access_tools import AccessTools, parse_description


class AccessDescribed(FactBase):
    """
    Returns ``(bindings, {user: SCRAM mechanisms})``. ``tool`` is the command line that starts
    a Kafka tool's JVM up to its main class (with a ``{main}`` placeholder). A tool that fails
    makes the fact fail (kafkaform.access_tools.DescribeError).
    """

    def command(self, tool: str, servers: str, command_config: str) -> str:
        return AccessTools(tool, servers, command_config).describe()

    def process(self, output: list[str]) -> tuple[frozenset[Binding], dict[str, tuple[str, ...]]]:
        return parse_description(output)
