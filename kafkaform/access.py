"""Users and ACLs as code: the model of ``kafka_users`` and ``kafka_acls``, Kafka's ACL
vocabulary, and the plan that brings a cluster's ACL bindings and SCRAM users to the inventory's.

One ``kafka_acls`` entry with several operations is several Kafka ACL bindings (Kafka stores one
per operation). The cluster holds what is listed plus the built-in bindings kafkaform's own
monitoring user needs; every other binding is revoked.

Which SCRAM users kafkaform manages: every SCRAM user of the cluster except the built-in ones,
as with ACLs. The cluster's credentials are the record, so nothing else (a znode, a file on a
host) can drift from it or be lost, and the rule outlives ZooKeeper (KRaft lists the same users
through the same Admin API). A user made by hand is deleted by the next deploy, and the deploy
prints that it does.

Pure: no host, no Kafka client. The inventory's entries are validated by
kafkaform.validation.access before anything here reads them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# kafkaform's own SCRAM users are kafkaform.security's: the two first are super users; the
# monitor has BUILT_IN_BINDINGS.
from kafkaform.security import BUILTIN_USERS, MONITOR_USER

SCRAM_MECHANISM = "SCRAM-SHA-512"

# The one name of the CLUSTER resource.
CLUSTER_NAME = "kafka-cluster"
# kafka_acls' resource types -> Kafka's ResourceType names.
RESOURCE_TYPES = {
    "topic": "TOPIC",
    "group": "GROUP",
    "cluster": "CLUSTER",
    "transactional_id": "TRANSACTIONAL_ID",
    "delegation_token": "DELEGATION_TOKEN",
}
PATTERN_TYPES = {"literal": "LITERAL", "prefixed": "PREFIXED"}
PERMISSIONS = {"allow": "ALLOW", "deny": "DENY"}
# Kafka's AclOperation names -> the names its AclCommand takes.
OPERATIONS = {
    "ALL": "All",
    "READ": "Read",
    "WRITE": "Write",
    "CREATE": "Create",
    "DELETE": "Delete",
    "ALTER": "Alter",
    "DESCRIBE": "Describe",
    "CLUSTER_ACTION": "ClusterAction",
    "DESCRIBE_CONFIGS": "DescribeConfigs",
    "ALTER_CONFIGS": "AlterConfigs",
    "IDEMPOTENT_WRITE": "IdempotentWrite",
    "CREATE_TOKENS": "CreateTokens",
    "DESCRIBE_TOKENS": "DescribeTokens",
}
# The operations Kafka 3.9 accepts on each resource type (AclCommand refuses others).
SUPPORTED = {
    "TOPIC": (
        "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE",
        "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
    ),
    "GROUP": ("ALL", "READ", "DELETE", "DESCRIBE"),
    "CLUSTER": (
        "ALL", "CREATE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS",
        "ALTER_CONFIGS", "IDEMPOTENT_WRITE",
    ),
    "TRANSACTIONAL_ID": ("ALL", "WRITE", "DESCRIBE"),
    "DELEGATION_TOKEN": ("ALL", "DESCRIBE"),
    "USER": ("ALL", "CREATE_TOKENS", "DESCRIBE_TOKENS"),  # found on a cluster, never listed
}  # fmt: skip
# User names and resource names kafkaform writes: a safe subset of what Kafka takes, so that
# no name needs quoting in AclCommand's output (which is parsed) or on a host's path.
USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
RESOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9._:@/+-]{1,249}$")
WILDCARD = "*"
ACL_DEFAULTS = {"pattern_type": "literal", "permission": "allow", "host": WILDCARD}


def operation_key(word: str) -> str:
    """What an operation is matched by: 'DescribeConfigs', 'describe_configs' and
    'DESCRIBE-CONFIGS' are one operation."""
    return re.sub(r"[\s_-]", "", word).lower()


OPERATION_KEYS = {operation_key(name): op for op, name in OPERATIONS.items()}


def operation(word: str) -> str | None:
    """Kafka's AclOperation name of ``word``, or None if it names none."""
    return OPERATION_KEYS.get(operation_key(word))


def principal_user(principal: str) -> str | None:
    """The user name of a "User:<name>" principal ('*' for every user), or None."""
    kind, _, name = principal.partition(":")
    if kind != "User" or not (name == WILDCARD or USER_NAME_RE.match(name)):
        return None
    return name


@dataclass(frozen=True, order=True)
class Binding:
    """One Kafka ACL binding, in Kafka's names (TOPIC, LITERAL, READ, ALLOW)."""

    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str

    @property
    def resource(self) -> tuple[str, str, str]:
        return (self.resource_type, self.resource_name, self.pattern_type)

    def __str__(self) -> str:
        return self.text(OPERATIONS[self.operation])

    def text(self, operations: str) -> str:
        """'allow User:alice Read, Write on topic posts', with ``operations`` as given."""
        kind = self.resource_type.lower()
        where = "" if self.host == WILDCARD else f" from {self.host}"
        pattern = "" if self.pattern_type == "LITERAL" else f" ({self.pattern_type.lower()})"
        return (
            f"{self.permission.lower()} {self.principal} {operations}"
            f" on {kind} {self.resource_name}{pattern}{where}"
        )


