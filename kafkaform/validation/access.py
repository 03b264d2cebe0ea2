"""kafka_users, kafka_acls and kafka_super_users: each entry's shape, Kafka's ACL vocabulary
(resource types, pattern types, the operations each resource type takes), principal and name
syntax, kafkaform's own users kept out of the lists, and all three only on a secured cluster.

A password is never in the inventory: an entry names an environment variable or a file on the
control machine, and no message here shows what an entry holds under a password-like key.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from kafkaform import access, security
from kafkaform.cluster import Node
from kafkaform.settings import SASL_SSL
from kafkaform.validation.problems import Problem, did_you_mean
from kafkaform.validation.tls import world_readable
from kafkaform.validation.values import is_secret, type_name

USERS = "kafka_users"
ACLS = "kafka_acls"
SUPER_USERS = "kafka_super_users"
USER_KEYS = ("name", "password_env", "password_file")
PASSWORD_SOURCES = ("password_env", "password_file")
ACL_KEYS = (
    "principal",
    "resource_type",
    "resource_name",
    "pattern_type",
    "operations",
    "permission",
    "host",
)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAMES = "letters, digits and '.', '_', '@', '-' (at most 128, starting with a letter or digit)"


def check_access(node: Node) -> list[Problem]:
    s = node.settings
    found: list[tuple[str, str] | tuple[str, str, bool]] = []
    for key in (USERS, ACLS, SUPER_USERS):
        if s[key] and s["security"] != SASL_SSL:
            found.append((key, f"needs security: {SASL_SSL} (this cluster is {s['security']!r})"))
    found += users_problems(s[USERS])
    found += acls_problems(s[ACLS], listed_users(s[USERS]))
    found += super_users_problems(s[SUPER_USERS])
    return [Problem(node.name, *f) for f in found]


def listed_users(users: Any) -> set[str]:
    if not isinstance(users, list):
        return set()
    return {u["name"] for u in users if isinstance(u, Mapping) and isinstance(u.get("name"), str)}


def label(setting: str, index: int, entry: Mapping[str, Any], key: str) -> str:
    """kafka_users['alice'] when the entry has a usable name, else kafka_users[0]."""
    name = entry.get(key)
    return f"{setting}[{name!r}]" if isinstance(name, str) and name else f"{setting}[{index}]"


def mappings(setting: str, value: Any, shape: str) -> tuple[list, list[tuple[str, str]]]:
    """The entries that are dicts, and a problem for each that is not."""
    if not isinstance(value, list):
        return [], []  # value_types reports it
    problems = [
        (f"{setting}[{i}]", f"each entry is a dict ({shape}), got {type_name(entry)}")
        for i, entry in enumerate(value)
        if not isinstance(entry, Mapping)
    ]
    return [(i, e) for i, e in enumerate(value) if isinstance(e, Mapping)], problems


def user_name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return "a user name is required (a non-empty string)"
    if not access.USER_NAME_RE.match(name):
        return f"{name!r} is not a user name kafkaform takes: {NAMES}"
    if name in security.BUILTIN_USERS:
        return (
            f"{name} is kafkaform's own user (built in: {', '.join(security.BUILTIN_USERS)}); "
            "give yours another name"
        )
    return None


def users_problems(users: Any) -> list[tuple[str, str] | tuple[str, str, bool]]:
    entries, found = mappings(USERS, users, "name, password_env or password_file")
    for index, entry in entries:
        field = label(USERS, index, entry, "name")
        for key in entry:
            if key not in USER_KEYS and is_secret(key):
                found.append(
                    (
                        f"{field}.{key}",
                        "a password is never written in the inventory: name an environment "
                        "variable (password_env) or a file (password_file) that holds it",
                    )
                )
            elif key not in USER_KEYS:
                found.append((f"{field}.{key}", f"unknown key{did_you_mean(str(key), USER_KEYS)}"))
        problem = user_name_problem(entry.get("name"))
        if problem:
            found.append((f"{field}.name", problem))
        sources = [k for k in PASSWORD_SOURCES if k in entry]
        if len(sources) != 1 and "password" not in entry:
            found.append(
                (field, "give exactly one of password_env and password_file, got "
                 f"{' and '.join(sources) or 'neither'}")
            )  # fmt: skip
        for key in sources:
            value = entry[key]
            if not isinstance(value, str) or not value:
                found.append((f"{field}.{key}", "expected a non-empty string"))
            elif key == "password_env" and not ENV_NAME_RE.match(value):
                found.append(
                    (f"{field}.{key}", "not an environment variable name (letters, digits, '_')")
                )
            elif key == "password_file" and world_readable(value):
                found.append(
                    (
                        f"{field}.{key}",
                        f"{value} is readable by every user of this machine (chmod 600)",
                        True,
                    )
                )
    names = Counter(e.get("name") for _, e in entries if isinstance(e.get("name"), str))
    found += [(USERS, f"user {name!r} is listed {n} times") for name, n in names.items() if n > 1]
    return found


def principal_problem(principal: Any) -> str | None:
    if not isinstance(principal, str) or not principal:
        return "a principal is required, e.g. 'User:alice' ('User:*': every user)"
    if access.principal_user(principal) is None:
        return (
            f"{principal!r} is not a principal kafkaform takes: 'User:<name>' ({NAMES}) or 'User:*'"
        )
    return None


def acls_problems(acls: Any, users: set[str]) -> list[tuple[str, str] | tuple[str, str, bool]]:
    entries, found = mappings(ACLS, acls, ", ".join(ACL_KEYS))
    problems: list[tuple[str, str] | tuple[str, str, bool]] = list(found)
    for index, entry in entries:
        problems += acl_problems(f"{ACLS}[{index}]", entry, users)
    return problems


def acl_problems(
    field: str, entry: Mapping[str, Any], users: set[str]
) -> list[tuple[str, str] | tuple[str, str, bool]]:
    found: list[tuple[str, str] | tuple[str, str, bool]] = []
    for key in entry:
        if key not in ACL_KEYS:
            found.append((f"{field}.{key}", f"unknown key{did_you_mean(str(key), ACL_KEYS)}"))
    spec = {**access.ACL_DEFAULTS, **entry}
    principal = spec.get("principal")
    problem = principal_problem(principal)
    user = access.principal_user(principal) if isinstance(principal, str) else None
    if problem:
        found.append((f"{field}.principal", problem))
    elif user in security.BUILTIN_USERS:
        found.append(
            (f"{field}.principal", f"{principal} is kafkaform's own user: its rights are built in")
        )
    elif user != access.WILDCARD and user not in users:
        found.append((f"{field}.principal", f"{principal}: user {user!r} is not in {USERS}", True))
    kind = spec.get("resource_type")
    kafka_kind = access.RESOURCE_TYPES.get(kind) if isinstance(kind, str) else None
    if kafka_kind is None:
        found.append(
            (
                f"{field}.resource_type",
                f"{kind!r} is not one of {', '.join(access.RESOURCE_TYPES)}"
                + did_you_mean(str(kind), access.RESOURCE_TYPES),
            )
        )
    for key, choices in (
        ("pattern_type", access.PATTERN_TYPES),
        ("permission", access.PERMISSIONS),
    ):
        if spec[key] not in choices:
            found.append(
                (
                    f"{field}.{key}",
                    f"{spec[key]!r} is not one of {', '.join(choices)}"
                    + did_you_mean(str(spec[key]), choices),
                )
            )
    found += resource_problems(field, spec, kafka_kind)
    found += operations_problems(field, spec.get("operations"), kafka_kind)
    host = spec["host"]
    if host != access.WILDCARD and not is_address(host):
        found.append(
            (
                f"{field}.host",
                f"{host!r}: Kafka matches a client's IP address, so '*' or an address "
                "(a host name never matches)",
            )
        )
    return found


def is_address(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return isinstance(value, str)


def resource_problems(
    field: str, spec: Mapping[str, Any], kafka_kind: str | None
) -> list[tuple[str, str]]:
    name = spec.get("resource_name")
    where = f"{field}.resource_name"
    if kafka_kind == "CLUSTER":
        if spec["pattern_type"] != "literal":
            return [(f"{field}.pattern_type", "the cluster takes literal ACLs only")]
        if name not in (None, access.CLUSTER_NAME):
            return [(where, f"the cluster's one name is {access.CLUSTER_NAME} (or leave it out)")]
        return []
    if kafka_kind is None:
        return []
    if not isinstance(name, str) or not name:
        return [(where, "required: the topic, group, ... (or '*' for all of them)")]
    if name == access.WILDCARD:
        if spec["pattern_type"] != "literal":
            return [(where, "'*' is literal: every resource of the type; a prefix '' is not")]
        return []
    if not access.RESOURCE_NAME_RE.match(name):
        return [
            (
                where,
                f"{name!r}: kafkaform takes letters, digits and '.', '_', ':', '@', '/', '+', "
                "'-' (at most 249), or '*'",
            )
        ]
    return []


def operations_problems(
    field: str, operations: Any, kafka_kind: str | None
) -> list[tuple[str, str]]:
    where = f"{field}.operations"
    if not isinstance(operations, list) or not operations:
        return [(where, "a non-empty list of operations, e.g. ['Read', 'Describe']")]
    found = []
    supported = access.SUPPORTED.get(kafka_kind or "", tuple(access.OPERATIONS))
    names = [access.OPERATIONS[op] for op in supported]
    for word in operations:
        op = access.operation(word) if isinstance(word, str) else None
        if op is None:
            found.append((where, f"unknown operation {word!r}{did_you_mean(str(word), names)}"))
        elif op not in supported:
            kind = (kafka_kind or "").lower()
            found.append(
                (where, f"{access.OPERATIONS[op]} does not apply to a {kind}: {', '.join(names)}")
            )
    keys = Counter(access.operation(w) for w in operations if isinstance(w, str))
    found += [
        (where, f"{access.OPERATIONS[op]} is listed {n} times")
        for op, n in keys.items()
        if op and n > 1
    ]
    return found


def super_users_problems(principals: Any) -> list[tuple[str, str]]:
    if not isinstance(principals, list):
        return []
    found = []
    for index, principal in enumerate(principals):
        problem = principal_problem(principal)
        if problem:
            found.append((f"{SUPER_USERS}[{index}]", problem))
        elif access.principal_user(principal) == access.WILDCARD:
            found.append((f"{SUPER_USERS}[{index}]", "'User:*' would make every user a super user"))
    return found
