"""kafka_properties / zookeeper_properties: literal property names and values, rendered as
``key=value`` lines, so a key or value must not be able to start another line or property."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kafkaform.cluster import (
    DERIVED_ZOOKEEPER_PROPERTIES,
    Cluster,
    Node,
    kafka_derived_table,
)
from kafkaform.derived import Derived, derived_owner
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import CONTROL_RE, is_int, shown, type_name
from kafkaform.zookeeper_security import server_properties

# Kafka and ZooKeeper property names are dotted words (listener.name.sasl_ssl.plain.sasl.jaas
# .config, 4lw.commands.whitelist); anything else (a space, '=', ':', '#', a control
# character) would be split or read differently by java.util.Properties.
PROPERTY_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def settings_tables(node: Node) -> dict[str, Mapping[str, Derived]]:
    """The derived properties of each property setting, as this host's config composes them
    (a secured broker's include what its security level sets)."""
    return {
        "kafka_properties": kafka_derived_table(node),
        "zookeeper_properties": DERIVED_ZOOKEEPER_PROPERTIES,
    }


REPLICATION_KEYS = (
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
)
RESERVED_BROKER_MAX_ID = 1000  # Kafka's default reserved.broker.max.id
# ZooKeeper keys of kafkaform's membership changes by reconfig and of its admin user
# (kafkaform.ensemble_config): set by kafkaform, or (skipACL) off because it would let anyone
# reconfigure the ensemble and switch off every ACL Kafka sets.
RECONFIG_KEYS = {
    "reconfigEnabled": "kafkaform sets it to true: membership changes use reconfig",
    "standaloneEnabled": "kafkaform sets it to false: a single server can then grow by reconfig",
    "dynamicConfigFile": "ZooKeeper's own, kept in zookeeper_dynamic_dir",
    "DigestAuthenticationProvider.superDigest": "kafkaform's transient bootstrap only",
    "skipACL": "it would switch off every ACL, the reconfig one and Kafka's",
    "zookeeper.skipACL": "it would switch off every ACL, the reconfig one and Kafka's",
}

# A secured server's zoo.cfg security keys (kafkaform.zookeeper_security) are kafkaform's.
SECURED_KEYS = "kafkaform sets it on a secured cluster (security), with the others it goes with"


def check_properties(node: Node) -> list[Problem]:
    problems = []
    for setting, table in settings_tables(node).items():
        props = node.settings[setting]
        if not isinstance(props, Mapping):
            continue  # value_types reports it
        for key, value in props.items():
            field = f"{setting}[{key!r}]" if isinstance(key, str) else setting
            problems += key_problems(node.name, setting, field, key)
            owner = derived_owner(table, key)
            if owner:
                problems.append(
                    Problem(node.name, field, f"derived by kafkaform: set {owner} instead")
                )
            if setting == "zookeeper_properties" and key in RECONFIG_KEYS:
                problems.append(Problem(node.name, field, f"cannot be set: {RECONFIG_KEYS[key]}"))
            if setting == "zookeeper_properties" and key in server_properties(node.settings):
                problems.append(Problem(node.name, field, f"cannot be set: {SECURED_KEYS}"))
            message = value_problem(key, value)
            if message:
                problems.append(Problem(node.name, field, message))
    return problems


def key_problems(where: str, setting: str, field: str, key: Any) -> list[Problem]:
    if not isinstance(key, str):
        return [
            Problem(where, setting, f"property names are strings, got {type_name(key)} {key!r}")
        ]
    if not PROPERTY_KEY_RE.match(key):
        return [
            Problem(
                where,
                field,
                "not a property name: letters, digits, '.', '_' and '-' only "
                "(no space, '=', ':', '#' or control character)",
            )
        ]
    return []


def value_problem(key: Any, value: Any) -> str | None:
    """Why ``value`` cannot be written as one property value, or None."""
    if value is None:
        return "None is not a value: remove the key to get the default"
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, (list, tuple, Mapping)) or item is None:
                return f"a list item must be a string or a number, got {type_name(item)}"
        return next(filter(None, (value_problem(key, v) for v in value)), None)
    if isinstance(value, Mapping):
        return "a dict is not a property value: use a string, a number, a bool or a list"
    if not isinstance(value, (str, int, float)):
        return f"a {type_name(value)} is not a property value"
    text = str(value)
    if CONTROL_RE.search(text):
        return (
            f"{shown(key, value)} has a newline or control character: it would start "
            "another line (and smuggle in another property)"
        )
    if text.endswith("\\"):
        return f"{shown(key, value)} ends with '\\', which joins the next line to this value"
    return None


def check_broker_properties(cluster: Cluster, node: Node) -> list[Problem]:
    """What Kafka itself would refuse at start-up, for a broker with valid ids."""
    problems = []
    overrides = node.settings["kafka_properties"]
    if not isinstance(overrides, Mapping):
        return []
    count = len(cluster.brokers)
    props = {**cluster.replication_defaults(), **overrides}
    for key in REPLICATION_KEYS:
        value = props[key]
        if not is_int(value) or not 1 <= value <= count:
            problems.append(
                Problem(
                    node.name,
                    f"kafka_properties['{key}']",
                    f"{shown(key, value)} cannot be satisfied by {count} broker(s)",
                )
            )
    min_isr, rf = props["min.insync.replicas"], props["default.replication.factor"]
    if not is_int(min_isr) or min_isr < 1 or (is_int(rf) and min_isr > rf):
        problems.append(
            Problem(
                node.name,
                "kafka_properties['min.insync.replicas']",
                f"{shown('', min_isr)} must be between 1 and the replication factor "
                f"({shown('', rf)})",
            )
        )
    problems += reserved_id_problems(node, overrides)
    return problems


def reserved_id_problems(node: Node, overrides: Mapping[str, Any]) -> list[Problem]:
    """Kafka refuses a broker.id above reserved.broker.max.id while id generation is on (the
    default): the ids above it are the ones it hands out itself."""
    generation = str(overrides.get("broker.id.generation.enable", True)).lower()
    if generation == "false" or not is_int(node.kafkaid):
        return []
    raw = overrides.get("reserved.broker.max.id", RESERVED_BROKER_MAX_ID)
    limit = int(raw) if is_int(raw) or (isinstance(raw, str) and raw.isdigit()) else None
    if limit is None:
        return [
            Problem(
                node.name,
                "kafka_properties['reserved.broker.max.id']",
                f"{shown('', raw)} is not a whole number",
            )
        ]
    if node.kafkaid > limit:
        return [
            Problem(
                node.name,
                "kafkaid",
                f"{node.kafkaid} is above reserved.broker.max.id ({limit}): Kafka refuses it; "
                "use a lower kafkaid or raise reserved.broker.max.id in kafka_properties",
            )
        ]
    return []
