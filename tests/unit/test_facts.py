"""Parsing of kafkaform's own facts from what hosts print."""

from __future__ import annotations

from facts.host import ContainerVirtualization
from facts.kafka import KafkaInstallations
from facts.zookeeper import ZooKeeperMode


def test_kafka_installations_reads_distributions_and_current():
    output = [
        "installed kafka_2.13-3.9.2 aaa",
        "installed kafka_2.12-3.9.2 ccc",
        "installed kafka_2.13-3.8.1 bbb",
        "current /opt/kafka/kafka_2.13-3.8.1",
    ]
    assert KafkaInstallations().process(output) == {
        "distributions": {
            "kafka_2.13-3.9.2": "aaa",
            "kafka_2.12-3.9.2": "ccc",
            "kafka_2.13-3.8.1": "bbb",
        },
        "current": "kafka_2.13-3.8.1",
    }


def test_kafka_installations_on_a_bare_host():
    assert KafkaInstallations().process(["current "]) == {"distributions": {}, "current": None}


def test_current_pointing_at_no_installed_distribution_is_none():
    output = ["installed kafka_2.12-3.9.2 aaa", "current /opt/kafka/kafka_2.13-3.9.2"]
    assert KafkaInstallations().process(output)["current"] is None


def test_kafka_installations_command_names_each_marked_tree(tmp_path):
    import subprocess

    for name, marked in (("kafka_2.13-3.9.2", True), ("kafka_2.12-3.9.2", True), ("half", False)):
        (tmp_path / name / "libs").mkdir(parents=True)
        if marked:
            (tmp_path / name / ".kafkaform-sha512").write_text(f"sha-{name}\n")
    (tmp_path / "current").symlink_to(tmp_path / "kafka_2.12-3.9.2")
    fact = KafkaInstallations()
    out = subprocess.run(
        ["sh", "-c", fact.command(install_root=str(tmp_path))], capture_output=True, text=True
    ).stdout
    assert fact.process(out.splitlines()) == {
        "distributions": {
            "kafka_2.12-3.9.2": "sha-kafka_2.12-3.9.2",
            "kafka_2.13-3.9.2": "sha-kafka_2.13-3.9.2",
        },
        "current": "kafka_2.12-3.9.2",
    }


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
