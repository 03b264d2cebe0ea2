"""ZooKeeper locked down (kafkaform.zookeeper_security): what a secured cluster renders, that a
plaintext one renders what it always did, and that the deploy puts the secrets up without
showing them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaform import secrets, templating
from kafkaform.cluster import Cluster
from kafkaform.ensemble_change import static_member
from kafkaform.ensemble_config import member_line, static_properties
from kafkaform.zookeeper_security import (
    BROKER_USER,
    CLIENT_JAAS,
    QUORUM_USER,
    migrator_command,
    server_jaas,
    server_jvm_options,
    server_properties,
    shell_jvm_options,
    zookeeper_client_jaas,
    zookeeper_client_properties,
)
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts

H1 = "@fake/kafka-1"


def cluster(**data) -> Cluster:
    return Cluster.from_hosts(
        [
            (
                f"kafka-{i}",
                {
                    "ssh_hostname": f"10.0.0.{10 + i}",
                    "kafkaid": i,
                    "zookeeper": True,
                    "zkid": i,
                    **data,
                },
            )  # fmt: skip
            for i in (1, 2, 3)
        ]
    )


@pytest.fixture
def secured(tmp_path) -> Cluster:
    return cluster(security="sasl_ssl", pki_dir=str(tmp_path / "pki"))


def test_a_plaintext_ensemble_renders_what_it_always_did():
    c = cluster()
    node = c.nodes[0]
    assert static_properties(c, node) == {
        "tickTime": "2000",
        "initLimit": "10",
        "syncLimit": "5",
        "maxClientCnxns": "60",
        "autopurge.snapRetainCount": "5",
        "autopurge.purgeInterval": "24",
        "4lw.commands.whitelist": "srvr,mntr,ruok",
        "admin.enableServer": "false",
        "dataDir": "/var/lib/zookeeper/data",
        "dataLogDir": "/var/lib/zookeeper/datalog",
        "clientPort": "2181",
        "reconfigEnabled": "true",
        "standaloneEnabled": "false",
    }
    assert member_line(node) == "10.0.0.11:2888:3888:participant;2181"
    assert c.zookeeper_connect("/kafka") == "10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181/kafka"
    assert server_properties(node.settings) == {}
    assert server_jvm_options(node.settings) == []
    assert shell_jvm_options(node.settings) == ""
    # A plaintext broker reaches ZooKeeper as it always did: no TLS, no znode ACLs.
    broker = c.broker_properties(c.brokers[0])
    assert not [key for key in broker if key.startswith(("zookeeper.ssl", "zookeeper.set"))]


def test_a_secured_server_has_only_its_tls_client_port_and_enforces_sasl(secured):
    node = secured.nodes[0]
    props = static_properties(secured, node)
    assert "clientPort" not in props
    # The plain client port on loopback only (reconfig needs a client address).
    assert member_line(node) == "10.0.0.11:2888:3888:participant;127.0.0.1:2181"
    owners = {1: "kafka-1"}
    assert static_member(secured, owners, 1, "10.0.0.11:2888:3888") == member_line(node)
    assert static_member(cluster(), owners, 1, "10.0.0.11:2888:3888") == member_line(
        cluster().nodes[0]
    )
    assert props["secureClientPort"] == "2182"
    assert props["serverCnxnFactory"] == "org.apache.zookeeper.server.NettyServerCnxnFactory"
    assert props["enforce.auth.enabled"] == "true"
    assert props["enforce.auth.schemes"] == "sasl,digest"  # the reconfig admin is digest
    assert props["ssl.clientAuth"] == "none"
    for prefix in ("ssl", "ssl.quorum"):
        assert props[f"{prefix}.keyStore.location"] == "/etc/zookeeper/tls/host.pem"
        assert props[f"{prefix}.keyStore.type"] == "PEM"
        assert props[f"{prefix}.trustStore.location"] == "/etc/zookeeper/tls/ca.crt"
    assert props["sslQuorum"] == "true"
    for key in ("enableSasl", "learnerRequireSasl", "serverRequireSasl"):
        assert props[f"quorum.auth.{key}"] == "true"
    assert secured.zookeeper_connect() == "10.0.0.11:2182,10.0.0.12:2182,10.0.0.13:2182"
    # No key is set twice, and none is a password.
    text = templating.render("zookeeper/zoo.cfg.j2", zkid=1, properties=props)
    keys = [line.split("=")[0] for line in text.splitlines() if "=" in line]
    assert len(keys) == len(set(keys))
    assert "password" not in text.lower()


def test_the_jaas_files_hold_the_generated_passwords(secured):
    s = secured.nodes[0].settings
    broker, quorum = (secrets.generated(s, f"zookeeper-{u}") for u in (BROKER_USER, QUORUM_USER))
    text = server_jaas(s)
    assert f'user_kafka="{broker}"' in text
    assert f'user_quorum="{quorum}"' in text
    for section in ("Server", "QuorumServer", "QuorumLearner"):
        assert f"\n{section} {{\n" in f"\n{text}"
    client = zookeeper_client_jaas(s)
    assert client.startswith("Client {\n")
    assert f'username="kafka"\n    password="{broker}";' in client
    # The same password on every run (kept on the control machine).
    assert server_jaas(s) == text


def test_brokers_reach_the_tls_port_and_protect_their_znodes(secured):
    node = secured.nodes[1]
    assert zookeeper_client_properties(secured, node) == {
        "zookeeper.connect": "10.0.0.11:2182,10.0.0.12:2182,10.0.0.13:2182/kafka",
        "zookeeper.ssl.client.enable": "true",
        "zookeeper.clientCnxnSocket": "org.apache.zookeeper.ClientCnxnSocketNetty",
        "zookeeper.ssl.truststore.location": "/etc/kafka/tls/ca.crt",
        "zookeeper.ssl.truststore.type": "PEM",
        "zookeeper.set.acl": "true",
    }


def test_the_acl_migration_names_files_not_secrets(secured):
    node = secured.nodes[0]
    command = migrator_command(secured, node, "/opt/kafka/kafka_2.13-3.9.2", "/usr/bin/java")
    assert "kafka.admin.ZkSecurityMigrator --zookeeper.acl=secure" in command
    assert f"-Djava.security.auth.login.config={CLIENT_JAAS}" in command
    assert "--zookeeper.connect=10.0.0.11:2182,10.0.0.12:2182,10.0.0.13:2182/kafka" in command
    assert "--zk-tls-config-file=/etc/kafkaform/zookeeper-client/tls.properties" in command
    assert secrets.generated(node.settings, "zookeeper-kafka") not in command


@pytest.fixture(scope="module")
def secured_run(tmp_path_factory):
    """The deploy of a secured 3-node cluster to fake hosts: its run and kafka-1's uploads."""
    from pyinfra.connectors.fake import FakeConnector

    pki = tmp_path_factory.mktemp("pki")
    uploads: dict[str, str] = {}
    real = FakeConnector.put_file

    def capture(self, filename_or_io, remote_filename, *args, **kwargs):
        if self.host.name == H1:
            data = filename_or_io.read()
            uploads[remote_filename] = data.decode() if isinstance(data, bytes) else data
            filename_or_io.seek(0)
        return real(self, filename_or_io, remote_filename, *args, **kwargs)

    FakeConnector.put_file = capture
    try:
        run = run_deploy(fake_hosts("debian12", 3, security="sasl_ssl", pki_dir=str(pki)))
    finally:
        FakeConnector.put_file = real
    return run, uploads, pki