def entry_bindings(entry: Mapping[str, Any]) -> list[Binding]:
    """The bindings of one (valid) ``kafka_acls`` entry, defaults filled in."""
    spec = {**ACL_DEFAULTS, **entry}
    kind = RESOURCE_TYPES[spec["resource_type"]]
    name = CLUSTER_NAME if kind == "CLUSTER" else spec["resource_name"]
    return [
        Binding(
            kind,
            name,
            PATTERN_TYPES[spec["pattern_type"]],
            spec["principal"],
            spec["host"],
            operation(word) or word,
            PERMISSIONS[spec["permission"]],
        )
        for word in spec["operations"]
    ]


def monitor_bindings() -> frozenset[Binding]:
    """What the lag exporter (kafkaform.lag_exporter) asks as kafkaform-monitor: the topics
    and their end offsets (Metadata, ListOffsets: Describe on the topics), every group
    (ListGroups: Describe on the cluster lists them all; DescribeGroups: Describe on the
    groups) and each group's committed offsets (OffsetFetch: Describe on group and topic)."""
    principal = f"User:{MONITOR_USER}"
    return frozenset(
        Binding(kind, name, "LITERAL", principal, WILDCARD, "DESCRIBE", "ALLOW")
        for kind, name in (("CLUSTER", CLUSTER_NAME), ("TOPIC", WILDCARD), ("GROUP", WILDCARD))
    )


BUILT_IN_BINDINGS = monitor_bindings()


def desired_bindings(acls: Iterable[Mapping[str, Any]]) -> frozenset[Binding]:
    """Every binding a secured cluster holds: the listed ones and the built-in ones."""
    return frozenset(b for entry in acls for b in entry_bindings(entry)) | BUILT_IN_BINDINGS


def desired_users(users: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(str(user["name"]) for user in users)


@dataclass(frozen=True)
class Grant:
    """Bindings of one resource, principal, host and permission: one AclCommand --add."""

    bindings: tuple[Binding, ...]

    def __str__(self) -> str:
        return f"grant {group_text(self.bindings)}"


@dataclass(frozen=True)
class Revoke:
    """The same for an AclCommand --remove."""

    bindings: tuple[Binding, ...]

    def __str__(self) -> str:
        return f"revoke {group_text(self.bindings)}"


@dataclass(frozen=True)
class DeleteUser:
    """A SCRAM user kafka_users no longer lists: its credentials (each mechanism) go."""

    name: str
    mechanisms: tuple[str, ...]

    def __str__(self) -> str:
        return f"delete SCRAM user {self.name} (not in kafka_users)"


@dataclass(frozen=True)
class RestoreUser:
    """A user kafka_users lists and the cluster has no SCRAM-SHA-512 credential for (deleted
    by hand, or listed again after its removal): set again from the password on the host."""

    name: str

    def __str__(self) -> str:
        return f"set SCRAM user {self.name} again (listed, no credential in the cluster)"


Action = RestoreUser | Grant | Revoke | DeleteUser


def group_text(bindings: tuple[Binding, ...]) -> str:
    return bindings[0].text(", ".join(OPERATIONS[b.operation] for b in bindings))


def grouped(bindings: Iterable[Binding]) -> list[tuple[Binding, ...]]:
    """Bindings that differ in their operation only, together (one command each group)."""
    groups: dict[tuple[str, ...], list[Binding]] = defaultdict(list)
    for b in sorted(bindings):
        groups[(*b.resource, b.principal, b.host, b.permission)].append(b)
    return [tuple(group) for group in groups.values()]


@dataclass
class AccessPlan:
    actions: list[Action] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.actions)


def plan_access(
    desired: frozenset[Binding],
    actual: Iterable[Binding],
    users: Iterable[str],
    scram_users: Mapping[str, tuple[str, ...]],
) -> AccessPlan:
    """From the cluster's bindings and SCRAM users (user -> its mechanisms) to the wanted
    ones. Listed users without a credential first, then grants, so that a right moved from
    one binding to another is never missing in between; then revocations, then the users no
    longer listed."""
    actual = frozenset(actual)
    users = list(users)
    keep = set(users) | set(BUILTIN_USERS)
    return AccessPlan(
        [
            RestoreUser(name)
            for name in sorted(users)
            if SCRAM_MECHANISM not in scram_users.get(name, ())
        ]
        + [Grant(g) for g in grouped(desired - actual)]
        + [Revoke(g) for g in grouped(actual - desired)]
        + [
            DeleteUser(name, tuple(mechanisms))
            for name, mechanisms in sorted(scram_users.items())
            if name not in keep and mechanisms
        ]
    )


# Kafka's config tools read a credential from a Java properties file (ISO-8859-1, '\' an
# escape): other characters would set a password that differs from the one clients send.
PASSWORD_CHARS_RE = re.compile(
    r"^[\x21-\x5b\x5d-\x7e]([\x20-\x5b\x5d-\x7e]*[\x21-\x5b\x5d-\x7e])?$"
)


def password_problem(password: str) -> str | None:
    """Why Kafka's tools would set another password than ``password``; never shows it."""
    if not PASSWORD_CHARS_RE.fullmatch(password):
        return (
            "the password holds a character Kafka's config tools would change (a backslash, "
            "a non-ASCII or control character, or a space at either end)"
        )
    return None
