"""kafka_users, kafka_acls and kafka_super_users in the validator: every problem names the
host and the field, with a "did you mean" for a misspelt word, and never shows a password."""

from __future__ import annotations

from kafkaform.validate import findings

SECURED = {"security": "sasl_ssl"}
ALICE = {"name": "alice", "password_env": "ALICE_PASSWORD"}
READS = {
    "principal": "User:alice",
    "resource_type": "topic",
    "resource_name": "orders",
    "operations": ["Read", "Describe"],
}


def problems(**data) -> list[str]:
    host = ("kafka-1", {"kafkaid": 1, "zookeeper": True, "zkid": 1, **SECURED, **data})
    return [f"{'warning: ' if p.warning else ''}{p}" for p in findings([host])]


def test_users_and_acls_as_documented_are_valid():
    assert problems(
        kafka_users=[ALICE, {"name": "etl.job@corp", "password_file": "~/etl.pw"}],
        kafka_acls=[
            READS,
            {"principal": "User:alice", "resource_type": "group", "resource_name": "billing-",
             "pattern_type": "prefixed", "operations": ["read"]},
            {"principal": "User:*", "resource_type": "topic", "resource_name": "*",
             "operations": ["Write"], "permission": "deny", "host": "10.0.0.9"},
            {"principal": "User:etl.job@corp", "resource_type": "cluster",
             "operations": ["IdempotentWrite", "describe_configs"]},
            {"principal": "User:alice", "resource_type": "transactional_id",
             "resource_name": "tx-", "pattern_type": "prefixed", "operations": ["Write"]},
        ],
        kafka_super_users=["User:ops"],
    ) == []  # fmt: skip


def test_a_plaintext_cluster_refuses_users_acls_and_super_users_naming_each_field():
    found = problems(
        security="plaintext", kafka_users=[ALICE], kafka_acls=[READS], kafka_super_users=["User:x"]
    )
    for field in ("kafka_users", "kafka_acls", "kafka_super_users"):
        assert f"kafka-1: {field}: needs security: sasl_ssl (this cluster is 'plaintext')" in found


def test_a_password_in_the_inventory_is_refused_and_never_shown():
    found = problems(kafka_users=[{"name": "alice", "password": "hunter2-very-secret"}])
    assert found == [
        "kafka-1: kafka_users['alice'].password: a password is never written in the inventory: "
        "name an environment variable (password_env) or a file (password_file) that holds it"
    ]
    # Any password-like key, with the value never in a message.
    found = problems(kafka_users=[{"name": "bob", "passwd": "hunter3", "password_env": "B"}])
    assert found == [
        "kafka-1: kafka_users['bob'].passwd: a password is never written in the inventory: "
        "name an environment variable (password_env) or a file (password_file) that holds it"
    ]


def test_user_names_built_in_users_duplicates_and_password_sources():
    found = problems(
        kafka_users=[
            {"name": "kafkaform-monitor", "password_env": "M"},
            {"name": "bad name", "password_env": "X"},
            {"name": "alice", "password_env": "A", "password_file": "/a"},
            {"name": "alice", "password_env": "1BAD"},
            {"name": "bob", "passwd_env": "B"},
        ]
    )
    assert (
        "kafka-1: kafka_users['kafkaform-monitor'].name: kafkaform-monitor is kafkaform's own "
        "user (built in: kafka-broker, kafkaform-admin, kafkaform-monitor); give yours another "
        "name"
    ) in found
    assert any(
        p.startswith("kafka-1: kafka_users['bad name'].name: 'bad name' is not") for p in found
    )
    assert (
        "kafka-1: kafka_users['alice']: give exactly one of password_env and password_file, got "
        "password_env and password_file"
    ) in found
    assert (
        "kafka-1: kafka_users['alice'].password_env: not an environment variable name"
        in " ".join(found)
    )
    assert "kafka-1: kafka_users: user 'alice' is listed 2 times" in found
    assert (
        "kafka-1: kafka_users['bob']: give exactly one of password_env and password_file, "
        "got neither" in found
    )


