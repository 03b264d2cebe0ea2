"""A live cluster refuses what would hurt it, through the real CLI, and nothing changes:
a bake aimed at it (deploys/base_box.py), a kafka_data_dirs change, a zookeeper_data_dir change.
"""

from __future__ import annotations

import pytest

from kafkaform import verify
from tests.integration.conftest import (
    BIN,
    LAB_INVENTORY,
    deploy,
    failing_deploy,
    fresh_lab,
    lab_inventory_with,
    on_node,
    run,
)

ZNODE = "/kafkaform-live-refusals"
TOPIC = "kept"
MESSAGE = "written before the refusals"
# What a refused run must leave exactly as it was, per host.
FILES = (
    "/etc/zookeeper/zoo.cfg",
    "/etc/kafka/server.properties",
    "/var/lib/zookeeper/data/myid",
    "/var/lib/kafka/data/meta.properties",
    "/etc/machine-id",
    "/etc/ssh/ssh_host_ed25519_key.pub",
    "/root/.ssh/authorized_keys",
)


@pytest.fixture(scope="module")
def live_cluster(lab_box):
    cluster = fresh_lab(3, box=lab_box.catalog)
    assert deploy()["results"]["totals"]["error"] == 0
    verify.create_topic(verify.bootstrap(cluster), TOPIC, partitions=3, replication=3, min_isr=2)
    verify.produce(verify.bootstrap(cluster, ["kafka-1"]), TOPIC, MESSAGE)
    assert MESSAGE in verify.consume(verify.bootstrap(cluster, ["kafka-3"]), TOPIC, MESSAGE)
    client = verify.zk_client(cluster.zookeeper_connect())
    try:
        client.ensure_path(ZNODE)
        client.set(ZNODE, b"kept")
    finally:
        client.stop()
        client.close()
    return cluster


def host_state(name: str) -> dict[str, object]:
    files = on_node(name, "sha256sum " + " ".join(FILES)).stdout
    pids = on_node(name, "systemctl show -p MainPID --value zookeeper kafka").stdout.split()
    active = on_node(name, "systemctl is-active zookeeper kafka", check=False).stdout.split()
    partitions = on_node(name, f"ls -d /var/lib/kafka/data/{TOPIC}-*").stdout.split()
    zk_files = on_node(
        name, "ls /var/lib/zookeeper/data/version-2 /var/lib/zookeeper/datalog/version-2"
    )
    return {
        "files": files,
        "pids": pids,
        "active": active,
        "partitions": partitions,
        "zk_files": set(zk_files.stdout.split()),
    }


def snapshot(cluster) -> dict[str, dict[str, object]]:
    return {node.name: host_state(node.name) for node in cluster.nodes}


def assert_nothing_changed(cluster, before: dict[str, dict[str, object]]) -> None:
    after = snapshot(cluster)
    for name, was in before.items():
        now = after[name]
        assert now["active"] == ["active", "active"], (name, now["active"])
        assert now["pids"] == was["pids"], f"{name}: a service was restarted"
        assert now["files"] == was["files"], f"{name}: a file changed"
        assert now["partitions"] == was["partitions"], name
        assert was["zk_files"] <= now["zk_files"], f"{name}: ZooKeeper data went missing"
    client = verify.zk_client(cluster.zookeeper_connect())
    try:
        assert client.get(ZNODE)[0] == b"kept"
    finally:
        client.stop()
        client.close()
    assert MESSAGE in verify.consume(verify.bootstrap(cluster, ["kafka-2"]), TOPIC, MESSAGE)
    assert sorted(verify.ensemble_modes(cluster).values()) == ["follower", "follower", "leader"]


def refused_bake(*options: str) -> str:
    proc = run(
        str(BIN / "pyinfra"), "-y", *options, LAB_INVENTORY, "deploys/base_box.py", check=False
    )
    assert proc.returncode != 0, "the bake of a live cluster was expected to be refused"
    return proc.stdout + proc.stderr


def test_bake_of_a_deployed_cluster_is_refused_and_changes_nothing(live_cluster):
    before = snapshot(live_cluster)
    output = refused_bake()
    assert "refusing the bake (deploys/base_box.py is for fresh machines" in output
    assert "nothing was changed" in output
    for node in live_cluster.nodes:
        assert f"{node.name}: kafkaid, zookeeper: the inventory gives this host a role" in output
        assert f"{node.name}: zookeeper data: myid {node.zkid} in /var/lib/zookeeper/data" in output
        assert f"{node.name}: kafka data: meta.properties of broker {node.kafkaid}" in output
        assert f"{node.name}: kafka service: kafka is here (service active" in output
    assert_nothing_changed(live_cluster, before)


def test_bake_asked_for_explicitly_is_still_refused_by_what_the_hosts_hold(live_cluster):
    # --data base_box=true is how a fresh lab host is baked: it never overrides the evidence.
    before = snapshot(live_cluster)
    output = refused_bake("--data", "base_box=true")
    assert "the inventory gives this host a role" not in output
    assert "kafka-2: zookeeper service: zookeeper is here (service active" in output
    assert_nothing_changed(live_cluster, before)


def test_kafka_data_dirs_change_is_refused_and_changes_nothing(live_cluster, tmp_path):
    before = snapshot(live_cluster)
    inventory = lab_inventory_with(tmp_path, kafka_data_dirs=["/var/lib/kafka/moved"])
    output = failing_deploy(inventory)
    assert "refusing this deploy, nothing was changed" in output
    for node in live_cluster.nodes:
        assert f"{node.name}: kafka_data_dirs: the live log dir /var/lib/kafka/data" in output
    assert "kafka-reassign-partitions.sh" in output
    assert_nothing_changed(live_cluster, before)
    for node in live_cluster.nodes:
        assert on_node(node.name, "test -e /var/lib/kafka/moved", check=False).returncode != 0


def test_zookeeper_data_dir_change_is_refused_and_changes_nothing(live_cluster, tmp_path):
    before = snapshot(live_cluster)
    inventory = lab_inventory_with(tmp_path, zookeeper_data_dir="/var/lib/zookeeper/moved")
    output = failing_deploy(inventory)
    for node in live_cluster.ensemble:
        assert (
            f"{node.name}: zookeeper_data_dir: the live directory /var/lib/zookeeper/data" in output
        )
    assert_nothing_changed(live_cluster, before)
    for node in live_cluster.nodes:
        assert on_node(node.name, "test -e /var/lib/zookeeper/moved", check=False).returncode != 0


def test_a_plain_rerun_passes_the_live_checks(live_cluster):
    before = snapshot(live_cluster)
    result = deploy()
    assert result["results"]["totals"]["error"] == 0
    after = snapshot(live_cluster)
    assert {n: s["files"] for n, s in after.items()} == {n: s["files"] for n, s in before.items()}
