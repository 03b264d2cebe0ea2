"""A Kafka cluster deployed with ``security: "sasl_ssl"`` from day one, on a 3-host lab through
the real CLI: TLS on every listener, SCRAM-SHA-512 logins (the built-in users set in ZooKeeper
before any broker starts), the ACL authorizer on. A plaintext client and a wrong password are
refused; kafkaform's admin user produces and consumes; the second run changes nothing; the
secret files have their modes; no generated password is in the deploy's output (--diff too)
or on a host's process list.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from deploys.tasks.topics import ACTION_PREFIX
from kafkaform import client_config, security, verify
from tests.integration.conftest import (
    BIN,
    changed_operations,
    fresh_lab,
    lab_inventory_with,
    on_node,
    run,
)
from tests.integration.scaling import cluster_of

# Created by the deploy's topics step, whose tools log in with the host's client config.
LISTED_TOPIC = {
    "name": "secured.events",
    "partitions": 3,
    "replication_factor": 3,
    "configs": {"min.insync.replicas": "2"},
}


def secrets_of(pki: Path) -> list[str]:
    values = [p.read_text().strip() for p in (pki / "secrets").iterdir()]
    assert values, "no generated password: nothing would be checked"
    return values


def secured_deploy(inventory: str, pki: Path) -> tuple[dict, str]:
    """The deploy with --diff: its result and all it printed (stdout, stderr), in which no
    generated password may be."""
    proc = run(str(BIN / "pyinfra"), "-y", "--json", "--diff", inventory, "deploys/kafka.py")
    shown = proc.stdout + proc.stderr
    for value in secrets_of(pki):
        assert value not in shown, "a generated password is in the deploy's output"
    return json.loads(proc.stdout), shown


@pytest.fixture(scope="module")
def secured(lab_allowed, tmp_path_factory):
    """(inventory, pki_dir, the first run's result) of a lab deployed secured from day one;
    pki_dir under the test's own directory, never ~/.kafkaform."""
    root = tmp_path_factory.mktemp("kafka-secured")
    pki = root / "pki"
    fresh_lab(3)
    inventory = lab_inventory_with(
        root, security="sasl_ssl", pki_dir=str(pki), kafka_topics=[LISTED_TOPIC]
    )
    first, shown = secured_deploy(inventory, pki)
    assert first["results"]["totals"]["error"] == 0
    assert f"{ACTION_PREFIX}create {LISTED_TOPIC['name']}:" in shown
    return inventory, pki, first


def admin_login(inventory: str) -> tuple[str, dict[str, str]]:
    cluster = cluster_of(inventory)
    config = client_config.client_config(cluster)
    servers = config.pop("bootstrap.servers")
    return servers, config


def test_the_admin_user_produces_and_consumes_over_sasl_ssl(secured):
    inventory, _, _ = secured
    cluster = cluster_of(inventory)
    servers, login = admin_login(inventory)
    assert all(f":{security.client_port(n.settings)}" in servers for n in cluster.brokers)
    topic = f"secured-{uuid.uuid4().hex[:6]}"
    verify.create_topic(servers, topic, 3, 3, 2, login=login)
    assert verify.topic_layout(servers, topic, login=login)["replicas"] == [3, 3, 3]
    verify.produce(servers, topic, "over tls", login=login)
    assert "over tls" in verify.consume(servers, topic, "over tls", login=login)


def test_the_topics_step_created_the_listed_topic(secured):
    inventory, _, _ = secured
    servers, login = admin_login(inventory)
    layout = verify.topic_layout(servers, LISTED_TOPIC["name"], login=login)
    assert layout["replicas"] == [3, 3, 3] and layout["min.insync.replicas"] == 2


def test_a_plaintext_client_is_refused(secured):
    inventory, _, _ = secured
    for node in cluster_of(inventory).brokers:
        # Nothing listens on the plaintext port any more.
        with pytest.raises(OSError):
            socket.create_connection((node.address, node.settings["kafka_port"]), timeout=5)
    # A PLAINTEXT client at the TLS listener gets no metadata (its requests are not TLS).
    servers, _ = admin_login(inventory)
    with pytest.raises(KafkaException):
        AdminClient({"bootstrap.servers": servers}).list_topics(timeout=8)


def test_a_wrong_password_is_refused(secured):
    inventory, _, _ = secured
    servers, login = admin_login(inventory)
    wrong = {**login, "sasl.password": "not-" + login["sasl.password"], "log_level": 0}
    with pytest.raises(KafkaException):
        AdminClient({"bootstrap.servers": servers, **wrong}).list_topics(timeout=8)
    # The reason, as a client sees it (error callbacks are served by poll).
    errors: list[str] = []
    producer = Producer(
        {"bootstrap.servers": servers, **wrong, "error_cb": lambda e: errors.append(str(e))}
    )
    deadline = time.monotonic() + 20
    while not errors and time.monotonic() < deadline:
        producer.poll(0.5)
    assert any("Authentication failed" in e for e in errors), errors


def test_the_host_tools_work_as_the_admin_user_for_root(secured):
    inventory, _, _ = secured
    servers, login = admin_login(inventory)
    topic = f"tools-{uuid.uuid4().hex[:6]}"
    verify.create_topic(servers, topic, 1, 3, 2, login=login)
    node = cluster_of(inventory).brokers[0]
    # The launcher passes the host's client configuration: kafkaform-admin over SASL_SSL.
    assert topic in on_node(node.name, "kafka-topics --list").stdout.split()


def test_the_secret_files_have_their_modes_and_owners(secured):
    inventory, _, _ = secured
    cluster = cluster_of(inventory)
    s = cluster.brokers[0].settings
    expected = {
        security.jaas_path(s): "640 root kafka",
        f"{security.tls_dir(s)}/{security.KEY_FILE}": "640 root kafka",
        f"{s['kafka_config_dir']}/client.properties": f"640 root {security.ADMIN_GROUP}",
    }
    for node in cluster.brokers:
        for path, wanted in expected.items():
            got = on_node(node.name, f"stat -c '%a %U %G' {path}").stdout.strip()
            assert got == wanted, (node.name, path)


def test_no_password_on_the_hosts_process_lists(secured):
    inventory, pki, _ = secured
    for node in cluster_of(inventory).nodes:
        processes = on_node(node.name, "ps -eo args").stdout
        assert "kafka.Kafka" in processes or node.kafkaid is None
        for value in secrets_of(pki):
            assert value not in processes, node.name


def test_status_reads_the_secured_cluster(secured):
    inventory, _, _ = secured
    proc = run(str(BIN / "kafkaform"), "status", inventory, "--json", check=False)
    data = json.loads(proc.stdout)
    assert proc.returncode == 0, data["problems"]
    assert all(row["registered"] for row in data["hosts"])
    assert all(found == [] for found in data["unhealthy_partitions"].values())


def test_a_safe_restart_by_hand_passes_its_gates_over_sasl_ssl(secured):
    inventory, _, _ = secured
    node = cluster_of(inventory).brokers[1]
    out = on_node(node.name, "kafka-safe-restart").stdout
    assert "is up and every partition is in sync" in out


def test_the_second_deploy_changes_nothing(secured):
    inventory, pki, _ = secured
    again, shown = secured_deploy(inventory, pki)
    assert again["results"]["totals"]["error"] == 0
    # The topics step (a python.call) counts as changed; it must have done nothing.
    assert all("Apply kafka_topics" in op for op in changed_operations(again))
    assert not [line for line in shown.splitlines() if line.strip().startswith(ACTION_PREFIX)]


# Issue 11's other lab checks on this cluster come from the other parts: a principal without
# ACLs gets an authorization error (access: kafka_acls), an anonymous ZooKeeper client cannot
# change /kafka znodes (zookeeper).
