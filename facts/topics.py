"""The cluster's topics as Kafka's own tools describe them, read on one broker host: partitions
and replicas (TopicCommand --describe) and each topic's own config overrides (ConfigCommand
--describe, which lists only the configs set on the topic itself)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyinfra.api import FactBase

from kafkaform.topics import ActualTopic

TOPICS_MARK = "kafkaform-topics"
CONFIGS_MARK = "kafkaform-topic-configs"
FAILED_MARK = "kafkaform-describe-failed"
# ConfigCommand prints "Dynamic configs for topic posts are:", then one line per override:
# "  key=value sensitive=false synonyms={...}"
CONFIG_HEADER_RE = re.compile(r"^Dynamic configs for topic (\S+) are:$")
CONFIG_LINE_RE = re.compile(r"^\s+([^=\s]+)=(.*) sensitive=(?:true|false) synonyms=\{.*\}$")


class DescribeError(Exception):
    pass


class TopicsDescribed(FactBase):
    """
    Returns ``{name: ActualTopic}`` for every topic but Kafka's internal ones. ``tool`` is the
    command line that starts a Kafka tool's JVM up to its main class (with a ``{main}``
    placeholder); ``bootstrap`` the broker to ask. A tool that fails makes the fact fail: a
    plan made from half a description could create a topic that exists.
    """

    def command(
        self, tool: str, topic_command: str, config_command: str, bootstrap: str, login: str = ""
    ) -> str:
        """``login``: the tools' client-config option and file on a secured cluster."""
        topics = tool.format(main=topic_command)
        configs = tool.format(main=config_command)
        return "\n".join(
            [
                f"echo {TOPICS_MARK}",
                f"{topics} --bootstrap-server {bootstrap}{login} --describe --exclude-internal 2>&1"
                f" || echo {FAILED_MARK}",
                f"echo {CONFIGS_MARK}",
                f"{configs} --bootstrap-server {bootstrap}{login} --entity-type topics --describe"
                " 2>&1"
                f" || echo {FAILED_MARK}",
            ]
        )

    def process(self, output: list[str]) -> dict[str, ActualTopic]:
        return parse_description(output)


def parse_description(output: Iterable[str]) -> dict[str, ActualTopic]:
    lines = list(output)
    if FAILED_MARK in (line.strip() for line in lines):
        raise DescribeError("Kafka's tools could not describe the topics:\n" + "\n".join(lines))
    section = None
    assignment: dict[str, dict[int, tuple[int, ...]]] = {}
    reassigning: set[str] = set()
    configs: dict[str, dict[str, str]] = {}
    current = None
    for line in lines:
        mark = line.strip()
        if mark in (TOPICS_MARK, CONFIGS_MARK):
            section = mark
            continue
        if section == TOPICS_MARK:
            fields = describe_fields(line)
            if "Partition" in fields:
                name = fields["Topic"]
                replicas = tuple(int(b) for b in fields.get("Replicas", "").split(",") if b)
                assignment.setdefault(name, {})[int(fields["Partition"])] = replicas
                if fields.get("Adding Replicas") or fields.get("Removing Replicas"):
                    reassigning.add(name)
            elif "PartitionCount" in fields:
                assignment.setdefault(fields["Topic"], {})
        elif section == CONFIGS_MARK:
            header = CONFIG_HEADER_RE.match(mark)
            if header:
                current = header.group(1)
                configs.setdefault(current, {})
                continue
            entry = CONFIG_LINE_RE.match(line)
            if entry and current is not None:
                configs[current][entry.group(1)] = entry.group(2)
    return {
        name: ActualTopic(name, parts, configs.get(name, {}), name in reassigning)
        for name, parts in assignment.items()
    }


def describe_fields(line: str) -> dict[str, str]:
    """TopicCommand's tab-separated "Key: value" fields of one line."""
    fields = {}
    for part in line.strip().split("\t"):
        key, sep, value = part.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields
