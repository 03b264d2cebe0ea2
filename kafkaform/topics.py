"""Topics as code: the topics an inventory declares (``kafka_topics``) against the topics a
cluster has, as a plan of actions. Pure: no host, no tool; the deploy (deploys/tasks/topics.py)
reads the cluster and runs the plan.

The plan only ever adds: it creates topics, adds partitions, sets the config keys the
inventory names and raises replication factors by a reassignment that keeps every existing
replica. A topic is deleted only when its entry says ``delete: True``; a topic the inventory
does not list is left alone. Anything that would need a decrease is an error of the whole
plan, found before any action runs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Kafka's own rules for a topic name (org.apache.kafka.common.internals.Topic).
NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")
NAME_MAX = 249
# Kafka creates and owns these; their partition count is part of how groups and transactions
# find their coordinator, so they are never managed from an inventory.
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
# Topic configs a reassignment's throttle sets, and its --verify removes once it is done.
THROTTLE_CONFIGS = (
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
)


def name_problem(name: str) -> str | None:
    """Why Kafka would refuse ``name`` as a topic name, or None."""
    if not name:
        return "a topic name cannot be empty"
    if name in (".", ".."):
        return f"{name!r} is not a legal topic name"
    if len(name) > NAME_MAX:
        return f"{len(name)} characters: Kafka allows at most {NAME_MAX}"
    if not NAME_RE.match(name):
        return "letters, digits, '.', '_' and '-' only"
    if name in INTERNAL_TOPICS:
        return "an internal topic: Kafka creates and manages it"
    return None


def collision_key(name: str) -> str:
    """Kafka's metric names turn '.' into '_': two topics with the same key collide, and
    Kafka refuses to create the second."""
    return name.replace(".", "_")


def config_text(value: Any) -> str | None:
    """A config value as Kafka describes it: lowercase booleans, lists comma-joined; None
    (remove the topic's override) stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(config_text(item)) for item in value)
    return str(value)


@dataclass(frozen=True)
class TopicSpec:
    """One entry of ``kafka_topics``; configs as text, None = remove the override."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str | None] = field(default_factory=dict)
    delete: bool = False

    @classmethod
    def from_setting(cls, entry: Mapping[str, Any]) -> TopicSpec:
        """From a validated entry of ``kafka_topics``."""
        return cls(
            name=entry["name"],
            partitions=entry["partitions"],
            replication_factor=entry["replication_factor"],
            configs={k: config_text(v) for k, v in (entry.get("configs") or {}).items()},
            delete=entry.get("delete", False) is True,
        )


def desired_topics(setting: Iterable[Mapping[str, Any]]) -> list[TopicSpec]:
    return [TopicSpec.from_setting(entry) for entry in setting]


@dataclass(frozen=True)
class ActualTopic:
    """A topic as the cluster describes it."""

    name: str
    assignment: Mapping[int, tuple[int, ...]]  # partition -> replicas (preferred leader first)
    configs: Mapping[str, str] = field(default_factory=dict)  # the topic's own overrides only
    reassigning: bool = False  # a reassignment is in progress

    @property
    def partitions(self) -> int:
        return len(self.assignment)


@dataclass(frozen=True)
class Create:
    topic: TopicSpec

    def __str__(self) -> str:
        t = self.topic
        configs = "".join(f", {k}={v}" for k, v in t.configs.items() if v is not None)
        return (
            f"create {t.name}: {t.partitions} partition(s), "
            f"replication factor {t.replication_factor}{configs}"
        )


@dataclass(frozen=True)
class Reassign:
    """Raise the replication factor: every partition keeps its replicas, in order (so its
    preferred leader), and gets new ones on the brokers holding the fewest replicas."""

    name: str
    current: int
    wanted: int
    assignment: Mapping[int, tuple[int, ...]]  # the whole new assignment of changed partitions

    def __str__(self) -> str:
        return (
            f"raise the replication factor of {self.name} from {self.current} to {self.wanted} "
            f"(reassign {len(self.assignment)} partition(s), existing replicas kept)"
        )


@dataclass(frozen=True)
class AddPartitions:
    name: str
    current: int
    wanted: int

    def __str__(self) -> str:
        return f"add partitions to {self.name}: {self.current} -> {self.wanted}"


@dataclass(frozen=True)
class AlterConfigs:
    name: str
    set: Mapping[str, str]
    delete: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.set.items()]
        parts += [f"remove {k}" for k in self.delete]
        return f"configs of {self.name}: {', '.join(parts)}"


@dataclass(frozen=True)
class Delete:
    name: str

    def __str__(self) -> str:
        return f"delete {self.name} (marked delete: True)"


@dataclass(frozen=True)
class ClearThrottle:
    """A finished reassignment's throttle still set (its run was stopped before --verify):
    verified against the topic's assignment now, which removes it."""

    name: str
    assignment: Mapping[int, tuple[int, ...]]

    def __str__(self) -> str:
        return f"remove the replication throttle a finished reassignment left on {self.name}"


Action = Create | Reassign | AddPartitions | AlterConfigs | ClearThrottle | Delete


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # any error: nothing may run
    notes: list[str] = field(default_factory=list)  # what the plan leaves alone, and why


class TopicPlanError(Exception):
    """A plan with errors; ``where`` is the broker whose description it was made from.
    ``prepared``: found while the deploy was prepared, so no host was changed yet."""

    def __init__(self, errors: list[str], where: str, prepared: bool) -> None:
        self.errors = errors
        head = (
            "refusing this deploy, nothing was changed"
            if prepared
            else "kafka_topics not applied, no topic was changed"
        )
        lines = "\n".join(f"  - {where}: {e}" for e in errors)
        super().__init__(
            f"{head}; {len(errors)} change(s) kafkaform never makes to a topic:\n{lines}"
        )


def plan_topics(
    desired: Sequence[TopicSpec],
    actual: Mapping[str, ActualTopic],
    brokers: Sequence[int],
) -> Plan:
    """The actions that bring ``actual`` to ``desired``, in the order they must run: creations,
    replication raises (new partitions then get the raised factor), added partitions, configs
    (a raised min.insync.replicas after the replicas it needs), throttles left behind,
    deletions."""
    plan = Plan()
    load = replica_load(actual.values(), brokers)
    creates, raises, grows, alters, clears, deletes = [], [], [], [], [], []
    keys = {collision_key(name): name for name in actual}
    for spec in desired:
        topic = actual.get(spec.name)
        if spec.delete:
            if topic is not None:
                deletes.append(Delete(spec.name))
            continue
        if topic is None:
            other = keys.get(collision_key(spec.name))
            if other is not None:
                plan.errors.append(
                    f"{field(spec.name, 'name')}: collides with the existing topic {other} "
                    "('.' and '_' are "
                    "the same in metric names): Kafka refuses to create it"
                )
                continue
            creates.append(Create(spec))
            continue
        plan.errors += decrease_errors(spec, topic)
        if topic.reassigning:
            plan.notes.append(
                f"{spec.name}: a reassignment is in progress; partitions and replicas are "
                "planned again by the next run"
            )
        else:
            raise_action = raise_replication(spec, topic, brokers, load)
            raises += [raise_action] if raise_action else []
            if not raise_action and any(k in topic.configs for k in THROTTLE_CONFIGS):
                clears.append(ClearThrottle(spec.name, topic.assignment))
            if spec.partitions > topic.partitions:
                grows.append(AddPartitions(spec.name, topic.partitions, spec.partitions))
        alter, note = config_changes(spec, topic)
        alters += [alter] if alter else []
        plan.notes += [note] if note else []
    listed = {spec.name for spec in desired}
    unlisted = sorted(set(actual) - listed)
    if unlisted:
        plan.notes.append(
            f"{len(unlisted)} topic(s) not in kafka_topics left alone: {', '.join(unlisted)}"
        )
    if not plan.errors:
        plan.actions = [*creates, *raises, *grows, *alters, *clears, *deletes]
    return plan


def field(name: str, key: str) -> str:
    """The inventory field an error is about, as validation names it."""
    return f"kafka_topics[{name!r}].{key}"


def decrease_errors(spec: TopicSpec, topic: ActualTopic) -> list[str]:
    errors = []
    if spec.partitions < topic.partitions:
        errors.append(
            f"{field(spec.name, 'partitions')}: {topic.partitions} partitions in the cluster, "
            f"{spec.partitions} in kafka_topics: Kafka cannot remove partitions (keys would "
            "move between them); "
            f"set partitions: {topic.partitions}, or create a new topic and migrate"
        )
    current = max((len(r) for r in topic.assignment.values()), default=0)
    if spec.replication_factor < current:
        errors.append(
            f"{field(spec.name, 'replication_factor')}: replication factor {current} in the "
            "cluster, "
            f"{spec.replication_factor} in kafka_topics: kafkaform never removes replicas; "
            f"set replication_factor: {current} (lowering it is a manual reassignment)"
        )
    return errors


def replica_load(topics: Iterable[ActualTopic], brokers: Sequence[int]) -> Counter[int]:
    """How many replicas each broker holds now (every inventory broker counted, even at 0)."""
    load: Counter[int] = Counter({broker: 0 for broker in brokers})
    for topic in topics:
        for replicas in topic.assignment.values():
            load.update(replicas)
    return load


def raise_replication(
    spec: TopicSpec, topic: ActualTopic, brokers: Sequence[int], load: Counter[int]
) -> Reassign | None:
    """New replicas for partitions below the wanted factor; ``load`` is updated as replicas
    are placed, so that several topics' raises spread over the brokers too."""
    assignment: dict[int, tuple[int, ...]] = {}
    for partition, replicas in sorted(topic.assignment.items()):
        missing = spec.replication_factor - len(replicas)
        if missing <= 0:
            continue
        chosen = list(replicas)
        for _ in range(missing):
            candidates = [b for b in brokers if b not in chosen]
            if not candidates:
                break  # validation keeps the factor within the broker count
            best = min(candidates, key=lambda b: (load[b], b))
            chosen.append(best)
            load[best] += 1
        assignment[partition] = tuple(chosen)
    if not assignment:
        return None
    current = min(len(topic.assignment[p]) for p in assignment)
    return Reassign(spec.name, current, spec.replication_factor, assignment)


def config_changes(spec: TopicSpec, topic: ActualTopic) -> tuple[AlterConfigs | None, str | None]:
    """The keys the inventory sets that differ, the overrides it removes (None), and a note
    naming the topic's overrides it leaves alone (set on the cluster, not in the inventory)."""
    to_set = {
        key: value
        for key, value in spec.configs.items()
        if value is not None and topic.configs.get(key) != value
    }
    to_delete = tuple(k for k, v in spec.configs.items() if v is None and k in topic.configs)
    alone = sorted(set(topic.configs) - set(spec.configs) - set(THROTTLE_CONFIGS))
    note = (
        f"{spec.name}: configs not in kafka_topics left as they are: {', '.join(alone)}"
        if alone
        else None
    )
    if to_set or to_delete:
        return AlterConfigs(spec.name, to_set, to_delete), note
    return None, note
