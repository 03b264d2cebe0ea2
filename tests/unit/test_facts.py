"""Parsing of kafkaform's own facts from what hosts print."""

from __future__ import annotations

from facts.host import ContainerVirtualization
from facts.kafka import KafkaInstallations
from facts.zookeeper import ZooKeeperMode


def test_kafka_installations_reads_versions_and_current():
    output = [
        "version /opt/kafka/kafka_2.13-3.9.2/libs/kafka_2.13-3.9.2.jar aaa",
        "version /opt/kafka/kafka_2.13-3.9.2/libs/kafka_2.13-3.9.2-sources.jar aaa",
        "version /opt/kafka/kafka_2.13-3.8.1/libs/kafka_2.13-3.8.1.jar bbb",
        "current /opt/kafka/kafka_2.13-3.8.1",
    ]
    assert KafkaInstallations().process(output) == {
        "versions": {"3.9.2": "aaa", "3.8.1": "bbb"},
        "current": "3.8.1",
    }


def test_kafka_installations_on_a_bare_host():
    assert KafkaInstallations().process(["current "]) == {"versions": {}, "current": None}


def test_kafka_installation_command_trusts_only_marked_trees():
    command = KafkaInstallations().command(install_root="/opt/kafka")
    assert "/opt/kafka/*/.kafkaform-sha512" in command


def test_zookeeper_mode():
    srvr = ["Zookeeper version: 3.8.4-9316c2a7", "Latency min/avg/max: 0/0.1/3", "Mode: follower"]
    assert ZooKeeperMode().process(srvr) == "follower"
    assert ZooKeeperMode().process([]) is None


def test_container_virtualization():
    assert ContainerVirtualization().process(["systemd-nspawn"]) == "systemd-nspawn"
    assert ContainerVirtualization().process(["none"]) is None
    assert ContainerVirtualization().process([]) is None
