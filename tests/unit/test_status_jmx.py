"""The Kafka version `kafkaform status` shows comes from a broker's JMX exporter: the rule in
templates/jmx/kafka.yml.j2, run by the real agent jar in a JVM that registers Kafka's own
app-info MBean (AppInfoParser, as a broker does at start), is read back by
status_reads.kafka_version. For the configured Kafka version and the one upgrades start from.

Offline when the agent and the distributions are cached; in CI a missing one is fetched or
built (never a skip)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from kafkaform import artifacts, settings, status_reads
from kafkaform.templating import render
from tests.unit.test_host_tools_jars import IN_CI, distribution  # noqa: F401  (fixture)

BROKER = """
import org.apache.kafka.common.utils.AppInfoParser;

public class Broker {
    public static void main(String[] args) throws Exception {
        // What KafkaServer does at start: kafka.server:type=app-info,id=<broker.id>
        AppInfoParser.registerAppInfo("kafka.server", args[0], null, System.currentTimeMillis());
        Thread.sleep(60_000);
    }
}
"""


@pytest.fixture(scope="module")
def agent() -> Path:
    version = settings.JMX_EXPORTER_VERSION
    jar = artifacts.mirror_root() / "maven2" / artifacts.maven_path(*artifacts.JMX_AGENT, version)
    if jar.is_file():
        return jar
    if not IN_CI:
        pytest.skip(f"no cached JMX exporter {version}: run `kafkaform artifacts build`")
    return artifacts.fetch_jmx_agent(version, progress=lambda message: None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
            if status_reads.KAFKA_VERSION_METRIC in text or time.monotonic() > deadline:
                return text
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_the_exporter_rule_publishes_the_version_the_broker_runs(
    distribution,  # noqa: F811
    agent,
    tmp_path,
):
    rules = tmp_path / "jmx-exporter.yml"
    rules.write_text(render("jmx/kafka.yml.j2", broker_id=3, topic_metrics=False))
    source = tmp_path / "Broker.java"
    source.write_text(BROKER)
    port = free_port()
    jvm = subprocess.Popen(
        [
            settings.JAVA_BIN,
            f"-javaagent:{agent}=127.0.0.1:{port}:{rules}",
            "-cp",
            f"{distribution}/libs/*",
            str(source),
            "3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        text = scrape(port, time.monotonic() + 30)
    finally:
        jvm.kill()
        _, errors = jvm.communicate()
    version = distribution.name.rsplit("-", 1)[-1]
    assert status_reads.kafka_version(text) == version, (text, errors.decode()[-2000:])
    # One series, whatever the broker id: the host label comes from where it is scraped.
    assert text.count(f"{status_reads.KAFKA_VERSION_METRIC}{{") == 1
