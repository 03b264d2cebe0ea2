"""The users-and-ACLs step of a deploy against @fake hosts: on one broker of a secured cluster,
described while the deploy is prepared (no operation when the cluster is as listed), grants,
revocations and user deletions with Kafka's tools, passwords from the control machine set
from 0600 files and never on a command line or in the output."""

from __future__ import annotations

import base64

import pytest
from pyinfra.api.exceptions import PyinfraError

from kafkaform import scram
from kafkaform.access import BUILT_IN_BINDINGS
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, responses

DEPLOY = """
from pyinfra import host, inventory

from deploys.tasks.access import configure_access
from kafkaform.cluster import Cluster

cluster = Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)
configure_access(cluster, cluster.node(host.name), "/opt/kafka/kafka_2.13-3.9.2", SESSION)
"""
PASSWORD = "Alice-S3cret-never-shown"
USERS = [{"name": "alice", "password_env": "ALICE_PASSWORD"}]
ACLS = [
    {"principal": "User:alice", "resource_type": "topic", "resource_name": "orders",
     "operations": ["Read", "Write"]},
]  # fmt: skip
STEP = "Kafka users and ACLs | "


def credential_line(user: str, password: str) -> str:
    """ConfigCommand --zookeeper --describe's line of a credential made from ``password``."""
    salt = b"0123456789abcdef"
    key = base64.b64encode(scram.stored_key(password, salt, scram.ITERATIONS)).decode()
    return (
        f"Configs for user-principal '{user}' are SCRAM-SHA-512=salt="
        f"{base64.b64encode(salt).decode()},stored_key={key},server_key=x,"
        f"iterations={scram.ITERATIONS}"
    )


def acl_lines(bindings) -> list[str]:
    """AclCommand --list's lines for ``bindings`` (the format of the captured output)."""
    lines = []
    for b in sorted(bindings):
        lines += [
            f"Current ACLs for resource `ResourcePattern(resourceType={b.resource_type}, "
            f"name={b.resource_name}, patternType={b.pattern_type})`: ",
            f" \t(principal={b.principal}, host={b.host}, operation={b.operation}, "
            f"permissionType={b.permission}) ",
            "",
        ]
    return lines


def described(acl_text: list[str], users: list[str]) -> list[str]:
    return [
        "kafkaform-acls",
        *acl_text,
        "kafkaform-scram-users",
        *(
            f"SCRAM credential configs for user-principal '{u}' are SCRAM-SHA-512=iterations=4096"
            for u in users
        ),
    ]


AS_LISTED = described(
    [
        *acl_lines(BUILT_IN_BINDINGS),
        "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, "
        "patternType=LITERAL)`: ",
        " \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)",
        "\t(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW) ",
    ],
    ["alice", "kafka-broker", "kafkaform-admin", "kafkaform-monitor"],
)
# alice's Write is missing, mallory has a Read and a credential kafka_users does not list.
DRIFTED = described(
    [
        *acl_lines(BUILT_IN_BINDINGS),
        "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, "
        "patternType=LITERAL)`: ",
        " \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)",
        "\t(principal=User:mallory, host=*, operation=READ, permissionType=ALLOW) ",
    ],
    ["alice", "kafka-broker", "kafkaform-admin", "mallory"],
)


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setenv("ALICE_PASSWORD", PASSWORD)


def deploy_file(tmp_path, controller):
    path = tmp_path / "access_deploy.py"
    path.write_text(
        f"from deploys.tasks.roll import RollSession\n"
        f"SESSION = RollSession(token='t', controller={controller!r})\n{DEPLOY}"
    )
    return str(path)


def hosts_with(lines, alice_set=False, **data):
    """Fake hosts describing ``lines``; ZooKeeper holds alice's credential (made from
    PASSWORD) when ``alice_set``."""
    settings = {"security": "sasl_ssl", "kafka_users": USERS, "kafka_acls": ACLS, **data}
    found = fake_hosts("debian12", 3, **settings)
    credentials = [credential_line("alice", PASSWORD)] if alice_set else []
    for _, host_data in found:
        host_data["fake_responses"] = responses(
            "debian12",
            **{"echo kafkaform-acls": lines, 'grep "^Configs for user-principal"': credentials},
        )
    return found


def test_a_drifted_cluster_is_brought_to_the_lists_on_one_broker(tmp_path):
    run = run_deploy(hosts_with(DRIFTED), deploy=deploy_file(tmp_path, 1))
    assert run.names["@fake/kafka-2"] == run.names["@fake/kafka-3"] == []
    assert run.ops("@fake/kafka-1") == [
        f"{STEP}SCRAM credential of alice: staged (secret: content not shown)",
        f"{STEP}SCRAM credential of alice set in ZooKeeper",
        f"{STEP}Apply kafka_acls; delete SCRAM users not in kafka_users (on one broker)",
    ]
    executed = run.executed("@fake/kafka-1")
    # Described once while prepared (the plan was not empty) and once when the step ran.
    assert sum("echo kafkaform-acls" in c for c in run.prepared["@fake/kafka-1"]) == 1
    assert sum("echo kafkaform-acls" in c for c in run.commands["@fake/kafka-1"]) == 2
    tool = "kafka.admin.AclCommand --bootstrap-server 10.0.0.11:9095,10.0.0.12:9095,10.0.0.13:9095"
    assert f"{tool} --command-config /etc/kafka/client.properties --add --topic orders" in executed
    assert (
        "--add --topic orders --resource-pattern-type literal --allow-principal User:alice "
        "--allow-host '*' --operation Write"
    ) in executed
    assert (
        "--remove --force --topic orders --resource-pattern-type literal --allow-principal "
        "User:mallory --allow-host '*' --operation Read"
    ) in executed
    assert (
        "--alter --entity-type users --entity-name mallory --delete-config SCRAM-SHA-512"
    ) in executed
    assert "--entity-name alice --add-config-file /run/kafkaform/scram/alice.properties" in executed
    assert PASSWORD not in executed + "".join(run.ops("@fake/kafka-1"))


def test_a_user_missing_in_the_cluster_is_set_again_before_the_step(tmp_path):
    # alice's credential was deleted by hand: ZooKeeper has none, so it is set before the step.
    lines = [line for line in DRIFTED if "'alice'" not in line]
    run = run_deploy(hosts_with(lines), deploy=deploy_file(tmp_path, 1))
    assert run.ops("@fake/kafka-1") == [
        f"{STEP}SCRAM credential of alice: staged (secret: content not shown)",
        f"{STEP}SCRAM credential of alice set in ZooKeeper",
        f"{STEP}Apply kafka_acls; delete SCRAM users not in kafka_users (on one broker)",
    ]
    executed = run.executed("@fake/kafka-1")
    assert "--entity-name alice --add-config-file /run/kafkaform/scram/alice.properties" in executed
    assert PASSWORD not in executed


def test_a_cluster_as_listed_gets_no_operation(tmp_path):
    run = run_deploy(hosts_with(AS_LISTED, True), deploy=deploy_file(tmp_path, 1))
    assert all(ops == [] for ops in run.names.values()), run.names
    # Only the description while prepared; nothing ran afterwards.
    assert run.commands["@fake/kafka-1"] == run.prepared["@fake/kafka-1"]


def test_a_changed_password_is_set_again_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("ALICE_PASSWORD", PASSWORD + "-rotated")
    run = run_deploy(hosts_with(AS_LISTED, True), deploy=deploy_file(tmp_path, 1))
    assert run.ops("@fake/kafka-1") == [
        f"{STEP}SCRAM credential of alice: staged (secret: content not shown)",
        f"{STEP}SCRAM credential of alice set in ZooKeeper",
    ]


def test_a_first_deploy_describes_and_plans_when_the_step_runs(tmp_path):
    run = run_deploy(hosts_with(AS_LISTED), deploy=deploy_file(tmp_path, None))
    assert not any("kafkaform-acls" in c for h in run.prepared for c in run.prepared[h])
    assert sum("echo kafkaform-acls" in c for c in run.commands["@fake/kafka-1"]) == 1


def test_a_cluster_that_cannot_be_described_yet_leaves_it_to_the_step(tmp_path, capsys):
    # Security being turned on: the running brokers have no client listener yet.
    failed = ["kafkaform-acls", "TimeoutException", "kafkaform-describe-failed"]
    run = run_deploy(hosts_with(failed), deploy=deploy_file(tmp_path, 1))
    assert "access, note: not described before the run: TimeoutException" in capsys.readouterr().err
    assert run.ops("@fake/kafka-1")[-1].startswith(f"{STEP}Apply kafka_acls")
    assert len(run.state.failed_hosts) == 1  # the step described again, and failed again


def test_a_plaintext_cluster_has_no_step(tmp_path):
    run = run_deploy(
        hosts_with(AS_LISTED, security="plaintext", kafka_users=[], kafka_acls=[]),
        deploy=deploy_file(tmp_path, 1),
    )
    assert all(ops == [] for ops in run.names.values())
    assert not any("kafkaform-acls" in c for h in run.commands for c in run.commands[h])


def test_an_unreadable_password_stops_the_deploy_before_any_operation(tmp_path, monkeypatch):
    monkeypatch.delenv("ALICE_PASSWORD")
    with pytest.raises(PyinfraError) as refused:
        run_deploy(hosts_with(AS_LISTED), deploy=deploy_file(tmp_path, 1))
    assert str(refused.value) == (
        "@fake/kafka-1: kafka_users['alice']: environment variable ALICE_PASSWORD is not set "
        "or empty"
    )


def test_a_password_kafkas_tools_would_change_stops_the_deploy_unseen(tmp_path, monkeypatch):
    monkeypatch.setenv("ALICE_PASSWORD", "pa\\ss-9Q")
    with pytest.raises(PyinfraError) as refused:
        run_deploy(hosts_with(AS_LISTED), deploy=deploy_file(tmp_path, 1))
    assert "kafka_users['alice']: the password holds a character" in str(refused.value)
    assert "pa\\ss-9Q" not in str(refused.value)
