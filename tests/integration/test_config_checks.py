"""The candidate checks of server.properties and zoo.cfg, with Kafka's real parser (from the
distribution assembled from Maven Central) and the host tools, on this machine."""

from __future__ import annotations

import subprocess
import tarfile

import pytest

from deploys.tasks.kafka import kafka_config_check
from deploys.tasks.zookeeper import ZOO_CFG_CHECK
from kafkaform import artifacts, settings
from kafkaform.cluster import Cluster
from kafkaform.ensemble_config import static_properties
from kafkaform.templating import render


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> str:
    tarball = artifacts.build_distribution(settings.KAFKA_VERSION, settings.SCALA_VERSION)
    root = tmp_path_factory.mktemp("dist")
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="data")
    name = artifacts.distribution_name(settings.KAFKA_VERSION, settings.SCALA_VERSION)
    return str(root / name)


def cluster(**data) -> Cluster:
    return Cluster.from_hosts([("k1", {"zookeeper": True, "zkid": 1, "kafkaid": 1, **data})])


def passes(check: str, path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", check.replace("{candidate}", str(path))], capture_output=True, text=True
    )


def test_kafka_parser_accepts_what_kafkaform_renders(install, tmp_path):
    c = cluster()
    path = tmp_path / "server.properties"
    path.write_text(
        render("kafka/server.properties.j2", properties=c.broker_properties(c.nodes[0]))
    )
    proc = passes(kafka_config_check(install), path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"log.retention.hours": "seventy"}, "Not a number of type INT"),
        ({"num.network.threads": 0}, "Value must be at least 1"),
        ({"compression.type": "zip"}, "compression.type"),
    ],
)
def test_kafka_parser_refuses_values_kafka_would_refuse_at_start(install, tmp_path, bad, reason):
    c = cluster(kafka_properties=bad)
    path = tmp_path / "server.properties"
    path.write_text(
        render("kafka/server.properties.j2", properties=c.broker_properties(c.nodes[0]))
    )
    proc = passes(kafka_config_check(install), path)
    assert proc.returncode != 0 and reason in proc.stdout, proc.stdout


def test_zoo_cfg_check(tmp_path):
    c = cluster()
    good = tmp_path / "zoo.cfg"
    good.write_text(
        render("zookeeper/zoo.cfg.j2", zkid=1, properties=static_properties(c, c.nodes[0]))
    )
    assert passes(ZOO_CFG_CHECK, good).returncode == 0
    twice = tmp_path / "twice.cfg"
    twice.write_text(good.read_text() + "tickTime=3000\n")
    proc = passes(ZOO_CFG_CHECK, twice)
    assert proc.returncode == 1 and "sets tickTime a second time" in proc.stdout
    # The membership is ZooKeeper's own (its dynamic files): never in kafkaform's zoo.cfg.
    for line in ("server.1=10.0.0.11:2888:3888", "dynamicConfigFile=/x"):
        listed = tmp_path / "listed.cfg"
        listed.write_text(good.read_text() + line + "\n")
        proc = passes(ZOO_CFG_CHECK, listed)
        assert proc.returncode == 1 and "membership is in the dynamic files" in proc.stdout
