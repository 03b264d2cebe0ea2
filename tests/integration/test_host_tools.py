"""Kafka's command-line tools on the lab's broker hosts, as an operator runs them over
`kafkaform lab ssh`: seed 000's check (produce on kafka-1, consume on kafka-3) and every admin
tool reaching the cluster with no connection option, through /etc/kafka/client.properties."""

from __future__ import annotations

import subprocess

from kafkaform import programs, settings
from tests.integration.conftest import kafkaform
from tests.integration.test_cluster import cluster  # noqa: F401  (fixture: a deployed 3-node lab)

TOPIC = "t"
MESSAGE = "message from kafka-1"


def lab_ssh(node: str, command: str) -> subprocess.CompletedProcess:
    return kafkaform("lab", "ssh", node, command)


def test_every_tool_on_each_broker_s_path_runs_the_deployed_version(cluster):  # noqa: F811
    names = " ".join(tool.name for tool in programs.TOOLS)
    for node in cluster.brokers:
        found = lab_ssh(node.name, f"for t in {names}; do command -v $t; done").stdout.split()
        assert found == [f"/usr/local/bin/{tool.name}" for tool in programs.TOOLS], node.name
        version = lab_ssh(node.name, "kafka-topics --version").stdout.strip()
        assert version.startswith(settings.KAFKA_VERSION), (node.name, version)


def test_seed_000_check_produce_on_kafka_1_consume_on_kafka_3(cluster):  # noqa: F811
    lab_ssh(
        "kafka-1",
        f"kafka-topics --create --topic {TOPIC} --partitions 3 --replication-factor 3",
    )
    lab_ssh("kafka-1", f'echo "{MESSAGE}" | kafka-console-producer --topic {TOPIC}')
    consumed = lab_ssh(
        "kafka-3",
        f"kafka-console-consumer --topic {TOPIC} --from-beginning --max-messages 1"
        " --timeout-ms 60000",
    )
    assert consumed.stdout.strip() == MESSAGE


def test_admin_tools_reach_the_cluster_through_the_client_config(cluster):  # noqa: F811
    # Runs after the seed check (pytest keeps the file's order): topic t exists.
    described = lab_ssh("kafka-2", f"kafka-topics --describe --topic {TOPIC}").stdout
    assert "ReplicationFactor: 3" in described
    lab_ssh(
        "kafka-2",
        f"kafka-console-consumer --topic {TOPIC} --from-beginning --max-messages 1"
        " --timeout-ms 60000 --group tools-check",
    )
    assert "tools-check" in lab_ssh("kafka-2", "kafka-consumer-groups --list").stdout.split()
    lab_ssh(
        "kafka-3",
        f"kafka-configs --alter --entity-type topics --entity-name {TOPIC}"
        " --add-config retention.ms=3600000",
    )
    configs = lab_ssh(
        "kafka-1", f"kafka-configs --describe --entity-type topics --entity-name {TOPIC}"
    ).stdout
    assert "retention.ms=3600000" in configs
    log_dirs = lab_ssh("kafka-1", f"kafka-log-dirs --describe --topic-list {TOPIC}").stdout
    assert f'"partition":"{TOPIC}-0"' in log_dirs
    lab_ssh("kafka-2", "kafka-leader-election --election-type preferred --all-topic-partitions")
    assert (
        "No partition reassignments"
        in lab_ssh("kafka-3", "kafka-reassign-partitions --list").stdout
    )
    brokers = lab_ssh("kafka-3", "zookeeper-shell ls /brokers/ids").stdout
    assert "[1, 2, 3]" in brokers
