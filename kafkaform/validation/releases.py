"""What gets downloaded: versions kafkaform can run, checksums of the right length, URLs that
are safe to hand to curl on a host."""

from __future__ import annotations

import re
from typing import Any

from kafkaform.cluster import Node
from kafkaform.settings import CHECKSUM_SETTINGS, URL_SETTINGS
from kafkaform.upgrade import PROTOCOL_KEY, protocol_of
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import shown, unsafe_chars

VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
SCALA_VERSIONS = ("2.12", "2.13")  # the builds Apache publishes for Kafka 3.x
ZOOKEEPER_MODE_MAJOR = 3  # Kafka 4.0 removed ZooKeeper mode; kafkaform deploys the 3.x line
HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
URL_SCHEME_RE = re.compile(r"^https?://[^/]")
# URL characters that stay inside one shell word and one quoted string: no space, quote,
# backslash, '$', '`', ';', '|', '<', '>', '(', ')', '{', '}', '*' or control character.
URL_CHAR = re.compile(r"[A-Za-z0-9._~:/?#@%+=&,!-]")


def check_versions(node: Node) -> list[Problem]:
    problems = []
    s = node.settings
    kafka = s["kafka_version"]
    if isinstance(kafka, str):
        match = VERSION_RE.match(kafka)
        if not match:
            problems.append(
                Problem(
                    node.name,
                    "kafka_version",
                    f"{shown('', kafka)} is not a full version like '3.9.2' (major.minor.patch)",
                )
            )
        elif int(match.group(1)) > ZOOKEEPER_MODE_MAJOR:
            problems.append(
                Problem(
                    node.name,
                    "kafka_version",
                    f"Kafka {kafka} has no ZooKeeper mode (removed in 4.0): kafkaform deploys "
                    "3.x with ZooKeeper; a 4.x cluster runs in KRaft mode, reached by the "
                    "3.9 ZooKeeper-to-KRaft migration",
                )
            )
        elif int(match.group(1)) < ZOOKEEPER_MODE_MAJOR:
            problems.append(
                Problem(node.name, "kafka_version", f"Kafka {kafka}: kafkaform deploys 3.x")
            )
        else:
            problems += protocol_pin_problems(node, kafka)
    if not isinstance(s["kafka_upgrade_hold_protocol"], bool):
        problems.append(Problem(node.name, "kafka_upgrade_hold_protocol", "must be True or False"))
    scala = s["scala_version"]
    if isinstance(scala, str) and scala not in SCALA_VERSIONS:
        problems.append(
            Problem(
                node.name,
                "scala_version",
                f"{shown('', scala)}: Kafka 3.x is built for Scala " + " and ".join(SCALA_VERSIONS),
            )
        )
    for key in ("jmx_exporter_version", "node_exporter_version"):
        value = s[key]
        if isinstance(value, str) and not VERSION_RE.match(value):
            problems.append(
                Problem(node.name, key, f"{shown('', value)} is not a version like '1.8.2'")
            )
    return problems


def protocol_pin_problems(node: Node, kafka: str) -> list[Problem]:
    """An operator's own inter.broker.protocol.version: one the binaries of ``kafka`` know. A
    pin above it stops the broker at start; one below it is how an upgrade is held back."""
    properties = node.settings["kafka_properties"]
    if not isinstance(properties, dict) or PROTOCOL_KEY not in properties:
        return []
    value = str(properties[PROTOCOL_KEY])
    pinned, binaries = protocol_of(value), protocol_of(kafka)
    if pinned is None:
        message = f"{shown('', value)} is not a protocol version like '3.8'"
    elif binaries is not None and pinned > binaries:
        message = (
            f"{value} is newer than Kafka {kafka} speaks: pin it at "
            f"{binaries[0]}.{binaries[1]} or lower, or raise kafka_version"
        )
    else:
        return []
    return [Problem(node.name, f"kafka_properties['{PROTOCOL_KEY}']", message)]


def check_checksums(node: Node) -> list[Problem]:
    problems = []
    for key, length in CHECKSUM_SETTINGS.items():
        value = node.settings[key]
        if isinstance(value, str) and not (len(value) == length and HEX_RE.match(value)):
            problems.append(
                Problem(
                    node.name,
                    key,
                    f"a {key.rsplit('_', 1)[-1]} checksum is {length} hex digits, got "
                    f"{len(value)} characters{'' if HEX_RE.match(value) else ' (not all hex)'}",
                )
            )
    return problems


def url_problem(key: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return None  # value_types
    if not URL_SCHEME_RE.match(value):
        return f"{shown(key, value)} is not an http:// or https:// URL"
    bad = unsafe_chars(value, URL_CHAR)
    if bad:
        return f"{shown(key, value)} has characters a URL passed to a shell must not have ({bad})"
    return None


def check_urls(node: Node) -> list[Problem]:
    return [
        Problem(node.name, key, message)
        for key in URL_SETTINGS
        if (message := url_problem(key, node.settings[key]))
    ]
