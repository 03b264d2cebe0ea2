"""A real secured ZooKeeper from Kafka's jars, started on loopback from the zoo.cfg, JAAS and TLS
files kafkaform renders for ``security: "sasl_ssl"``: its plain port on loopback only, an anonymous
client can change nothing, kafkaform's own clients (kafkaform.zookeeper_client) can, and the
reconfig admin still works through the bootstrap superuser (about 5 s)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.security import ACL, Id

from deploys.tasks.zookeeper_security import protect_kafkaform_znodes
from kafkaform import pki, roll_lock, settings, templating, verify
from kafkaform.cluster import Cluster
from kafkaform.ensemble_config import bootstrap_text, join_text, static_properties, wanted_members
from kafkaform.ensemble_reconfig import ensure_acl, reconfig
from kafkaform.zookeeper_client import (
    protect_own_znodes,
    secure_acls,
    trusted_ca,
    zookeeper_client,
)
from kafkaform.zookeeper_security import SERVER_PEM, server_jaas, server_jvm_options
from tests.unit.test_roll_lock_shell import kafka_home  # noqa: F401  (fixture)

ADMIN_PASSWORD = "admin-pw-for-the-test"
PORTS = range(33200, 33300, 4)  # this part's loopback range


def free_ports() -> int:
    """The first of four free ports in a row (TLS client, peer, election, plain client)."""
    for first in PORTS:
        try:
            for port in range(first, first + 4):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no four free ports in 33200-33299")


def bound_addresses(port: int) -> set[str]:
    """The local addresses listening on TCP ``port`` (IPv4 and IPv6), from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.fixture(scope="module")
