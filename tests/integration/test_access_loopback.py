"""Users and ACLs on a real secured broker: ZooKeeper and one Kafka broker from Kafka's jars
on loopback, SASL/SCRAM-SHA-512 on every listener and the AclAuthorizer on, as a sasl_ssl
cluster has them (TLS aside: the tools' commands and the authorizer do not depend on it).

The plan's commands (kafkaform.access_tools, exactly as the deploy step runs them on a broker
host) create the ACLs; a principal without ACLs is refused with TOPIC_AUTHORIZATION_FAILED,
the user with ACLs produces and consumes, kafkaform-monitor reads the group's lag with its
built-in ACLs alone, an ACL taken off the list is revoked, a user taken off kafka_users can no
longer log in, and the cluster is then as listed: its plan is empty.

No lab host: it needs Java and the Kafka distribution only (in CI both exist). It is here, not
in tests/unit, for its time: about twenty JVM starts of Kafka's tools (45 s or more on two
cores).
"""

from __future__ import annotations

import os
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient

from kafkaform import lag_exporter, programs, settings
from kafkaform.access import (
    DeleteUser,
    Grant,
    Revoke,
    desired_bindings,
    plan_access,
)
from kafkaform.access_tools import AccessTools, parse_description
from kafkaform.security import ADMIN_USER, BROKER_USER, MONITOR_USER
from tests.unit.test_host_tools_jars import IN_CI, distribution_tarball

