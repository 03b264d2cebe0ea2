"""kafka_topics: each entry's shape, Kafka's topic name rules, counts the brokers can hold,
min.insync.replicas against the replication factor, and config keys Kafka 3.9 knows."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from kafkaform.cluster import Cluster, Node
from kafkaform.topics import THROTTLE_CONFIGS, collision_key, name_problem
from kafkaform.validation.problems import Problem, did_you_mean
from kafkaform.validation.values import is_int, shown, type_name

SETTING = "kafka_topics"
THROTTLE_SETTING = "kafka_topics_reassign_throttle"
# Below this a raise may copy slower than producers write: the new replicas never catch up.
THROTTLE_LOW = 1_000_000
REQUIRED = ("name", "partitions", "replication_factor")
OPTIONAL = ("configs", "delete")
ENTRY_KEYS = (*REQUIRED, *OPTIONAL)

# Kafka 3.9's topic-level configs (org.apache.kafka.common.config.TopicConfig) and the kind
# of value each takes; a set is the values Kafka accepts.
LONG, INT, BOOL, RATIO, TEXT = "long", "int", "bool", "ratio", "text"
COMPRESSION = {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
TOPIC_CONFIGS: dict[str, str | frozenset[str]] = {
    "cleanup.policy": frozenset({"delete", "compact"}),  # a list of these
    "compression.type": frozenset(COMPRESSION),
    "compression.gzip.level": INT,
    "compression.lz4.level": INT,
    "compression.zstd.level": INT,
    "delete.retention.ms": LONG,
    "file.delete.delay.ms": LONG,
    "flush.messages": LONG,
    "flush.ms": LONG,
    "index.interval.bytes": INT,
    "local.retention.bytes": LONG,
    "local.retention.ms": LONG,
    "max.compaction.lag.ms": LONG,
    "max.message.bytes": INT,
    "message.downconversion.enable": BOOL,
    "message.format.version": TEXT,
    "message.timestamp.after.max.ms": LONG,
    "message.timestamp.before.max.ms": LONG,
    "message.timestamp.difference.max.ms": LONG,
    "message.timestamp.type": frozenset({"CreateTime", "LogAppendTime"}),
    "min.cleanable.dirty.ratio": RATIO,
    "min.compaction.lag.ms": LONG,
    "min.insync.replicas": INT,
    "preallocate": BOOL,
    "remote.log.copy.disable": BOOL,
    "remote.log.delete.on.disable": BOOL,
    "remote.storage.enable": BOOL,
    "retention.bytes": LONG,
    "retention.ms": LONG,
    "segment.bytes": INT,
    "segment.index.bytes": INT,
    "segment.jitter.ms": LONG,
    "segment.ms": LONG,
    "unclean.leader.election.enable": BOOL,
}
WHOLE_RE = re.compile(r"^-?[0-9]+$")
NUMBER_RE = re.compile(r"^[0-9]*\.?[0-9]+$")


def entries(node: Node) -> list[tuple[str, Mapping[str, Any]]]:
    """(field, entry) of each entry that is a mapping; the field names it by name if it has one."""
    topics = node.settings[SETTING]
    if not isinstance(topics, list):
        return []  # value_types reports it
    found = []
    for index, entry in enumerate(topics):
        if isinstance(entry, Mapping):
            name = entry.get("name")
            label = repr(name) if isinstance(name, str) and name else str(index)
            found.append((f"{SETTING}[{label}]", entry))
    return found


def check_topics(node: Node) -> list[Problem]:
    """Each entry on its own, then the list: duplicate names and names that collide."""
    topics = node.settings[SETTING]
    if not isinstance(topics, list):
        return []
    problems = []
    for index, entry in enumerate(topics):
        if not isinstance(entry, Mapping):
            problems.append(
                Problem(
                    node.name,
                    f"{SETTING}[{index}]",
                    f"each topic is a dict (name, partitions, replication_factor, configs), "
                    f"got {type_name(entry)}",
                )
            )
    for field, entry in entries(node):
        problems += [Problem(node.name, f, m) for f, m in entry_problems(field, entry)]
    problems += [Problem(node.name, SETTING, m, w) for m, w in list_problems(node)]
    throttle = node.settings[THROTTLE_SETTING]
    if is_int(throttle) and 1 <= throttle < THROTTLE_LOW:
        problems.append(
            Problem(
                node.name,
                THROTTLE_SETTING,
                f"{throttle} bytes/s: a replication raise copying slower than the topic is "
                "written never finishes; it is a rate per broker, e.g. 50000000 (50 MB/s)",
                warning=True,
            )
        )
    return problems


def entry_problems(field: str, entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    for key in entry:
        if key not in ENTRY_KEYS:
            found.append((f"{field}.{key}", f"unknown key{did_you_mean(str(key), ENTRY_KEYS)}"))
    for key in REQUIRED:
        if key not in entry:
            found.append((f"{field}.{key}", "missing"))
    name = entry.get("name")
    if "name" in entry:
        if not isinstance(name, str):
            found.append((f"{field}.name", f"must be a string, got {shown('', name)}"))
        elif problem := name_problem(name):
            found.append((f"{field}.name", problem))
    for key in ("partitions", "replication_factor"):
        value = entry.get(key)
        if key in entry and (not is_int(value) or value < 1):
            found.append((f"{field}.{key}", f"must be a whole number of 1 or more, got {value!r}"))
    if "delete" in entry and not isinstance(entry["delete"], bool):
        found.append(
            (f"{field}.delete", f"must be True or False, got {shown('', entry['delete'])}")
        )
    configs = entry.get("configs", {})
    if not isinstance(configs, Mapping):
        found.append(
            (f"{field}.configs", f"must be a dict of topic configs, got {type_name(configs)}")
        )
    else:
        for key, value in configs.items():
            message = config_problem(key, value)
            if message:
                found.append((f"{field}.configs[{key!r}]", message))
    return found


def config_problem(key: Any, value: Any) -> str | None:
    """Why Kafka 3.9 would refuse ``key=value`` as a topic config, or None (None as a value
    removes the topic's override)."""
    if not isinstance(key, str):
        return f"config names are strings, got {type_name(key)}"
    if key in THROTTLE_CONFIGS:
        return "set and removed by a reassignment's throttle, not by the inventory"
    kind = TOPIC_CONFIGS.get(key)
    if kind is None:
        return f"not a Kafka 3.9 topic config{did_you_mean(key, TOPIC_CONFIGS)}"
    if value is None:
        return None
    if key == "cleanup.policy" and isinstance(value, (list, tuple)):
        items = list(value)
    elif key == "cleanup.policy" and isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    else:
        items = [value]
    for item in items:
        message = value_problem(kind, item)
        if message:
            return message
    if key == "min.insync.replicas" and int(value) < 1:
        return f"{value!r} must be 1 or more"
    return None


def value_problem(kind: str | frozenset[str], value: Any) -> str | None:
    if isinstance(kind, frozenset):
        if value not in kind:
            return f"{value!r} is not one of {', '.join(sorted(kind))}"
        return None
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if kind in (LONG, INT) and not (
        is_int(value) or (isinstance(value, str) and WHOLE_RE.match(value))
    ):
        return f"expected a whole number, got {value!r}"
    if kind == BOOL and text not in ("true", "false"):
        return f"expected True or False, got {value!r}"
    if kind == RATIO and not (
        (is_int(value) or isinstance(value, float) or NUMBER_RE.match(text))
        and 0 <= float(value) <= 1
    ):
        return f"expected a number from 0 to 1, got {value!r}"
    if kind == TEXT and not isinstance(value, str):
        return f"expected a string, got {value!r}"
    return None


def list_problems(node: Node) -> list[tuple[str, bool]]:
    """(message, warning) about the list as a whole."""
    names: dict[str, int] = defaultdict(int)
    keys: dict[str, list[str]] = defaultdict(list)
    for _, entry in entries(node):
        name = entry.get("name")
        if isinstance(name, str) and not name_problem(name):
            names[name] += 1
            if names[name] == 1:
                keys[collision_key(name)].append(name)
    found = [(f"{name!r} is listed {n} times", False) for name, n in names.items() if n > 1]
    found += [
        (
            f"{' and '.join(map(repr, same))} collide: Kafka's metric names make '.' and '_' "
            "the same, and Kafka refuses to create the second",
            False,
        )
        for same in keys.values()
        if len(same) > 1
    ]
    found += [
        (
            f"{name!r} mixes '.' and '_': such names can collide in metric names; use one "
            "of them, not both",
            True,
        )
        for name in names
        if "." in name and "_" in name
    ]
    return found


def check_topic_replication(cluster: Cluster, node: Node) -> list[Problem]:
    """What the brokers can hold (for a broker with valid ids): replication factor up to the
    broker count, min.insync.replicas (the topic's, else the brokers') up to the factor."""
    problems = []
    count = len(cluster.brokers)
    overrides = node.settings["kafka_properties"]
    broker_min_isr = {
        **cluster.replication_defaults(),
        **(overrides if isinstance(overrides, Mapping) else {}),
    }["min.insync.replicas"]
    for field, entry in entries(node):
        rf = entry.get("replication_factor")
        if not is_int(rf) or rf < 1 or entry.get("delete") is True:
            continue
        if rf > count:
            problems.append(
                Problem(
                    node.name,
                    f"{field}.replication_factor",
                    f"{rf} replicas cannot be placed on {count} broker(s)",
                )
            )
        configs = entry.get("configs")
        own = configs.get("min.insync.replicas") if isinstance(configs, Mapping) else None
        min_isr = own if own is not None else broker_min_isr
        source = "" if own is not None else " (the brokers' default)"
        if isinstance(min_isr, str) and WHOLE_RE.match(min_isr):
            min_isr = int(min_isr)
        if not is_int(min_isr):
            continue  # reported with the config or the property
        where = f"{field}.configs['min.insync.replicas']" if own else f"{field}.replication_factor"
        if min_isr > rf:
            problems.append(
                Problem(
                    node.name,
                    where,
                    f"{min_isr}{source} is above the replication factor {rf}: every write "
                    "with acks=all would be refused",
                )
            )
        elif min_isr == rf and rf > 1:
            problems.append(
                Problem(
                    node.name,
                    where,
                    f"{min_isr}{source} equals the replication factor: writes with acks=all "
                    "stop whenever one replica is down (every rolling restart); use "
                    f"{rf - 1}",
                    warning=True,
                )
            )
    return problems
