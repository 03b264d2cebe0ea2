"""bench/throughput.py's offline parts: reading ProducerPerformance, the stock brokers' config
and command, the comparison line. The benchmark itself runs on demand on the lab."""

from __future__ import annotations

import fnmatch
import shlex
import subprocess

import pytest

from bench import throughput
from kafkaform.cluster import Cluster
from tests.unit.fakes import fake_hosts

# As Kafka 3.9's ProducerPerformance prints it: progress lines, then the summary.
OUTPUT = """\
149683 records sent, 29930.6 records/sec (29.23 MB/sec), 650.3 ms avg latency, \
1021.0 ms max latency.
300000 records sent, 31035.687409 records/sec (30.31 MB/sec), 712.45 ms avg latency, \
1467.00 ms max latency, 702 ms 50th, 1211 ms 95th, 1349 ms 99th, 1446 ms 99.9th.
"""
CMDLINE = [
    "/usr/bin/java",
    "-Xmx512m",
    "-Xms512m",
    "-XX:+UseG1GC",
    "-Dkafka.logs.dir=/var/log/kafka",
    "-cp",
    "/opt/kafka/kafka_2.13-3.9.2/libs/*",
    "kafka.Kafka",
    "/etc/kafka/server.properties",
]


@pytest.fixture
def cluster() -> Cluster:
    return Cluster.from_hosts(fake_hosts("debian12", 3))


def test_the_summary_line_is_read_not_the_progress_lines():
    figures = throughput.parse_summary(OUTPUT)
    assert figures["records"] == 300000
    assert figures["records_per_sec"] == pytest.approx(31035.687409)
    assert (figures["p50_ms"], figures["p99_ms"], figures["p999_ms"]) == (702, 1349, 1446)
    assert figures["avg_ms"] == 712.45 and figures["max_ms"] == 1467


def test_output_without_a_summary_is_an_error_that_shows_it():
    with pytest.raises(throughput.BenchError, match="TimeoutException"):
        throughput.parse_summary("org.apache.kafka.common.errors.TimeoutException: ...\n")


def test_stock_brokers_get_only_who_and_where_they_are(cluster):
    node = cluster.brokers[1]
    props = throughput.stock_properties(cluster, node)
    assert props == {
        "broker.id": "2",
        "listeners": "PLAINTEXT://0.0.0.0:9092",
        "advertised.listeners": f"PLAINTEXT://{node.address}:9092",
        "log.dirs": throughput.STOCK_LOG_DIR,
        "zookeeper.connect": cluster.zookeeper_connect(throughput.STOCK_CHROOT),
    }
    deployed = cluster.broker_properties(node)
    assert deployed["zookeeper.connect"] != props["zookeeper.connect"], "its own chroot"
    assert deployed["log.dirs"] != props["log.dirs"], "its own log directory"


def test_the_deployed_brokers_java_heap_and_jars_are_reused():
    assert throughput.deployed_java(CMDLINE) == (
        "/usr/bin/java",
        "512m",
        "/opt/kafka/kafka_2.13-3.9.2/libs/*",
    )
    with pytest.raises(throughput.BenchError):
        throughput.deployed_java(["/usr/bin/java", "-cp", "x/libs/*", "kafka.Kafka"])


def test_the_stock_start_script_is_valid_shell_with_kafkas_own_jvm_flags(cluster):
    script = throughput.stock_start_script(
        cluster, cluster.brokers[0], *throughput.deployed_java(CMDLINE)
    )
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    start = script.splitlines()[-1]
    argv = shlex.split(start)
    assert argv[:3] == ["systemd-run", "--unit", throughput.STOCK_UNIT]
    # Unloaded when it stops, and stopped by a pattern that matches it: a second run can start.
    assert "--collect" in argv[: argv.index("/usr/bin/java")]
    assert fnmatch.fnmatch(throughput.STOCK_UNIT, throughput.STOCK_UNITS)
    assert f"systemctl stop '{throughput.STOCK_UNITS}'" in script
    java = argv[argv.index("/usr/bin/java") :]
    assert java[1:3] == ["-Xmx512m", "-Xms512m"]
    assert tuple(java[3 : 3 + len(throughput.STOCK_JVM_FLAGS)]) == throughput.STOCK_JVM_FLAGS
    assert java[-3:] == [
        "/opt/kafka/kafka_2.13-3.9.2/libs/*",
        "kafka.Kafka",
        f"{throughput.STOCK_LOG_DIR}.properties",
    ]
    assert "broker.id=1\n" in script and "num.partitions" not in script


def test_the_producer_sends_with_acks_all_and_no_throttle():
    argv = shlex.split(
        throughput.perf_command("/usr/bin/java", "/opt/k/libs/*", "a:9092,b:9092", "t", 1000, 512)
    )
    assert (
        throughput.PERF_TOOL in argv
        and "-Dlog4j.configuration=file:/opt/k/config/tools-log4j.properties" in argv
    )
    tail = argv[argv.index(throughput.PERF_TOOL) + 1 :]
    assert tail == [
        "--topic", "t", "--num-records", "1000", "--record-size", "512", "--throughput", "-1",
        "--producer-props", "bootstrap.servers=a:9092,b:9092", "acks=all",
    ]  # fmt: skip


def test_the_comparison_uses_medians_per_configuration():
    runs = [
        {"config": "deployed", "records_per_sec": 100.0, "p99_ms": 50},
        {"config": "stock", "records_per_sec": 90.0, "p99_ms": 70},
        {"config": "stock", "records_per_sec": 110.0, "p99_ms": 90},
        {"config": "deployed", "records_per_sec": 120.0, "p99_ms": 40},
        {"config": "deployed", "records_per_sec": 300.0, "p99_ms": 10},
    ]
    assert throughput.comparison(runs) == {
        "bench": "throughput_summary",
        "deployed_records_per_sec": 120.0,
        "stock_records_per_sec": 100.0,
        "deployed_over_stock": 1.2,
        "deployed_p99_ms": 40.0,
        "stock_p99_ms": 80.0,
    }