TOPIC, GROUP = "orders", "billing"
ALICE_ACLS = [
    {"principal": "User:alice", "resource_type": "topic", "resource_name": TOPIC,
     "operations": ["Describe", "Read", "Write"]},
    {"principal": "User:alice", "resource_type": "group", "resource_name": GROUP,
     "operations": ["Read"]},
]  # fmt: skip
# The same with alice's Write taken off the list.
READ_ONLY = [{**ALICE_ACLS[0], "operations": ["Describe", "Read"]}, ALICE_ACLS[1]]
PASSWORDS = {
    BROKER_USER: uuid.uuid4().hex,
    ADMIN_USER: uuid.uuid4().hex,
    MONITOR_USER: uuid.uuid4().hex,
    "alice": "al1ce,with=odd]chars",
    "mallory": uuid.uuid4().hex,  # a user with no ACL at all
}
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(command: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Broker:
    def __init__(self, home: Path, directory: Path, zookeeper: str, port: int) -> None:
        self.home, self.directory, self.zookeeper = home, directory, zookeeper
        self.servers = f"127.0.0.1:{port}"
        self.tool = programs.tool_java(settings.JAVA_BIN, str(home), "{main}")
        self.admin_config = directory / "client.properties"
        self.admin_config.write_text(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
            f'sasl.jaas.config={SCRAM_JAAS} username="{ADMIN_USER}" '
            f'password="{PASSWORDS[ADMIN_USER]}";\n'
        )
        self.tools = AccessTools(self.tool, self.servers, str(self.admin_config))

    def client(self, user: str, **more: object) -> dict:
        return {
            "bootstrap.servers": self.servers,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": PASSWORDS[user],
            **more,
        }

    def password_file(self, user: str) -> Path:
        """What deploys/tasks/scram.py uploads: the credential in a 0600 file."""
        path = self.directory / f"{user}.scram"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"SCRAM-SHA-512=password={PASSWORDS[user]}\n")
        return path

    def set_passwords(self, users: list[str], connect: str) -> None:
        """ConfigCommand --add-config-file for each user at once (one JVM each)."""
        configs = self.tool.format(main=programs.CONFIG_COMMAND)
        running = [
            subprocess.Popen(
                f"{configs} {connect} --alter --entity-type users --entity-name {user}"
                f" --add-config-file {self.password_file(user)}",
                shell=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for user in users
        ]
        for proc in running:
            output = proc.communicate(timeout=60)[0]
            assert proc.returncode == 0, output
            assert not any(p in output for p in PASSWORDS.values())

    def describe(self):
        return parse_description(sh(self.tools.describe()).splitlines())

    def plan(self, acls: list[dict], users: list[str]):
        return plan_access(desired_bindings(acls), *self.describe_with_users(users))

    def describe_with_users(self, users: list[str]):
        bindings, scram_users = self.describe()
        return bindings, users, scram_users

    def apply(self, plan) -> None:
        for action in plan.actions:
            for command in self.tools.commands(action):
                sh(command)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    if not os.access(settings.JAVA_BIN, os.X_OK):
        if IN_CI:
            pytest.fail(f"{settings.JAVA_BIN} is missing in CI (.ci/bootstrap installs it)")
        pytest.skip(f"no {settings.JAVA_BIN}: the loopback broker needs Java")
    root = tmp_path_factory.mktemp("kafka")
    with tarfile.open(distribution_tarball(settings.KAFKA_VERSION)) as tar:
        tar.extractall(root, filter="data")
    (home,) = root.iterdir()
    directory = tmp_path_factory.mktemp("secured")
    zk_port, internal, port = free_port(), free_port(), free_port()
    (directory / "zoo.cfg").write_text(
        f"dataDir={directory}/zookeeper\nclientPort={zk_port}\nclientPortAddress=127.0.0.1\n"
        "admin.enableServer=false\n"
    )
    listeners = f"INTERNAL://127.0.0.1:{internal},CLIENT://127.0.0.1:{port}"
    (directory / "server.properties").write_text(
        "\n".join(
            [
                "broker.id=1",
                f"listeners={listeners}",
                f"advertised.listeners={listeners}",
                "listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT",
                "inter.broker.listener.name=INTERNAL",
                "sasl.enabled.mechanisms=SCRAM-SHA-512",
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
                f"listener.name.internal.scram-sha-512.sasl.jaas.config={SCRAM_JAAS} "
                f'username="{BROKER_USER}" password="{PASSWORDS[BROKER_USER]}";',
                f"listener.name.client.scram-sha-512.sasl.jaas.config={SCRAM_JAAS};",
                "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
                f"super.users=User:{BROKER_USER};User:{ADMIN_USER}",
                f"zookeeper.connect=127.0.0.1:{zk_port}/kafka",
                f"log.dirs={directory}/data",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "",
            ]
        )
    )
    log4j = f"-Dlog4j.configuration=file:{home}/config/tools-log4j.properties"

    def start(heap: str, main: str, config: str) -> None:
        java = [settings.JAVA_BIN, heap, log4j, "-cp", f"{home}/libs/*", main, config]
        started.append(subprocess.Popen(java, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    started: list[subprocess.Popen] = []
    try:
        start("-Xmx128m", programs.ZOOKEEPER.main_class, str(directory / "zoo.cfg"))
        secured = Broker(home, directory, f"127.0.0.1:{zk_port}/kafka", port)
        # The chroot first: two tools creating it at once trip over each other.
        zookeeper = KazooClient(hosts=f"127.0.0.1:{zk_port}")
        zookeeper.start(timeout=30)
        zookeeper.ensure_path("/kafka")
        zookeeper.stop()
        # The brokers' and kafkaform's own credentials exist before the broker starts (the
        # kafka part's scram.py does it through ZooKeeper); ConfigCommand waits for ZooKeeper.
        secured.set_passwords([BROKER_USER, ADMIN_USER], f"--zookeeper {secured.zookeeper}")
        start("-Xmx512m", programs.BROKER.main_class, str(directory / "server.properties"))
        admin = AdminClient(secured.client(ADMIN_USER))
        deadline = time.monotonic() + 60
        while True:
            try:
                if admin.list_topics(timeout=5).brokers:
                    break
            except Exception:
                pass
            assert time.monotonic() < deadline and started[-1].poll() is None, "no broker"
        yield secured
    finally:
        for proc in reversed(started):
            proc.kill()
            proc.wait()


def produce(config: dict, value: bytes) -> KafkaError | None:
    """The delivery error of one message (None: delivered)."""
    errors: list = []
    producer = Producer({**config, "message.timeout.ms": 15000})
    producer.produce(TOPIC, value, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(20)
    assert len(errors) == 1
    return errors[0]


def consume_one(config: dict) -> bytes:
    consumer = Consumer({**config, "group.id": GROUP, "auto.offset.reset": "earliest"})
    consumer.subscribe([TOPIC])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and msg.error() is None:
                consumer.commit(msg, asynchronous=False)
                return msg.value()
            assert msg is None or msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
        raise AssertionError("nothing consumed")
    finally:
        consumer.close()


def test_users_and_acls_on_a_secured_broker(broker):
    started = time.monotonic()
    admin = AdminClient(broker.client(ADMIN_USER))
    admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(30)
    # Passwords as put_scram_users sets them, on the running broker.
    broker.set_passwords(
        [MONITOR_USER, "alice", "mallory"],
        f"--bootstrap-server {broker.servers} --command-config {broker.admin_config}",
    )
    users = ["alice", "mallory"]

    plan = broker.plan(ALICE_ACLS, users)
    assert {type(a) for a in plan.actions} == {Grant}
    assert len(plan.actions) == 5  # the monitor's three, alice's topic and group
    broker.apply(plan)
    assert not broker.plan(ALICE_ACLS, users)  # a second run changes nothing

    # A principal without ACLs is refused on the topic; alice produces and consumes.
    error = produce(broker.client("mallory"), b"not allowed")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce(broker.client("alice"), b"order 1") is None
    assert consume_one(broker.client("alice")) == b"order 1"

    # The lag exporter's reading, as kafkaform-monitor with the built-in ACLs only.
    monitor = broker.client(MONITOR_USER)
    reader = lag_exporter.Reader(
        AdminClient(monitor),
        lambda group: Consumer({**monitor, "group.id": group, "enable.auto.commit": False}),
        timeout=10,
    )
    try:
        reading = reader.read()
    finally:
        reader.close()
    assert reading.end[(TOPIC, 0)] == 1
    assert reading.committed[GROUP][(TOPIC, 0)] == 1

    # alice's Write taken off the list, mallory off kafka_users: revoked, deleted.
    plan = broker.plan(READ_ONLY, ["alice"])
    assert [str(a) for a in plan.actions] == [
        "revoke allow User:alice Write on topic orders",
        "delete SCRAM user mallory (not in kafka_users)",
    ]
    assert isinstance(plan.actions[0], Revoke) and isinstance(plan.actions[1], DeleteUser)
    broker.apply(plan)
    error = produce(broker.client("alice"), b"order 2")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    refused: list = []
    client = Producer({**broker.client("mallory"), "error_cb": refused.append})
    deadline = time.monotonic() + 20
    while not refused and time.monotonic() < deadline:
        client.poll(0.5)  # serves the error callback
    assert any(e.code() == KafkaError._AUTHENTICATION for e in refused), refused
    assert not broker.plan(READ_ONLY, ["alice"])
    print(f"users and ACLs on the loopback broker: {time.monotonic() - started:.1f}s")
