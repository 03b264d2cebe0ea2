"""ZooKeeper locked down (``security: "sasl_ssl"``) on a 3-host lab through the real CLI: a
secured ensemble of one grown to three by reconfig (TLS and SASL between the servers), the
brokers on it with ACL'd znodes; the plain client port closed; an anonymous client cannot
change Kafka's znodes; a safe restart by hand (roll lock and health gate over TLS); `kafkaform
status`; a second run changes nothing; no secret in the deploy's output.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import ACL, Id

from kafkaform import verify
from kafkaform.zookeeper_client import trusted_ca
from tests.integration.conftest import (
    BIN,
    changed_operations,
    fresh_lab,
    lab_inventory_with,
    on_node,
    run,
)
from tests.integration.scaling import cluster_of
from tests.integration.secured_lab import secured_deploy


def secured_inventory(directory: Path, pki: Path, servers: int, names: list[str]) -> str:
    directory.mkdir(parents=True)
    hosts = {
        name: {"zookeeper": True, "zkid": i} if i <= servers else
        {"zookeeper": False, "zkid": None}
        for i, name in enumerate(names, 1)
    }  # fmt: skip
    return lab_inventory_with(directory, hosts=hosts, security="sasl_ssl", pki_dir=str(pki))


def wait_modes(cluster, wanted: list[str], seconds: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + seconds
    while sorted((modes := verify.ensemble_modes_reachable(cluster)).values()) != wanted:
        assert time.monotonic() < deadline, modes
        time.sleep(1)
    return modes


@pytest.fixture(scope="module")
def secured_lab(lab_box, tmp_path_factory):
    """A 3-host lab deployed secured with one ZooKeeper server, then grown to three."""
    root = tmp_path_factory.mktemp("secured")
    pki = root / "pki"
    names = [n.name for n in fresh_lab(3, box=lab_box.catalog).nodes]
    one = secured_inventory(root / "one", pki, 1, names)
    assert secured_deploy(one, pki)[0]["results"]["totals"]["error"] == 0
    wait_modes(cluster_of(one), ["leader"])
    three = secured_inventory(root / "three", pki, 3, names)
    assert secured_deploy(three, pki)[0]["results"]["totals"]["error"] == 0  # reconfig +2, +3
    return three, pki


def test_the_quorum_serves_over_tls_and_sasl_and_the_plain_port_is_closed(secured_lab):
    inventory, _ = secured_lab
    cluster = cluster_of(inventory)
    wait_modes(cluster, ["follower", "follower", "leader"])
    for node in cluster.ensemble:
        s = node.settings
        with socket.socket() as sock:
            sock.settimeout(3)
            assert sock.connect_ex((node.address, s["zookeeper_client_port"])) != 0
        # The quorum's ports speak TLS: a plain srvr there gets no answer either.
        assert verify.srvr(node.address, s["zookeeper_secure_client_port"], 3) in (None, {})
    zoo_cfg = on_node(cluster.nodes[0].name, "cat /etc/zookeeper/zoo.cfg").stdout
    assert "quorum.auth.serverRequireSasl=true" in zoo_cfg and "sslQuorum=true" in zoo_cfg
    modes = on_node(cluster.nodes[0].name, "ls -l /etc/zookeeper/jaas.conf").stdout
    assert modes.startswith("-rw-r----- 1 root zookeeper")


def test_an_anonymous_client_cannot_change_kafka_s_znodes(secured_lab):
    inventory, _ = secured_lab
    cluster = cluster_of(inventory)
    s = cluster.nodes[0].settings
    assert verify.registered_brokers(cluster) == [1, 2, 3]  # SASL, as "kafka"
    client = verify.cluster_zk(cluster)
    try:
        acls, _ = client.get_acls(f"{s['zookeeper_chroot']}/brokers/ids/1")
    finally:
        client.stop()
        client.close()
    assert acls == [ACL(31, Id("sasl", "kafka")), ACL(1, Id("world", "anyone"))]
    anonymous = KazooClient(
        hosts=cluster.zookeeper_connect(), use_ssl=True, ca=str(trusted_ca(s)), timeout=10
    )
    anonymous.start(timeout=15)
    try:
        for change in (
            lambda: anonymous.set(f"{s['zookeeper_chroot']}/brokers/ids/1", b"{}"),
            lambda: anonymous.delete(f"{s['zookeeper_chroot']}/controller"),
            lambda: anonymous.create(f"{s['zookeeper_chroot']}/config/topics/forged", b"{}"),
        ):
            with pytest.raises(KazooException):
                change()
    finally:
        anonymous.stop()
        anonymous.close()


def test_a_safe_restart_by_hand_status_and_a_second_run_that_changes_nothing(secured_lab):
    inventory, pki = secured_lab
    cluster = cluster_of(inventory)
    follower = next(n for n, m in verify.ensemble_modes_reachable(cluster).items() if m != "leader")
    # The roll lock through zookeeper-shell (SASL + TLS) and the gate's srvr over TLS.
    restarted = on_node(follower, "/usr/local/sbin/zookeeper-safe-restart")
    assert "serving as follower" in restarted.stdout
    wait_modes(cluster, ["follower", "follower", "leader"])
    status = run(str(BIN / "kafkaform"), "status", inventory)
    assert "ZooKeeper does not serve" not in status.stdout
    again, _ = secured_deploy(inventory, pki)
    assert changed_operations(again) == []
