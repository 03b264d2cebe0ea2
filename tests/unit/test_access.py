"""Users and ACLs as code, offline: kafka_acls entries to Kafka's bindings, the plan against
what a cluster holds, AclCommand/ConfigCommand lines, and the parsers on output captured from
a real Kafka 3.9.2 broker (access_described_3.9.2.txt: AclCommand --list and ConfigCommand
--describe --entity-type users, as AccessTools.describe ran them, on a broker with ACLs of
every resource type, a prefixed deny from one address, a group whose name holds ', ' and
'(', a user with two SCRAM mechanisms and one with a quota only)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from kafkaform import access
from kafkaform.access import (
    BUILT_IN_BINDINGS,
    Binding,
    DeleteUser,
    Grant,
    RestoreUser,
    Revoke,
    desired_bindings,
    entry_bindings,
    plan_access,
)
from kafkaform.access_tools import (
    FAILED_MARK,
    AccessTools,
    DescribeError,
    binding_arguments,
    operation_option,
    parse_description,
)

CAPTURED = (Path(__file__).parent / "access_described_3.9.2.txt").read_text().splitlines()
ALICE_POSTS = {
    "principal": "User:alice",
    "resource_type": "topic",
    "resource_name": "posts",
    "operations": ["Read", "write"],
}


def binding(kind, name, principal, operation, permission="ALLOW", pattern="LITERAL", host="*"):
    return Binding(kind, name, pattern, principal, host, operation, permission)


def test_the_captured_output_of_kafkas_tools_parses_to_every_binding_and_user():
    bindings, users = parse_description(CAPTURED)
    assert bindings == {
        binding("GROUP", "*", "User:kafkaform-monitor", "DESCRIBE"),
        binding("GROUP", "my group,(x)", "User:alice", "ALL"),
        binding("CLUSTER", "kafka-cluster", "User:*", "DESCRIBE"),
        binding("TRANSACTIONAL_ID", "tx-1", "User:alice", "WRITE"),
        binding("DELEGATION_TOKEN", "tok", "User:alice", "DESCRIBE"),
        binding("TOPIC", "posts", "User:alice", "READ"),
        binding("TOPIC", "posts", "User:alice", "WRITE"),
        binding("TOPIC", "x", "User:alice", "DESCRIBE", host="somehost"),
        binding("TOPIC", "pre-", "User:bob", "DESCRIBE", "DENY", "PREFIXED", "10.0.0.5"),
        binding("TOPIC", "pre-", "User:bob", "DESCRIBE_CONFIGS", "DENY", "PREFIXED", "10.0.0.5"),
        binding("USER", "User:bob", "User:alice", "DESCRIBE_TOKENS"),
    }
    assert users == {
        "alice": ("SCRAM-SHA-512",),
        "carol": ("SCRAM-SHA-256", "SCRAM-SHA-512"),
        "kafka-broker": ("SCRAM-SHA-512",),
        "kafkaform-admin": ("SCRAM-SHA-512",),
    }  # quota-only has a quota, no credential


def test_a_failed_tool_or_a_missing_section_is_an_error_not_an_empty_cluster():
    acls_only = CAPTURED[: CAPTURED.index("kafkaform-scram-users")]
    with pytest.raises(DescribeError, match="kafkaform-scram-users"):
        parse_description(acls_only)
    with pytest.raises(DescribeError, match="could not list"):
        parse_description([*acls_only, "kafkaform-scram-users", "Timed out", FAILED_MARK])


def test_an_entry_with_several_operations_is_one_binding_each_with_defaults():
    assert entry_bindings(ALICE_POSTS) == [
        binding("TOPIC", "posts", "User:alice", "READ"),
        binding("TOPIC", "posts", "User:alice", "WRITE"),
    ]
    cluster = {
        "principal": "User:ops",
        "resource_type": "cluster",
        "operations": ["describe_configs"],
    }
    assert entry_bindings(cluster) == [
        binding("CLUSTER", "kafka-cluster", "User:ops", "DESCRIBE_CONFIGS")
    ]


def test_the_monitor_may_describe_the_cluster_every_topic_and_every_group():
    assert {(b.resource_type, b.resource_name, b.operation) for b in BUILT_IN_BINDINGS} == {
        ("CLUSTER", "kafka-cluster", "DESCRIBE"),
        ("TOPIC", "*", "DESCRIBE"),
        ("GROUP", "*", "DESCRIBE"),
    }
    assert {b.principal for b in BUILT_IN_BINDINGS} == {"User:kafkaform-monitor"}
    assert desired_bindings([]) == BUILT_IN_BINDINGS


def test_the_plan_grants_what_is_missing_revokes_what_is_not_listed_and_deletes_users():
    bindings, users = parse_description(CAPTURED)
    plan = plan_access(desired_bindings([ALICE_POSTS]), bindings, ["alice", "dave"], users)
    grants = [a for a in plan.actions if isinstance(a, Grant)]
    revokes = [a for a in plan.actions if isinstance(a, Revoke)]
    deletes = [a for a in plan.actions if isinstance(a, DeleteUser)]
    # The monitor's Describe on the cluster and on every topic were missing; its groups one
    # and alice's posts ones are there.
    assert [str(g) for g in grants] == [
        "grant allow User:kafkaform-monitor Describe on cluster kafka-cluster",
        "grant allow User:kafkaform-monitor Describe on topic *",
    ]
    # Everything else goes, the two operations of bob's prefixed deny in one command.
    assert (
        "revoke deny User:bob Describe, DescribeConfigs on topic pre- (prefixed) from 10.0.0.5"
        in [str(r) for r in revokes]
    )
    assert len(revokes) == 7
    # carol is not listed (dave has no credential yet: scram.py sets it); built-ins stay.
    assert deletes == [DeleteUser("carol", ("SCRAM-SHA-256", "SCRAM-SHA-512"))]
    assert plan.actions.index(grants[-1]) < plan.actions.index(revokes[0])


def test_a_cluster_as_listed_has_an_empty_plan():
    bindings, users = parse_description(CAPTURED)
    acls = [
        {"principal": "User:alice", "resource_type": "group", "resource_name": "my group,(x)",
         "operations": ["All"]},
        {"principal": "User:*", "resource_type": "cluster", "operations": ["Describe"]},
        {"principal": "User:alice", "resource_type": "transactional_id", "resource_name": "tx-1",
         "operations": ["Write"]},
        {"principal": "User:alice", "resource_type": "delegation_token", "resource_name": "tok",
         "operations": ["Describe"]},
        {"principal": "User:alice", "resource_type": "topic", "resource_name": "x",
         "operations": ["Describe"], "host": "somehost"},
        {"principal": "User:bob", "resource_type": "topic", "resource_name": "pre-",
         "pattern_type": "prefixed", "permission": "deny", "host": "10.0.0.5",
         "operations": ["DescribeConfigs", "Describe"]},
        ALICE_POSTS,
    ]  # fmt: skip
    desired = desired_bindings(acls) | {
        binding("USER", "User:bob", "User:alice", "DESCRIBE_TOKENS")
    }
    desired |= {binding("CLUSTER", "kafka-cluster", "User:kafkaform-monitor", "DESCRIBE")}
    desired |= {binding("TOPIC", "*", "User:kafkaform-monitor", "DESCRIBE")}
    actual = bindings | {
        binding("CLUSTER", "kafka-cluster", "User:kafkaform-monitor", "DESCRIBE"),
        binding("TOPIC", "*", "User:kafkaform-monitor", "DESCRIBE"),
    }
    assert not plan_access(desired, actual, ["alice", "carol"], users)


def test_grant_revoke_and_delete_commands_name_exactly_the_bindings():
    tools = AccessTools(
        "java -cp 'libs/*' {main}", "10.0.0.11:9095", "/etc/kafka/client.properties"
    )
    deny = (
        binding("TOPIC", "pre-", "User:bob", "DESCRIBE", "DENY", "PREFIXED", "10.0.0.5"),
        binding("TOPIC", "pre-", "User:bob", "DESCRIBE_CONFIGS", "DENY", "PREFIXED", "10.0.0.5"),
    )
    (revoke,) = tools.commands(Revoke(deny))
    words = shlex.split(revoke)
    assert words[:5] == ["java", "-cp", "libs/*", "kafka.admin.AclCommand", "--bootstrap-server"]
    assert words[5:] == [
        "10.0.0.11:9095", "--command-config", "/etc/kafka/client.properties", "--remove",
        "--force", "--topic", "pre-", "--resource-pattern-type", "prefixed", "--deny-principal",
        "User:bob", "--deny-host", "10.0.0.5", "--operation", "Describe", "--operation",
        "DescribeConfigs",
    ]  # fmt: skip
    group = (binding("GROUP", "my group,(x)", "User:*", "ALL"),)
    assert shlex.split(binding_arguments(group)) == [
        "--group", "my group,(x)", "--resource-pattern-type", "literal", "--allow-principal",
        "User:*", "--allow-host", "*", "--operation", "All",
    ]  # fmt: skip
    cluster = (binding("CLUSTER", "kafka-cluster", "User:ops", "IDEMPOTENT_WRITE"),)
    assert binding_arguments(cluster).startswith("--cluster --allow-principal User:ops")
    (delete,) = tools.commands(DeleteUser("carol", ("SCRAM-SHA-256", "SCRAM-SHA-512")))
    assert delete.endswith(
        "kafka.admin.ConfigCommand --bootstrap-server 10.0.0.11:9095 --command-config "
        "/etc/kafka/client.properties --alter --entity-type users --entity-name carol "
        "--delete-config SCRAM-SHA-256,SCRAM-SHA-512"
    )


def test_every_operation_has_the_name_aclcommand_takes():
    assert {operation_option(op) for op in access.OPERATIONS} == set(access.OPERATIONS.values())
    assert access.operation("describe-configs") == "DESCRIBE_CONFIGS"
    assert access.operation("Frobnicate") is None


@pytest.mark.parametrize(
    "password, ok",
    [("s3cret,with=odd]chars#!'\"", True), ("a\\b", False), ("é", False), (" x", False),
     ("x\n", False), ("a b", True)],
)  # fmt: skip
def test_passwords_kafkas_tools_would_change_are_refused_without_showing_them(password, ok):
    # Measured on the loopback broker: ',', '=', '#', '!', ']', quotes and inner spaces set
    # the password clients send; a backslash or a non-ASCII character set another one.
    problem = access.password_problem(password)
    assert (problem is None) == ok
    assert password.strip() not in (problem or "") or not password.strip()


def test_a_listed_user_without_a_sha512_credential_is_set_again_first():
    bindings, users = parse_description(CAPTURED)
    users = {**users, "carol": ("SCRAM-SHA-256",)}  # SHA-512 deleted by hand
    plan = plan_access(desired_bindings([]) | bindings, bindings, ["alice", "carol", "dave"], users)
    assert [str(a) for a in plan.actions] == [
        "set SCRAM user carol again (listed, no credential in the cluster)",
        "set SCRAM user dave again (listed, no credential in the cluster)",
        "grant allow User:kafkaform-monitor Describe on cluster kafka-cluster",
        "grant allow User:kafkaform-monitor Describe on topic *",
    ]
    assert all(isinstance(a, RestoreUser) for a in plan.actions[:2])
