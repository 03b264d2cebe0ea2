"""A lab box: the run's bake (conftest.lab_box) exported, a 3-node lab started from it, deployed."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from kafkaform import verify
from kafkaform.boxcatalog import LAB_PROVIDER, sha256_of
from tests.integration.conftest import (
    changed_operations,
    deploy,
    fresh_lab,
    installs,
    on_node,
)


@pytest.fixture(scope="module")
def box_lab(lab_box):
    catalog, _ = lab_box
    cluster = fresh_lab(3, box=catalog)
    started = time.monotonic()
    result = deploy()
    print(f"deploy of 3 lab hosts from the lab box: {time.monotonic() - started:.1f}s")
    return cluster, result


def test_bake_installs_and_then_removes_the_identity(lab_box):
    _, baked = lab_box
    changed = changed_operations(baked)
    assert any("Install Java" in op for op in changed), changed
    assert any("Remove host keys, machine-id" in op for op in changed), changed
    assert not any(op.startswith(("ZooKeeper |", "Kafka broker |")) for op in changed), changed


def test_box_has_no_identity_and_is_in_the_catalog(lab_box, box_lab):
    catalog_path, _ = lab_box
    catalog = json.loads(catalog_path.read_text())
    (entry,) = catalog["versions"]
    (provider,) = entry["providers"]
    assert provider["name"] == LAB_PROVIDER
    box = Path(provider["url"].removeprefix("file://"))
    assert sha256_of(box) == provider["checksum"]
    members = subprocess.run(
        ["tar", "--zstd", "-tvf", str(box)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    names = {line.split()[-1] for line in members}
    assert not [n for n in names if "/etc/ssh/ssh_host_" in n]
    assert not [n for n in names if n.startswith("./var/lib/zookeeper/data/") and "myid" in n]
    assert not [n for n in names if n == "./etc/kafka/server.properties"]
    assert "./etc/kafkaform/box.json" in names  # what the box is, not which host
    machine_id = next(line for line in members if line.endswith(" ./etc/machine-id"))
    assert machine_id.split()[2] == "0"  # size: empty


def test_deploy_from_the_lab_box_installs_nothing(box_lab):
    _, result = box_lab
    assert result["results"]["totals"]["error"] == 0
    assert installs(result) == []


def test_lab_box_hosts_have_their_own_identity(box_lab):
    cluster, _ = box_lab
    seen = {}
    for node in cluster.nodes:
        out = on_node(
            node.name,
            "cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub /var/lib/zookeeper/data/myid",
        ).stdout.split("\n")
        seen[node.name] = (out[0], out[1].split()[1], out[2].strip())
        assert out[2].strip() == str(node.zkid)
    assert len({v[0] for v in seen.values()}) == 3
    assert len({v[1] for v in seen.values()}) == 3


def test_lab_box_cluster_works(box_lab):
    cluster, _ = box_lab
    assert sorted(verify.ensemble_modes(cluster).values()) == ["follower", "follower", "leader"]
    assert verify.registered_brokers(cluster) == [1, 2, 3]
    servers = verify.bootstrap(cluster)
    verify.create_topic(servers, "from-lab-box", partitions=3, replication=3, min_isr=2)
    verify.produce(verify.bootstrap(cluster, ["kafka-1"]), "from-lab-box", "lab box message")
    seen = verify.consume(verify.bootstrap(cluster, ["kafka-3"]), "from-lab-box", "lab box message")
    assert "lab box message" in seen