def test_the_deploy_puts_up_the_secured_servers_files(secured_run):
    run, uploads, _ = secured_run
    ops = run.ops(H1)
    for name in (
        "ZooKeeper JAAS (SASL users) (secret: content not shown)",
        "TLS key and certificate /etc/zookeeper/tls/host.pem (secret: content not shown)",
        "ZooKeeper client JAAS of the host's tools (secret: content not shown)",
    ):
        assert any(op.endswith(name) for op in ops), name
    sent = run.executed(H1)
    assert "chown root:zookeeper /etc/zookeeper/jaas.conf && chmod 640" in sent
    assert "chown root:zookeeper /etc/zookeeper/tls/host.pem && chmod 640" in sent
    assert "chown root:root /etc/kafkaform/zookeeper-client/jaas.conf && chmod 600" in sent
    assert "-----BEGIN PRIVATE KEY-----" in uploads["/etc/zookeeper/tls/host.pem"]
    assert "-----BEGIN CERTIFICATE-----" in uploads["/etc/zookeeper/tls/host.pem"]
    unit = uploads["/etc/systemd/system/zookeeper.service"]
    assert "-Djava.security.auth.login.config=/etc/zookeeper/jaas.conf" in unit
    roll = uploads["/usr/local/lib/kafkaform/roll.sh"]
    assert roll.count(shell_jvm_options({"security": "sasl_ssl"})) == 2  # get, and the lock
    script = uploads["/usr/local/sbin/zookeeper-safe-restart"]
    assert "openssl s_client -quiet" in script and "/dev/tcp" not in script


def test_no_secret_is_in_a_command_or_an_operation_name(secured_run):
    run, uploads, pki = secured_run
    values = [p.read_text().strip() for p in (Path(pki) / "secrets").iterdir()]
    assert len(values) >= 2  # the brokers' and the quorum's ZooKeeper passwords
    key = uploads["/etc/zookeeper/tls/host.key"].splitlines()[1]  # a line of the key's body
    for host in run.names:
        shown = run.executed(host) + "\n".join(run.names[host]) + "\n".join(run.prepared[host])
        for value in [*values, key]:
            assert value not in shown


def test_a_plaintext_deploy_writes_no_security_file():
    run = run_deploy(fake_hosts("debian12", 3))
    sent = run.executed(H1)
    assert "jaas" not in sent and "/etc/zookeeper/tls" not in sent
    assert "zookeeper-client" not in sent


def test_the_mode_fact_asks_a_secured_server_over_tls():
    from facts.zookeeper import ZooKeeperMode

    fact = ZooKeeperMode()
    command = fact.command(port=2182, ca="/etc/zookeeper/tls/ca.crt")
    assert "openssl s_client -quiet -connect 127.0.0.1:2182" in command
    assert "-CAfile /etc/zookeeper/tls/ca.crt -verify_return_error" in command
    assert "/dev/tcp" in fact.command(port=2181)  # plaintext: as before
    assert fact.process(["Zookeeper version: 3.8.4", "Mode: leader"]) == "leader"
