"""(i) One node running ZooKeeper and Kafka: a message goes in and comes back out."""

from __future__ import annotations

import pytest

from kafkaform import artifacts, verify
from kafkaform.settings import KAFKA_VERSION, SCALA_VERSION
from tests.integration.conftest import (
    changed_operations,
    deploy,
    failing_deploy,
    fresh_lab,
    lab_inventory_with,
    on_node,
)


@pytest.fixture(scope="module")
def single(lab_allowed):
    cluster = fresh_lab(1)
    result = deploy()
    return cluster, result


def test_deploy_succeeds_on_one_node(single):
    _, result = single
    assert result["results"]["totals"]["error"] == 0


def test_single_zookeeper_leads_a_quorum_of_one(single):
    # standaloneEnabled=false: a single server can be reconfigured (1 -> 3) without a restart.
    cluster, _ = single
    assert verify.ensemble_modes(cluster) == {"kafka-1": "leader"}


def test_produce_and_consume_on_one_node(single):
    cluster, _ = single
    servers = verify.bootstrap(cluster)
    verify.create_topic(servers, "dev-single", partitions=1, replication=1, min_isr=1)
    verify.produce(servers, "dev-single", "message from kafka-1")
    assert "message from kafka-1" in verify.consume(servers, "dev-single", "message from kafka-1")


def test_tarball_uploaded_from_the_control_machine(single, tmp_path):
    """Air-gapped sites: kafka_local_file is uploaded, checked and unpacked like a download."""
    cluster, _ = single
    tarball = artifacts.build_distribution(KAFKA_VERSION, SCALA_VERSION)
    inventory = lab_inventory_with(
        tmp_path, kafka_local_file=str(tarball), kafka_install_root="/opt/kafka-uploaded"
    )
    changed = changed_operations(deploy(inventory))
    assert any(op.startswith("Install the Kafka distribution | Upload") for op in changed)
    # New binaries: both services restarted onto them, and the data is still there.
    assert any("Restart kafka safely" in op for op in changed), changed
    units = on_node("kafka-1", "systemctl cat kafka zookeeper").stdout
    # The units name the version's own directory; "current" follows once both run it.
    assert units.count(f"/opt/kafka-uploaded/kafka_2.13-{KAFKA_VERSION}/libs/*") == 2
    link = on_node("kafka-1", "readlink /opt/kafka-uploaded/current").stdout.strip()
    assert link == f"/opt/kafka-uploaded/kafka_2.13-{KAFKA_VERSION}"
    servers = verify.bootstrap(cluster)
    assert "message from kafka-1" in verify.consume(servers, "dev-single", "message from kafka-1")


def test_tarball_with_a_wrong_checksum_is_refused(single, tmp_path):
    cluster, _ = single
    inventory = lab_inventory_with(
        tmp_path, kafka_sha512="ab" * 64, kafka_install_root="/opt/kafka-tampered"
    )
    output = failing_deploy(inventory)
    assert "does not match" in output
    # Nothing was unpacked and the tarball was deleted; the running broker is untouched.
    leftovers = on_node("kafka-1", "ls -A /opt/kafka-tampered /var/cache/kafkaform").stdout
    assert "kafka_2.13" not in leftovers
    servers = verify.bootstrap(cluster)
    verify.produce(servers, "dev-single", "still serving")
    assert "still serving" in verify.consume(servers, "dev-single", "still serving")
