"""Kafka's command-line tools on every broker host: on the PATH, and reaching the cluster
with no connection option (through the client configuration they default to)."""

from __future__ import annotations

from kafkaform import programs


def test_every_tool_is_on_the_path(broker_node, host_of):
    host = host_of(broker_node)
    for tool in programs.TOOLS:
        assert host.exists(tool.name), tool.name


def test_client_config_names_the_cluster_s_brokers(broker_node, host_of, cluster):
    host = host_of(broker_node)
    config = host.file(f"{broker_node.settings['kafka_config_dir']}/client.properties")
    lines = config.content_string.splitlines()
    assert f"bootstrap.servers={cluster.bootstrap_servers()}" in lines


def test_tools_run_the_deployed_version_and_reach_the_cluster(broker_node, host_of):
    host = host_of(broker_node)
    version = host.check_output("kafka-topics --version").split()[0]
    assert version == broker_node.settings["kafka_version"]
    host.run_expect([0], "kafka-topics --list")
    ids = host.check_output("zookeeper-shell ls /brokers/ids 2>/dev/null | tail -n 1")
    assert str(broker_node.kafkaid) in ids.strip("[]").replace(" ", "").split(",")
