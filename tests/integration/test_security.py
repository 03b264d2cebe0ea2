"""A Kafka cluster deployed with ``security: "sasl_ssl"`` from day one, on a 3-host lab through
the real CLI: TLS on every listener, SCRAM-SHA-512 logins (the built-in users set in ZooKeeper
before any broker starts), the ACL authorizer on. A plaintext client and a wrong password are
refused; kafkaform's admin user produces and consumes; the second run changes nothing; the
secret files have their modes; no generated password is in the deploy's output (--diff too)
or on a host's process list.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from deploys.tasks.topics import ACTION_PREFIX
from kafkaform import client_config, monitoring_auth, pki, security, verify
from tests.integration.conftest import (
    BIN,
    changed_operations,
    on_node,
    run,
)
from tests.integration.scaling import cluster_of
from tests.integration.secured_lab import (
    LISTED_TOPIC,
    MONITOR,
    PASSWORDS,
    secrets_of,
    secured_deploy,
    secured_lab,
    targets_down,
)


@pytest.fixture(scope="module")
def secured(lab_box, tmp_path_factory) -> tuple[str, Path, dict]:
    """(inventory, pki_dir, the first run's result) of the secured lab (secured_lab.py)."""
    lab = secured_lab(lab_box.catalog, tmp_path_factory.mktemp("kafka-secured"))
    assert f"{ACTION_PREFIX}create {LISTED_TOPIC['name']}:" in lab.shown
    return lab.inventory, lab.pki, lab.first


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
    # Every broker is registered (the monitoring host runs none: None).
    assert [row["registered"] for row in data["hosts"] if row["registered"] is not None] == [
        True
    ] * 3
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
    assert not [line for line in shown.splitlines() if line.strip().startswith("access: ")]


def user_login(inventory: str, user: str) -> tuple[str, dict[str, str]]:
    servers, login = admin_login(inventory)
    return servers, {**login, "sasl.username": user, "sasl.password": PASSWORDS[user]}


def delivery_error(servers: str, login: dict[str, str], topic: str) -> KafkaError | None:
    """The error of one message's delivery (None: acknowledged)."""
    results: list[KafkaError | None] = []
    producer = Producer({"bootstrap.servers": servers, "acks": "all", **login})
    producer.produce(topic, b"x", on_delivery=lambda err, msg: results.append(err))
    producer.flush(30)
    assert results, "no delivery report within 30 s"
    return results[0]


def test_a_user_with_acls_produces_and_consumes(secured):
    inventory, _, _ = secured
    servers, login = user_login(inventory, "alice")
    verify.produce(servers, LISTED_TOPIC["name"], "from alice", login=login)
    assert "from alice" in verify.consume(servers, LISTED_TOPIC["name"], "from alice", login=login)


def test_a_user_without_acls_gets_an_authorization_error(secured):
    inventory, _, _ = secured
    servers, login = user_login(inventory, "bob")
    error = delivery_error(servers, login, LISTED_TOPIC["name"])
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


def test_the_cluster_holds_exactly_the_listed_acls_of_a_user(secured):
    inventory, _, _ = secured
    servers, login = admin_login(inventory)
    admin = AdminClient({"bootstrap.servers": servers, **login})
    wanted = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        "User:alice",
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    found = admin.describe_acls(wanted, request_timeout=30).result(timeout=40)
    assert {(b.name, b.operation.name, b.resource_pattern_type.name) for b in found} == {
        (LISTED_TOPIC["name"], "DESCRIBE", "LITERAL"),
        (LISTED_TOPIC["name"], "READ", "LITERAL"),
        (LISTED_TOPIC["name"], "WRITE", "LITERAL"),
        ("kafkaform-verify", "READ", "PREFIXED"),
    }


# Issue 11's other lab check on this cluster comes from the zookeeper part: an anonymous
# ZooKeeper client cannot change /kafka znodes.


# --- Monitoring and logs of the secured lab (its monitoring host) ---------------------------

SINK = "/var/log/kafkaform"


def endpoint_status(node, port: int, user: str | None) -> int:
    """The HTTP status of ``node``'s endpoint at ``port`` (/metrics, or /-/ready for the
    servers), as kafkaform reads it but logged in as ``user`` (None: no credentials)."""
    settings = node.settings
    access = monitoring_auth.exporter_access(settings, port, lambda: "")
    path = (
        "/-/ready"
        if port in (settings["prometheus_port"], settings["alertmanager_port"])
        else "/metrics"
    )
    request = urllib.request.Request(f"{access.scheme}://{node.address}:{port}{path}")
    if user is not None:
        token = base64.b64encode(f"{user}:{access.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = None
    if access.scheme == "https":
        context = ssl.create_default_context(cafile=str(pki.trusted_ca_file(settings)))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_every_monitoring_endpoint_refuses_a_reader_without_its_password(secured):
    inventory, _, _ = secured
    cluster = cluster_of(inventory)
    monitor, broker = cluster.node(MONITOR), cluster.brokers[0]
    endpoints = [
        (monitor, monitor.settings["prometheus_port"]),
        (monitor, monitor.settings["alertmanager_port"]),
        (monitor, monitor.settings["node_exporter_port"]),
        (broker, broker.settings["node_exporter_port"]),
        (broker, broker.settings["kafka_jmx_exporter_port"]),
    ]
    for node, port in endpoints:
        user = monitoring_auth.exporter_access(node.settings, port, lambda: "").username
        assert endpoint_status(node, port, None) == 401, (node.name, port)
        assert endpoint_status(node, port, user) == 200, (node.name, port)


def test_prometheus_scrapes_every_target_over_tls_with_its_password(secured):
    inventory, _, _ = secured
    cluster = cluster_of(inventory)
    deadline = time.monotonic() + 120
    while targets_down(cluster) and time.monotonic() < deadline:
        time.sleep(5)
    assert targets_down(cluster) == []


def sink_lines(marker: str) -> int:
    out = on_node(MONITOR, f"grep -rc -- {marker} {SINK} | awk -F: '{{s+=$NF}} END {{print s+0}}'")
    return int(out.stdout.strip() or 0)


def forge_plain_relp(address: str, port: int, marker: str) -> None:
    """A RELP session in plain text claiming to be kafka-2's broker log."""
    offer = "relp_version=0\nrelp_software=forger\ncommands=syslog"
    line = f"<13>Nov 27 23:00:00 kafka-2 kafka-server: {marker}"
    frames = f"1 open {len(offer)} {offer}\n2 syslog {len(line)} {line}\n".encode()
    with socket.create_connection((address, port), timeout=5) as conn:
        try:
            conn.sendall(frames)
            conn.recv(1024)
        except OSError:
            pass  # refused mid-way: what a TLS-only listener does


def test_log_lines_arrive_over_tls_and_a_forged_plain_sender_is_refused(secured):
    inventory, _, _ = secured
    cluster = cluster_of(inventory)
    monitor = cluster.node(MONITOR)
    servers, login = admin_login(inventory)
    marker = f"sink-{uuid.uuid4().hex[:10]}"
    verify.create_topic(servers, marker, 1, 3, 2, login=login)  # every broker logs it
    deadline = time.monotonic() + 60
    while not sink_lines(marker) and time.monotonic() < deadline:
        time.sleep(2)
    assert sink_lines(marker) > 0, "no broker line reached the sink over TLS"
    forged = f"forged-{uuid.uuid4().hex[:10]}"
    forge_plain_relp(monitor.address, monitor.settings["log_sink_port"], forged)
    time.sleep(10)
    assert sink_lines(forged) == 0