def server(kafka_home, tmp_path_factory):  # noqa: F811
    """The secured server; yields its cluster (one node) and the plain client port it must
    not open."""
    root = tmp_path_factory.mktemp("secured-zk")
    port = free_ports()
    conf, data = root / "conf", root / "data"
    cluster = Cluster.from_hosts(
        [
            (
                "zk-1",
                {
                    "ssh_hostname": "127.0.0.1", "zookeeper": True, "zkid": 1, "kafkaid": 1,
                    "security": "sasl_ssl", "pki_dir": str(root / "pki"),
                    "zookeeper_config_dir": str(conf), "zookeeper_data_dir": str(data),
                    "zookeeper_datalog_dir": str(root / "datalog"),
                    "zookeeper_secure_client_port": port, "zookeeper_peer_port": port + 1,
                    "zookeeper_election_port": port + 2, "zookeeper_client_port": port + 3,
                },
            )
        ]
    )  # fmt: skip
    node = cluster.nodes[0]
    s = node.settings
    tls = pki.host_tls(node)
    (conf / "tls").mkdir(parents=True)
    (conf / "tls" / SERVER_PEM).write_text(tls.key_pem + tls.cert_pem)
    (conf / "tls" / "ca.crt").write_text(tls.ca_pem)
    (conf / "jaas.conf").write_text(server_jaas(s))
    data.mkdir()
    (data / "myid").write_text("1\n")
    (conf / "join").write_text(join_text(wanted_members(cluster)))
    zoo_cfg = conf / "zoo.cfg"
    zoo_cfg.write_text(
        templating.render(
            "zookeeper/zoo.cfg.j2", zkid=1, properties=static_properties(cluster, node)
        )
        + bootstrap_text(ADMIN_PASSWORD)
        + f"dynamicConfigFile={conf / 'join'}\n"
    )
    process = subprocess.Popen(
        [settings.JAVA_BIN, "-Xmx128m", *server_jvm_options(s), "-cp", f"{kafka_home}/libs/*",
         "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(zoo_cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while verify.node_mode(node, timeout=1) != "leader":
            assert process.poll() is None, "the secured ZooKeeper exited"
            assert time.monotonic() < deadline, "the secured ZooKeeper did not serve in 60 s"
            time.sleep(0.2)
        yield cluster, port + 3
    finally:
        process.kill()
        process.wait()


def test_the_plain_port_listens_on_loopback_only_and_tls_answers_srvr(server):
    cluster, plain = server
    found = bound_addresses(plain)  # 127.0.0.1 only (as IPv4, or IPv4-mapped IPv6)
    assert found and all(a.endswith("0100007F") for a in found), found
    tls = bound_addresses(cluster.nodes[0].settings["zookeeper_secure_client_port"])
    assert tls and all(set(a) == {"0"} for a in tls), tls  # every address
    assert verify.node_srvr(cluster.nodes[0])["Mode"] == "leader"
    assert verify.srvr(
        "127.0.0.1", cluster.nodes[0].settings["zookeeper_secure_client_port"], 2
    ) in (
        None,
        {},
    )  # TLS only: a plain srvr gets no answer


def test_an_anonymous_client_changes_nothing_and_kafkaform_s_client_does(server):
    from kazoo.exceptions import KazooException

    cluster, plain = server
    s = cluster.nodes[0].settings
    hosts = cluster.zookeeper_connect()
    ours = zookeeper_client(s, hosts, timeout=10.0)
    ours.start(timeout=15)
    try:
        ours.ensure_path("/kafka/brokers")
        ours.create("/kafka/kafkaform-claim", b"kafka-1")
        acls, _ = ours.get_acls("/kafka/kafkaform-claim")
        assert acls == [ACL(31, Id("sasl", "kafka")), ACL(1, Id("world", "anyone"))]
    finally:
        ours.stop()
        ours.close()
    # Over TLS, and on the loopback plain port: no session without authentication.
    for anonymous in (
        KazooClient(hosts=hosts, use_ssl=True, ca=str(trusted_ca(s))),
        KazooClient(hosts=f"127.0.0.1:{plain}"),
    ):
        anonymous.start(timeout=15)
        try:
            for method, args in (
                ("set", ("/kafka/kafkaform-claim", b"stolen")),
                ("delete", ("/kafka/kafkaform-claim",)),
                ("create", ("/kafka/brokers/ids", b"{}")),
                ("create", ("/forged", b"x")),  # the root is world-writable
            ):
                with pytest.raises(KazooException):
                    getattr(anonymous, method)(*args)
        finally:
            anonymous.stop()
            anonymous.close()
    check = zookeeper_client(s, hosts, timeout=10.0)
    check.start(timeout=15)
    try:
        assert check.get("/kafka/kafkaform-claim")[0] == b"kafka-1"
    finally:
        check.stop()
        check.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_wrong_password_gets_no_session(server):
    cluster, _ = server
    s = cluster.nodes[0].settings
    wrong = KazooClient(
        hosts=cluster.zookeeper_connect(),
        use_ssl=True,
        ca=str(trusted_ca(s)),
        sasl_options={"mechanism": "DIGEST-MD5", "username": "kafka", "password": "wrong"},
        connection_retry={"max_tries": 1},
    )
    try:
        with pytest.raises(Exception):  # noqa: B017 - kazoo's AuthFailedError or a timeout
            wrong.start(timeout=5)
            wrong.create("/kafka/not-allowed", b"")
    finally:
        wrong.stop()
        wrong.close()


def test_the_roll_lock_and_the_reconfig_admin_work_over_tls(server):
    cluster, _ = server
    s = cluster.nodes[0].settings
    hosts = cluster.zookeeper_connect()
    client = roll_lock.lock_client(hosts, s)
    try:
        roll_lock.take(client, roll_lock.holder_text("deploy", "t"), 1)
        assert client.get(roll_lock.LOCK_PATH)[0].startswith(b"deploy ")
    finally:
        roll_lock.release(client)
    assert ensure_acl(s, hosts, ADMIN_PASSWORD) == "set"  # as the bootstrap superuser
    assert ensure_acl(s, hosts, ADMIN_PASSWORD) == "in place"
    assert reconfig(s, hosts, ADMIN_PASSWORD) == wanted_members(cluster)  # nothing to change


def test_kafkaform_s_own_znodes_of_a_plaintext_past_get_the_secure_acl(server):
    from kazoo.security import OPEN_ACL_UNSAFE

    cluster, _ = server
    client = zookeeper_client(cluster.nodes[0].settings, cluster.zookeeper_connect())
    client.start(timeout=15)
    try:
        # As a plaintext cluster left them: open to the world.
        for path in ("/kafkaform/old", "/kafka/kafkaform/broker-ids/7"):
            client.create(path, b"x", acl=OPEN_ACL_UNSAFE, makepath=True)
        client.set_acls("/kafkaform", OPEN_ACL_UNSAFE)
        protect_kafkaform_znodes(cluster)  # the deploy's step, from the control machine
        for path in ("/kafkaform", "/kafkaform/old", "/kafka/kafkaform/broker-ids/7"):
            assert client.get_acls(path)[0] == secure_acls()
        roots = ["/kafkaform", "/kafka/kafkaform", "/nothing-there"]
        assert protect_own_znodes(client, roots) == 0  # done once
    finally:
        client.stop()
        client.close()
