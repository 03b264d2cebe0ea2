"""A broker's security level: the properties each level (and each rollout stage) composes,
validated from the same table; the JAAS and client files; the deploy's secret uploads and the
SCRAM credentials set before the brokers start, with no password in any recorded command."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from deploys.tasks.host_tools import client_config_text
from deploys.tasks.scram import outdated
from facts.scram import parse_described
from kafkaform import certificates, client_config, scram, security
from kafkaform.cluster import Cluster, kafka_derived_table
from kafkaform.templating import render
from kafkaform.validate import check
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts

H1, H2 = "@fake/kafka-1", "@fake/kafka-2"


def three(**data) -> list:
    roles = {"zookeeper": True}
    return [
        (f"k{i}", {"ssh_hostname": f"10.1.0.{i}", "kafkaid": i, "zkid": i, **roles, **data})
        for i in (1, 2, 3)
    ]


@pytest.fixture
def secured(tmp_path) -> Cluster:
    return Cluster.from_hosts(three(security="sasl_ssl", pki_dir=str(tmp_path / "pki")))


def secrets_in(pki: Path) -> list[str]:
    values = [p.read_text().strip() for p in (pki / "secrets").iterdir()]
    assert values
    return values


# --- properties ---------------------------------------------------------------------------------


def test_a_plaintext_broker_renders_exactly_what_it_did():
    """The whole server.properties of a plaintext broker, as before security existed: an
    upgrade of kafkaform rolls no broker of an existing cluster."""
    cluster = Cluster.from_hosts(three())
    text = render(
        "kafka/server.properties.j2", properties=cluster.broker_properties(cluster.node("k2"))
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert "listeners=PLAINTEXT://0.0.0.0:9092\n" in text
    assert "advertised.listeners=PLAINTEXT://10.1.0.2:9092\n" in text
    for word in (
        "sasl",
        "ssl.",
        "authorizer",
        "super.users",
        "listener.security",
        "config.providers",
    ):
        assert word not in text
    # The file the commit before security rendered (7d0c65d), byte for byte.
    assert digest == "9285fe9945c2a9aad86a7cdd0214c64692c3bfa4769a9e5e5aa4bbda9b8a1505"


def test_a_sasl_ssl_broker_has_its_listeners_tls_files_sasl_and_authorizer(secured):
    props = secured.broker_properties(secured.node("k2"))
    assert props["listeners"] == "INTERNAL://0.0.0.0:9091,CLIENT://0.0.0.0:9095"
    assert props["advertised.listeners"] == "INTERNAL://10.1.0.2:9091,CLIENT://10.1.0.2:9095"
    assert props["listener.security.protocol.map"] == "INTERNAL:SASL_SSL,CLIENT:SASL_SSL"
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.key"] == "${dir:/etc/kafka/tls:host.key}"
    assert props["ssl.keystore.certificate.chain"] == "${dir:/etc/kafka/tls:host.crt}"
    assert props["ssl.truststore.certificates"] == "${dir:/etc/kafka/tls:ca.crt}"
    assert props["config.providers.dir.param.allowed.paths"] == "/etc/kafka/tls"
    assert props["ssl.endpoint.identification.algorithm"] == "https"
    assert props["authorizer.class.name"] == "kafka.security.authorizer.AclAuthorizer"
    assert props["super.users"] == "User:kafka-broker;User:kafkaform-admin"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "ssl.key.password" not in props and "ssl.keystore.password" not in props
    assert not (Path(secured.nodes[0].settings["pki_dir"]) / "secrets").exists(), (
        "composing the properties needs no secret"
    )


def test_super_users_add_the_inventorys_after_the_builtin_ones(tmp_path):
    cluster = Cluster.from_hosts(
        three(
            security="sasl_ssl",
            pki_dir=str(tmp_path),
            kafka_super_users=["User:ops", "User:kafka-broker"],
        )
    )
    props = cluster.broker_properties(cluster.node("k1"))
    assert props["super.users"] == "User:kafka-broker;User:kafkaform-admin;User:ops"


@pytest.mark.parametrize(
    ("stage", "listeners", "inter", "client", "set_acl"),
    [
        ("secure_listeners_added", "PLAINTEXT,INTERNAL,CLIENT", "PLAINTEXT", "PLAINTEXT", False),
        ("inter_broker_secured", "PLAINTEXT,INTERNAL,CLIENT", "INTERNAL", "CLIENT", True),
        ("sasl_ssl", "INTERNAL,CLIENT", "INTERNAL", "CLIENT", True),
    ],
)
def test_rollout_stages_keep_plaintext_beside_the_secure_listeners(
    stage, listeners, inter, client, set_acl, tmp_path
):
    hosts = three(security="sasl_ssl", pki_dir=str(tmp_path), kafka_security_stage=stage)
    cluster = Cluster.from_hosts(hosts)
    settings = cluster.node("k1").settings
    props = security.listener_properties(settings, "h", security.STAGES[stage])
    assert [x.split("://")[0] for x in props["listeners"].split(",")] == listeners.split(",")
    assert props["inter.broker.listener.name"] == inter
    assert (
        "PLAINTEXT:PLAINTEXT" in props["listener.security.protocol.map"]
        or "PLAINTEXT" not in listeners
    )
    assert security.stage_of(settings).client.name == client
    broker = cluster.broker_properties(cluster.node("k1"))
    # The authorizer is on from the first stage; PLAINTEXT clients stay super users while
    # their listener is there, so nothing they did before is refused.
    assert broker["authorizer.class.name"] == security.AUTHORIZER
    assert ("User:ANONYMOUS" in broker["super.users"]) is ("PLAINTEXT" in listeners)
    assert broker["zookeeper.set.acl"] == str(set_acl).lower()
    # Brokers reach ZooKeeper over TLS from the first stage on.
    assert broker["zookeeper.connect"].split(",")[0].endswith(":2182")
    assert security.live_stage(broker) == stage


def test_a_hand_edited_listener_list_is_no_stage():
    assert security.live_stage(None) is None
    assert security.live_stage({"listeners": "PLAINTEXT://0.0.0.0:9092"}) == "plaintext"
    with pytest.raises(ValueError, match="no stage"):
        security.live_stage({"listeners": "PLAINTEXT://:9092,CLIENT://:9095"})


def test_the_secured_table_is_what_composition_writes_and_validation_refuses(secured):
    node = secured.node("k1")
    table = kafka_derived_table(node)
    composed = secured.derived(security.SECURED_KAFKA_PROPERTIES, node)
    for name, entry in security.SECURED_KAFKA_PROPERTIES.items():
        owned = [key for key in composed if entry.owns(name, key)]
        assert owned, f"{name} composes nothing"
    assert all(any(e.owns(n, key) for n, e in table.items()) for key in composed)
    overrides = {key: "X" for key in composed}
    hosts = three(security="sasl_ssl", pki_dir=node.settings["pki_dir"], kafka_properties=overrides)
    cluster = Cluster.from_hosts(hosts)
    assert "X" not in cluster.broker_properties(cluster.node("k1")).values()
    refused = {p.field for p in check(hosts) if p.message.startswith("derived by kafkaform")}
    assert {f"kafka_properties[{k!r}]" for k in composed} <= refused


def test_a_plaintext_cluster_may_still_set_those_keys():
    hosts = three(kafka_properties={"sasl.enabled.mechanisms": "PLAIN", "super.users": "User:a"})
    assert [p for p in check(hosts) if "derived" in p.message] == []


def test_clients_bootstrap_at_the_client_listener(secured):
    assert secured.bootstrap_servers() == "10.1.0.1:9095,10.1.0.2:9095,10.1.0.3:9095"
    assert Cluster.from_hosts(three()).bootstrap_servers().endswith(":9092")


# --- files ---------------------------------------------------------------------------------------


def test_the_jaas_file_logs_the_broker_in_and_takes_the_zookeeper_section(secured):
    settings = secured.node("k1").settings
    text = security.jaas_config(settings, "Client {\n    x required;\n};\n")
    password = security.scram_password(settings, "kafka-broker")
    assert text.startswith(
        "KafkaServer {\n    org.apache.kafka.common.security.scram.ScramLoginModule"
    )
    assert f'username="kafka-broker" password="{password}";' in text
    assert text.endswith("\nClient {\n    x required;\n};\n")
    assert "Client" not in security.jaas_config(settings)


def test_the_tools_client_config_logs_in_as_the_admin_and_trusts_the_ca_inline(secured, tmp_path):
    node = secured.node("k1")
    ca = "-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n"
    text = client_config_text(secured, node, ca)
    assert "bootstrap.servers=10.1.0.1:9095,10.1.0.2:9095,10.1.0.3:9095\n" in text
    assert "security.protocol=SASL_SSL\n" in text and "sasl.mechanism=SCRAM-SHA-512\n" in text
    assert 'username="kafkaform-admin"' in text
    # One property over several lines: Java's Properties joins lines ending in a backslash,
    # and reads each escaped \\n as a line break of the value.
    lines = "-----BEGIN CERTIFICATE-----\\n\\\nAAAA\\n\\\nBBBB\\n\\\n-----END CERTIFICATE-----\n"
    assert f"ssl.truststore.certificates={lines}" in text
    assert java_property(text, "ssl.truststore.certificates") == ca.strip()


def java_property(text: str, key: str) -> str:
    """``key``'s value as java.util.Properties reads it: a line ending in a backslash goes on
    with the next one (its leading blanks dropped); an escaped n is a line break."""
    logical, pending = [], ""
    for line in text.splitlines():
        line = line.lstrip() if pending else line
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        logical.append(pending + line)
        pending = ""
    prefix = f"{key}="
    (value,) = [line[len(prefix) :] for line in logical if line.startswith(prefix)]
    return value.replace("\\n", "\n")


def test_the_tools_client_config_trusts_both_cas_of_a_rotation_one_per_line(secured):
    """Kafka's PEM parser (3.9.2, checked with its DefaultSslEngineFactory) reads at most one
    certificate per line of ssl.truststore.certificates: two CAs on one line were read as one,
    and a host's tools (the safe restart's health gate) refused the brokers' certificates in
    the first step of a CA rotation."""
    cas = [certificates.make_ca(f"CA {n}", 10)[1] for n in ("old", "new")]
    text = client_config_text(secured, secured.node("k1"), "".join(cas))
    value = java_property(text, "ssl.truststore.certificates")
    assert [certificates.fingerprint(c) for c in certificates.load_certs(value)] == [
        certificates.fingerprint(certificates.load_cert(c)) for c in cas
    ]
    for line in value.splitlines():  # never the end of one and the start of another
        assert line.count("-----") <= 2, line


def test_the_plaintext_tools_config_is_unchanged():
    cluster = Cluster.from_hosts(three())
    text = client_config_text(cluster, cluster.node("k1"))
    assert text.splitlines()[-1] == "bootstrap.servers=10.1.0.1:9092,10.1.0.2:9092,10.1.0.3:9092"
    assert "security" not in text.split("belong here too.")[1]


def test_control_machine_clients_log_in_with_the_cas_file(secured):
    config = client_config.client_config(secured, security.MONITOR_USER)
    pki = Path(secured.nodes[0].settings["pki_dir"])
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "kafkaform-monitor"
    assert (
        config["sasl.password"] == (pki / "secrets" / "scram-kafkaform-monitor").read_text().strip()
    )
    # The control machine's CA bundle (both CAs during a rotation), from kafkaform.pki.
    assert config["ssl.ca.location"] == str(pki / "control" / "ca.crt")
    assert (pki / "control" / "ca.crt").read_text() == (pki / "ca" / "ca.crt").read_text()
    assert client_config.client_config(Cluster.from_hosts(three())) == {
        "bootstrap.servers": "10.1.0.1:9092,10.1.0.2:9092,10.1.0.3:9092"
    }


def test_the_lag_exporters_file_is_librdkafka_properties(secured):
    text = client_config.lag_exporter_config(secured, "/etc/kafka-lag-exporter/ca.crt")
    lines = dict(line.split("=", 1) for line in text.splitlines())
    assert lines["sasl.username"] == "kafkaform-monitor"
    assert lines["ssl.ca.location"] == "/etc/kafka-lag-exporter/ca.crt"


# --- SCRAM ---------------------------------------------------------------------------------------

DESCRIBED = [
    "Configs for user-principal 'kafkaform-admin' are SCRAM-SHA-512=salt=dXdwMmVzeDkxem1zeHp2ZDR1"
    "djJoenpiYQ==,stored_key=dXjDR96OmZJE6Jf/nbNT/5D0AsJHc9izTKQAaqoy3mO30X6gNnpm3mdRj8/UM+UWiO4"
    "kyIS+7Tk0GV1WGXL2/w==,server_key=/yoH,iterations=4096",
]


def test_a_credential_is_checked_against_its_password_as_kafka_made_it():
    """The line ConfigCommand of Kafka 3.9 printed for a user set with password "adminpw"."""
    found = parse_described(DESCRIBED)
    assert found is not None and scram.matches(found["kafkaform-admin"], "adminpw")
    assert not scram.matches(found["kafkaform-admin"], "adminpw2")
    assert outdated({"kafkaform-admin": "adminpw", "kafka-broker": "x"}, found) == ["kafka-broker"]
    assert outdated({"kafkaform-admin": "adminpw"}, None) == ["kafkaform-admin"]
    assert base64.b64decode("dXdwMmVzeDkxem1zeHp2ZDR1djJoenpiYQ==") == found["kafkaform-admin"].salt


def test_the_config_file_is_the_bare_list_configcommand_reads():
    assert scram.config_file_text("pw") == "SCRAM-SHA-512=iterations=8192,password=pw\n"


# --- the deploy -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured_run(tmp_path_factory):
    """(the run, pki_dir, uploads: (host, path) -> text) of a first secured deploy."""
    from pyinfra.connectors.fake import FakeConnector

    pki = tmp_path_factory.mktemp("pki")
    uploads: dict[tuple[str, str], str] = {}
    real = FakeConnector.put_file

    def capture(self, source, remote_filename, *args, **kwargs):
        data = source.read() if hasattr(source, "read") else Path(source).read_bytes()
        text = data.decode() if isinstance(data, bytes) else data
        uploads[(self.host.name, remote_filename)] = text
        if hasattr(source, "seek"):
            source.seek(0)
        return real(self, source, remote_filename, *args, **kwargs)

    FakeConnector.put_file = capture
    try:
        run = run_deploy(fake_hosts("debian12", 3, security="sasl_ssl", pki_dir=str(pki)))
    finally:
        FakeConnector.put_file = real
    return run, pki, uploads


def test_no_password_in_any_recorded_command(secured_run):
    run, pki, _ = secured_run
    for value in secrets_in(pki):
        for host in run.commands:
            assert value not in run.executed(host), host
            assert not [op for op in run.ops(host) if value in op]


def test_the_builtin_users_are_set_before_any_broker_starts(secured_run):
    run, _, uploads = secured_run
    ops = run.ops(H1)
    start = ops.index("Kafka broker | Start and enable kafka")
    for user in security.BUILTIN_USERS:
        assert ops.index(f"Kafka broker | SCRAM credential of {user} set in ZooKeeper") < start
    assert ops.index("Kafka broker | Wait until zookeeper is healthy") < ops.index(
        "Kafka broker | SCRAM credential of kafka-broker set in ZooKeeper"
    )
    assert not [op for op in run.ops(H2) if "SCRAM" in op], "one host sets them"
    sets = [c for c in run.commands[H1] if "--add-config-file" in c]
    assert len(sets) == 3 and all("rm -f /run/kafkaform/scram/" in c for c in sets)
    # A secured ensemble is reached on its TLS client port.
    assert all("--zookeeper 10.0.0.11:2182,10.0.0.12:2182,10.0.0.13:2182/kafka" in c for c in sets)
    staged = uploads[(H1, "/run/kafkaform/scram/kafka-broker.properties")]
    assert staged.startswith("SCRAM-SHA-512=iterations=8192,password=")


def test_secret_files_are_uploaded_unseen_with_their_modes(secured_run):
    run, _, _ = secured_run
    sent = run.commands[H2]
    for path, owner, name in (
        ("/etc/kafka/kafka_server_jaas.conf", "root:kafka", "Kafka JAAS login"),
        ("/etc/kafka/tls/host.key", "root:kafka", "TLS key"),
        ("/etc/kafka/client.properties", f"root:{security.ADMIN_GROUP}", "Client configuration"),
    ):
        assert f"chown {owner} {path} && chmod 640 {path}" in sent, path
        shown = [op for op in run.ops(H2) if name in op]
        assert shown and shown[0].endswith(" (secret: content not shown)"), path
    assert any("groupadd" in c and security.ADMIN_GROUP in c for c in sent)


def test_the_unit_names_the_jaas_file_and_the_safe_restart_the_tools_login(secured_run):
    _, _, uploads = secured_run
    unit = uploads[(H2, "/etc/systemd/system/kafka.service")]
    assert "-Djava.security.auth.login.config=/etc/kafka/kafka_server_jaas.conf" in unit
    script = uploads[(H2, "/usr/local/sbin/kafka-safe-restart")]
    assert "PORT=9095\n" in script
    assert re.search(
        r"--bootstrap-server \"\$BOOTSTRAP\" --command-config /etc/kafka/client.properties", script
    )


def test_configcommands_complaint_about_a_credential_is_shown_without_its_password():
    import subprocess

    from deploys.tasks.scram import HIDE

    said = "Invalid credential property SCRAM_SHA_512=[iterations=8192,password=s3cr,et]\n"
    shown = subprocess.run(["sh", "-c", HIDE], input=said, text=True, capture_output=True).stdout
    assert "s3cr" not in shown and ",et" not in shown and "password=(hidden)" in shown
