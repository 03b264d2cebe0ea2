"""The safe restart's reading of partition health (templates/kafka/partitions.awk), run with
the host's awk on TopicCommand output in Kafka 3.9's format."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kafkaform.templating import template_path

AWK = shutil.which("awk")


def topic(name: str, configs: str = "") -> str:
    return f"Topic: {name}\tTopicId: x\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: {configs}"


def partition(name: str, number: int, leader: str, replicas: str, isr: str) -> str:
    return (
        f"\tTopic: {name}\tPartition: {number}\tLeader: {leader}\tReplicas: {replicas}\t"
        f"Isr: {isr}\tElr: N/A\tLastKnownElr: N/A"
    )


def gate(lines: list[str], me: int, mode: str = "gate", default_min: int = 2):
    proc = subprocess.run(
        [AWK, "-F\t", "-v", f"mode={mode}", "-v", f"me={me}", "-v", f"dflt={default_min}"]
        + ["-f", template_path("kafka/partitions.awk")],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.splitlines(), proc.stderr


pytestmark = pytest.mark.skipif(AWK is None, reason="no awk")

HEALTHY = [topic("orders", "min.insync.replicas=2"), partition("orders", 0, "1", "1,2,3", "1,2,3")]


def test_a_healthy_cluster_lets_any_broker_restart():
    for me in (1, 2, 3):
        assert gate(HEALTHY, me) == ([], "")


def test_an_offline_partition_blocks_every_restart():
    lines = [topic("orders"), partition("orders", 0, "none", "1,2,3", "")]
    assert gate(lines, 1)[0] == ["orders-0 is offline (no leader)"]


def test_an_under_min_isr_partition_blocks_every_restart():
    lines = [topic("orders", "min.insync.replicas=2"), partition("orders", 0, "1", "1,2,3", "1")]
    for me in (1, 2, 3):
        assert gate(lines, me)[0] == ["orders-0 is under min.insync.replicas (1 in sync, min 2)"]


def test_a_partition_at_min_isr_blocks_only_the_brokers_in_its_isr():
    lines = [topic("orders", "min.insync.replicas=2"), partition("orders", 0, "1", "1,2,3", "1,2")]
    assert gate(lines, 1)[0] == ["orders-0 would drop below min.insync.replicas (isr 1,2, min 2)"]
    assert gate(lines, 2)[0] != []
    assert gate(lines, 3)[0] == []  # not in the ISR: restarting it takes nothing away


def test_the_brokers_default_min_isr_applies_when_the_topic_sets_none():
    lines = [topic("logs"), partition("logs", 0, "1", "1,2,3", "1,2")]
    assert gate(lines, 1, default_min=2)[0] != []
    assert gate(lines, 1, default_min=1)[0] == []


def test_partitions_that_no_restart_keeps_writable_only_warn():
    lines = [topic("scratch", "min.insync.replicas=1"), partition("scratch", 0, "2", "2", "2")]
    out, err = gate(lines, 2)
    assert out == []
    assert "scratch-0 has 1 replica(s) and min.insync.replicas=1" in err


def test_sync_mode_lists_what_is_not_fully_replicated():
    lines = [
        topic("orders"),
        partition("orders", 0, "1", "1,2,3", "1,2,3"),
        partition("orders", 1, "2", "1,2,3", "2,3"),
        partition("orders", 2, "none", "1,2,3", ""),
    ]
    assert gate(lines, 1, mode="sync")[0] == [
        "orders-1 has 2 of 3 replicas in sync",
        "orders-2 has 0 of 3 replicas in sync",
    ]
    assert gate(HEALTHY, 1, mode="sync")[0] == []


def test_tool_noise_is_ignored():
    lines = ["[2026-11-27 07:00:00,000] WARN something (org.apache.kafka)", *HEALTHY]
    assert gate(lines, 1) == ([], "")
