"""(i) One node running ZooKeeper and Kafka: a message goes in and comes back out."""

from __future__ import annotations

import pytest

from kafkaform import verify
from tests.integration.conftest import deploy, fresh_lab


@pytest.fixture(scope="module")
def single(lab_allowed):
    cluster = fresh_lab(1)
    result = deploy()
    return cluster, result


def test_deploy_succeeds_on_one_node(single):
    _, result = single
    assert result["results"]["totals"]["error"] == 0


def test_standalone_zookeeper(single):
    cluster, _ = single
    assert verify.ensemble_modes(cluster) == {"kafka-1": "standalone"}


def test_produce_and_consume_on_one_node(single):
    cluster, _ = single
    servers = verify.bootstrap(cluster)
    verify.create_topic(servers, "dev-single", partitions=1, replication=1, min_isr=1)
    verify.produce(servers, "dev-single", "message from kafka-1")
    assert "message from kafka-1" in verify.consume(servers, "dev-single", "message from kafka-1")
