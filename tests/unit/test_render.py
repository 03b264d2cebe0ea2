"""Rendered zoo.cfg, myid, server.properties and units, from the cluster model."""

from __future__ import annotations

from facts.service import record_command
from kafkaform.cluster import Cluster, heap_for
from kafkaform.templating import render


def cluster(n: int = 3, ensemble: int = 3, **data) -> Cluster:
    hosts = []
    for i in range(1, n + 1):
        host = {"ssh_hostname": f"10.1.0.{i}", "kafkaid": i, **data}
        if i <= ensemble:
            host.update(zookeeper=True, zkid=i)
        hosts.append((f"k{i}", host))
    return Cluster.from_hosts(hosts)


def parse(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_zoo_cfg_lists_the_whole_ensemble():
    c = cluster()
    node = c.node("k2")
    text = render("zookeeper/zoo.cfg.j2", zkid=2, properties=c.zookeeper_properties(node))
    props = parse(text)
    assert props["server.1"] == "10.1.0.1:2888:3888"
    assert props["server.2"] == "10.1.0.2:2888:3888"
    assert props["server.3"] == "10.1.0.3:2888:3888"
    assert props["dataDir"] == "/var/lib/zookeeper/data"
    assert props["dataLogDir"] == "/var/lib/zookeeper/datalog"
    assert props["4lw.commands.whitelist"] == "srvr,mntr,ruok"
    assert props["autopurge.purgeInterval"] == "24"
    assert props["admin.enableServer"] == "false"
    assert "\n\n" not in text  # block tags leave no blank lines


def test_zookeeper_overrides_win():
    c = cluster(zookeeper_properties={"maxClientCnxns": 500})
    assert c.zookeeper_properties(c.node("k1"))["maxClientCnxns"] == "500"


def test_myid_holds_the_zkid():
    assert render("zookeeper/myid.j2", zkid=7) == "7\n"


def test_server_properties_for_three_brokers():
    c = cluster()
    props = parse(
        render("kafka/server.properties.j2", properties=c.broker_properties(c.node("k3")))
    )
    assert props["broker.id"] == "3"
    assert props["zookeeper.connect"] == "10.1.0.1:2181,10.1.0.2:2181,10.1.0.3:2181/kafka"
    assert props["advertised.listeners"] == "PLAINTEXT://10.1.0.3:9092"
    assert props["listeners"] == "PLAINTEXT://0.0.0.0:9092"
    assert props["log.dirs"] == "/var/lib/kafka/data"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["unclean.leader.election.enable"] == "false"


def test_single_broker_replication_fits_one_broker():
    c = cluster(1, 1)
    props = c.broker_properties(c.node("k1"))
    assert props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"


def test_kafka_overrides_and_lists():
    c = cluster(
        kafka_properties={"log.retention.hours": 72, "auto.create.topics.enable": True},
        kafka_data_dirs=["/data/1", "/data/2"],
    )
    props = c.broker_properties(c.node("k1"))
    assert props["log.retention.hours"] == "72"
    assert props["auto.create.topics.enable"] == "true"
    assert props["log.dirs"] == "/data/1,/data/2"


def test_zookeeper_connect_uses_only_the_ensemble():
    c = cluster(5, 3)
    assert c.broker_properties(c.node("k5"))["zookeeper.connect"].count(":2181") == 3


def test_unit_runs_the_jvm_directly_as_the_service_user():
    text = render(
        "common/java-service.service.j2",
        description="Kafka broker 1",
        documentation="https://kafka.apache.org",
        after=["zookeeper.service"],
        run_as="kafka",
        workdir="/var/lib/kafka/data",
        java_bin="/usr/bin/java",
        heap_opts="-Xms1g -Xmx1g",
        jvm_opts=["-XX:+UseG1GC"],
        system_properties=["-Dlog4j.configuration=file:/etc/kafka/log4j.properties"],
        classpath="/opt/kafka/kafka_2.13-3.9.2/libs/*",
        main_class="kafka.Kafka",
        config_file="/etc/kafka/server.properties",
        nofile_limit=100000,
        stop_timeout=300,
        runtime_dir="kafkaform-kafka",
        record_start=record_command("kafka", ("/etc/kafka/server.properties",)),
    )
    assert "User=kafka\n" in text
    assert "LimitNOFILE=100000\n" in text
    assert "Restart=on-failure\n" in text
    assert "TimeoutStopSec=300\n" in text
    # The version's own directory, never the "current" link: a new version reaches a host
    # only when its turn in the roll restarts it.
    assert (
        "-cp '/opt/kafka/kafka_2.13-3.9.2/libs/*' kafka.Kafka /etc/kafka/server.properties" in text
    )
    # Before every start: what this process reads, for the next deploy to compare.
    assert "RuntimeDirectory=kafkaform-kafka\n" in text
    assert (
        'ExecStartPre=/bin/sh -c "cat /etc/kafka/server.properties 2>/dev/null | sha256sum '
        '| cut -c1-64 > /run/kafkaform-kafka/started"\n'
    ) in text


def test_heap_from_memory_is_a_bounded_share():
    assert heap_for("kafka", 8000, None) == "2048m"
    assert heap_for("kafka", 64000, None) == "6144m"
    assert heap_for("kafka", 512, None) == "256m"
    assert heap_for("zookeeper", 8000, None) == "1024m"
    assert heap_for("kafka", 8000, "3g") == "3g"