def test_acl_vocabulary_with_did_you_mean():
    found = problems(
        kafka_users=[ALICE],
        kafka_acls=[
            {"principal": "User:alice", "resource_type": "topics", "resource_name": "t",
             "operations": ["Read"]},
            {"principal": "User:alice", "resource_type": "topic", "resource_name": "t",
             "operations": ["Raed", "IdempotentWrite", "read", "READ"], "permision": "allow"},
            {"principal": "User:alice", "resource_type": "group", "resource_name": "g",
             "pattern_type": "prefix", "permission": "refuse", "operations": ["Read"]},
        ],
    )  # fmt: skip
    assert (
        "kafka-1: kafka_acls[0].resource_type: 'topics' is not one of topic, group, cluster, "
        "transactional_id, delegation_token (did you mean 'topic'?)"
    ) in found
    assert (
        "kafka-1: kafka_acls[1].operations: unknown operation 'Raed' (did you mean 'Read'?)"
        in found
    )
    assert any(
        p.startswith("kafka-1: kafka_acls[1].operations: IdempotentWrite does not apply to a topic")
        for p in found
    )
    assert "kafka-1: kafka_acls[1].operations: Read is listed 2 times" in found
    assert "kafka-1: kafka_acls[1].permision: unknown key (did you mean 'permission'?)" in found
    assert (
        "kafka-1: kafka_acls[2].pattern_type: 'prefix' is not one of literal, prefixed "
        "(did you mean 'prefixed'?)"
    ) in found
    assert "kafka-1: kafka_acls[2].permission: 'refuse' is not one of allow, deny" in found


def test_principals_resource_names_and_hosts():
    found = problems(
        kafka_users=[ALICE],
        kafka_acls=[
            {"principal": "alice", "resource_type": "topic", "resource_name": "t",
             "operations": ["Read"]},
            {"principal": "User:kafkaform-admin", "resource_type": "topic", "resource_name": "t",
             "operations": ["Read"]},
            {"principal": "User:nobody", "resource_type": "topic", "resource_name": "a b",
             "operations": ["Read"], "host": "client.example.com"},
            {"principal": "User:alice", "resource_type": "cluster", "resource_name": "prod",
             "operations": ["Describe"]},
            {"principal": "User:alice", "resource_type": "group", "resource_name": "*",
             "pattern_type": "prefixed", "operations": ["Read"]},
            {"principal": "User:alice", "resource_type": "group", "operations": []},
        ],
        kafka_super_users=["User:*", "ops"],
    )  # fmt: skip
    text = "\n".join(found)
    assert "kafka-1: kafka_acls[0].principal: 'alice' is not a principal kafkaform takes" in text
    assert "kafka_acls[1].principal: User:kafkaform-admin is kafkaform's own user" in text
    assert (
        "warning: kafka-1: kafka_acls[2].principal: User:nobody: user 'nobody' is not in "
        "kafka_users" in text
    )
    assert "kafka_acls[2].resource_name: 'a b': kafkaform takes letters" in text
    assert "kafka_acls[2].host: 'client.example.com': Kafka matches a client's IP address" in text
    assert "kafka_acls[3].resource_name: the cluster's one name is kafka-cluster" in text
    assert "kafka_acls[4].resource_name: '*' is literal" in text
    assert "kafka_acls[5].resource_name: required" in text
    assert "kafka_acls[5].operations: a non-empty list of operations" in text
    assert "kafka_super_users[0]: 'User:*' would make every user a super user" in text
    assert "kafka_super_users[1]: 'ops' is not a principal kafkaform takes" in text


def test_entries_that_are_not_dicts():
    found = problems(kafka_users=["alice"], kafka_acls=[["User:alice"]])
    assert (
        "kafka-1: kafka_users[0]: each entry is a dict (name, password_env or password_file), "
        "got str" in found
    )
    assert any(
        p.startswith("kafka-1: kafka_acls[0]: each entry is a dict (principal,") for p in found
    )
