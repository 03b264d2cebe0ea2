"""Kafka's own tools for users and ACLs, as shell commands run on a broker host with the
host's admin client config (--command-config): AclCommand lists, adds and removes bindings,
ConfigCommand lists SCRAM users and deletes their credentials; and the parsers of what those
tools print when they list (formats as Kafka 3.9's tools print them, captured from a real
broker in tests/unit/data/).

No password is ever on these command lines: credentials are set from a file
(deploys/tasks/scram.py).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from kafkaform.access import SUPPORTED, Action, Binding, DeleteUser, Grant, RestoreUser, Revoke
from kafkaform.programs import ACL_COMMAND, CONFIG_COMMAND

ACLS_MARK = "kafkaform-acls"
USERS_MARK = "kafkaform-scram-users"
FAILED_MARK = "kafkaform-describe-failed"

# AclCommand --list: a header per resource pattern, then one line per binding.
#   Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=posts,
#   patternType=LITERAL)`:   (on one line)
#    	(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)
# The name is matched greedily: a name made by hand may hold ", ".
RESOURCE_RE = re.compile(
    r"^Current ACLs for resource `ResourcePattern\(resourceType=(\w+), name=(.*), "
    r"patternType=(\w+)\)`:$"
)
BINDING_RE = re.compile(
    r"^\((?:principal=)(.*), host=(.*), operation=(\w+), permissionType=(\w+)\)$"
)
# ConfigCommand --describe --entity-type users: one line per user with SCRAM credentials,
#   SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-256=iterations=8192,
#   SCRAM-SHA-512=iterations=4096
# (quota lines, "Quota configs for user-principal ...", are not credentials).
SCRAM_USER_RE = re.compile(r"^SCRAM credential configs for user-principal '(.*)' are (SCRAM-.*)$")
MECHANISM_RE = re.compile(r"(SCRAM-SHA-\d+)=iterations=\d+")
# AclCommand's option naming each resource type's resource.
RESOURCE_OPTIONS = {
    "TOPIC": "--topic",
    "GROUP": "--group",
    "CLUSTER": "--cluster",
    "TRANSACTIONAL_ID": "--transactional-id",
    "DELEGATION_TOKEN": "--delegation-token",
    "USER": "--user-principal",
}
assert set(RESOURCE_OPTIONS) == set(SUPPORTED)


class DescribeError(Exception):
    pass


class AccessTools:
    """Kafka's tools on one broker host: ``tool`` starts a tool's JVM up to its main class
    (with a ``{main}`` placeholder), ``servers`` is where they connect, ``command_config`` the
    host's admin client config file."""

    def __init__(self, tool: str, servers: str, command_config: str) -> None:
        q = shlex.quote
        connect = f"--bootstrap-server {q(servers)} --command-config {q(command_config)}"
        self.acls = f"{tool.format(main=ACL_COMMAND)} {connect}"
        self.configs = f"{tool.format(main=CONFIG_COMMAND)} {connect}"

    def describe(self) -> str:
        """Every ACL binding and every SCRAM user, the two tools side by side (a JVM each);
        a tool that fails leaves FAILED_MARK (a plan made from half a description could
        revoke what exists)."""
        return "\n".join(
            [
                "acls=$(mktemp) && users=$(mktemp) || exit 1",
                f'{{ {self.acls} --list > "$acls" 2>&1 || echo {FAILED_MARK} >> "$acls"; }} &',
                f'{{ {self.configs} --describe --entity-type users > "$users" 2>&1'
                f' || echo {FAILED_MARK} >> "$users"; }} &',
                "wait",
                f'echo {ACLS_MARK}; cat "$acls"; echo {USERS_MARK}; cat "$users"',
                'rm -f "$acls" "$users"',
            ]
        )

    def commands(self, action: Action) -> list[str]:
        """The shell commands that carry out one planned action (a RestoreUser has none
        here: its password is on the host, deploys/tasks/scram.py knows where)."""
        if isinstance(action, Grant):
            return [f"{self.acls} --add {binding_arguments(action.bindings)}"]
        if isinstance(action, Revoke):
            return [f"{self.acls} --remove --force {binding_arguments(action.bindings)}"]
        if isinstance(action, DeleteUser):
            return [
                f"{self.configs} --alter --entity-type users"
                f" --entity-name {shlex.quote(action.name)}"
                f" --delete-config {shlex.quote(','.join(action.mechanisms))}"
            ]
        if isinstance(action, RestoreUser):
            return []
        raise TypeError(f"not an access action: {action!r}")


def binding_arguments(bindings: Iterable[Binding]) -> str:
    """AclCommand's options for bindings that differ in their operation only (exact: with
    --remove they match no other binding)."""
    bindings = list(bindings)
    first = bindings[0]
    q = shlex.quote
    side = "allow" if first.permission == "ALLOW" else "deny"
    parts = [RESOURCE_OPTIONS[first.resource_type]]
    if first.resource_type != "CLUSTER":  # AclCommand takes no name nor pattern for it
        parts += [q(first.resource_name), "--resource-pattern-type", first.pattern_type.lower()]
    parts += [f"--{side}-principal", q(first.principal), f"--{side}-host", q(first.host)]
    for binding in bindings:
        parts += ["--operation", operation_option(binding.operation)]
    return " ".join(parts)


def operation_option(name: str) -> str:
    """AclCommand's name of an AclOperation: DESCRIBE_CONFIGS -> DescribeConfigs."""
    return "".join(word.capitalize() for word in name.split("_"))


def sections(lines: Iterable[str]) -> dict[str, list[str]]:
    """The describe script's output split at its marks; a failed tool is an error."""
    lines = list(lines)
    if any(line.strip() == FAILED_MARK for line in lines):
        raise DescribeError(
            "Kafka's tools could not list the ACLs and SCRAM users:\n" + "\n".join(lines)
        )
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line.strip() in (ACLS_MARK, USERS_MARK):
            current = found.setdefault(line.strip(), [])
        elif current is not None:
            current.append(line)
    missing = {ACLS_MARK, USERS_MARK} - set(found)
    if missing:
        raise DescribeError(f"no {' or '.join(sorted(missing))} in the tools' output")
    return found


def parse_acls(lines: Iterable[str]) -> frozenset[Binding]:
    """The bindings AclCommand --list printed. Lines of neither form (a JVM warning) are
    skipped: a binding missed here would be granted again, never revoked."""
    found = set()
    resource: tuple[str, str, str] | None = None
    for raw in lines:
        line = raw.strip()
        header = RESOURCE_RE.match(line)
        if header:
            resource = (header.group(1), header.group(2), header.group(3))
            continue
        entry = BINDING_RE.match(line)
        if entry and resource is not None:
            principal, host, operation, permission = entry.groups()
            found.add(Binding(*resource, principal, host, operation, permission))
    return frozenset(found)


def parse_scram_users(lines: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """User -> its SCRAM mechanisms, as ConfigCommand --describe --entity-type users printed."""
    users = {}
    for raw in lines:
        match = SCRAM_USER_RE.match(raw.strip())
        if match:
            users[match.group(1)] = tuple(MECHANISM_RE.findall(match.group(2)))
    return users


def parse_description(
    lines: Iterable[str],
) -> tuple[frozenset[Binding], dict[str, tuple[str, ...]]]:
    """(bindings, SCRAM users) from the output of AccessTools.describe."""
    found = sections(lines)
    return parse_acls(found[ACLS_MARK]), parse_scram_users(found[USERS_MARK])
