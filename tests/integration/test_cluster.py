"""(ii)-(iv) Three nodes, each ZooKeeper and Kafka, deployed through the real CLI."""

from __future__ import annotations

import sys

import pytest

from kafkaform import verify
from tests.integration.conftest import (
    REPO,
    changed_operations,
    deploy,
    lab_inventory_with,
    plain_lab,
    run,
)


@pytest.fixture(scope="module")
def cluster(lab_allowed):
    return plain_lab(3)  # from bare hosts; test_host_tools and test_status share it


def test_one_leader_two_followers(cluster):
    modes = verify.ensemble_modes(cluster)
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes


def test_every_broker_registered(cluster):
    assert verify.registered_brokers(cluster) == [1, 2, 3]


def test_topic_rf3_minisr2_message_crosses_nodes(cluster):
    verify.create_topic(verify.bootstrap(cluster), "orders", partitions=3, replication=3, min_isr=2)
    layout = verify.topic_layout(verify.bootstrap(cluster, ["kafka-2"]), "orders")
    assert layout == {"replicas": [3, 3, 3], "isr": [3, 3, 3], "min.insync.replicas": 2}
    verify.produce(verify.bootstrap(cluster, ["kafka-1"]), "orders", "order 42 via kafka-1")
    seen = verify.consume(verify.bootstrap(cluster, ["kafka-3"]), "orders", "order 42 via kafka-1")
    assert "order 42 via kafka-1" in seen


def test_second_run_changes_nothing(cluster):
    result = deploy()
    assert result["results"]["totals"]["error"] == 0
    assert changed_operations(result) == []


def test_config_change_restarts_brokers_one_at_a_time_without_losing_writes(cluster, tmp_path):
    servers = verify.bootstrap(cluster)
    verify.create_topic(servers, "rolling", partitions=3, replication=3, min_isr=2)
    inventory = lab_inventory_with(tmp_path, kafka_properties={"log.retention.hours": 100})
    with verify.BackgroundProducer(servers, "rolling") as producer:
        result = deploy(inventory)
    changed = changed_operations(result)
    restarted = [
        host
        for op in result["results"]["operations"]
        if op["name"].startswith("Kafka broker | Restart kafka safely")
        for host in op["success"]
    ]
    assert sorted(restarted) == ["kafka-1", "kafka-2", "kafka-3"], changed
    # The active controller restarts last, in a step of its own.
    assert any(
        op.startswith("Kafka broker | Restart kafka safely (the controller last)") for op in changed
    )
    assert not any("zookeeper" in op.lower() for op in changed), changed
    assert producer.errors == []
    assert len(producer.acked) == len(producer.sent) > 0
    read = verify.consume_all(servers, "rolling", len(producer.sent))
    assert sorted(read) == sorted(producer.sent)
    # The data written before the restart is still there.
    assert "order 42 via kafka-1" in verify.consume(servers, "orders", "order 42 via kafka-1")
    # Back to the lab's own settings: a second rolling restart, and the cluster as it was.
    assert changed_operations(deploy())


def test_testinfra_verification_suite_passes(cluster):
    proc = run(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(REPO / "tests/verify"),
        "--inventory",
        "inventories/lab.py",
    )
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary
