"""Kafka's command-line tools on broker hosts (deploys/tasks/host_tools.py): which hosts get
them, and what each launcher does when run, against fake jars and a fake java that prints
the command line it was given."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from deploys.tasks.host_tools import launcher_text, launcher_variables
from kafkaform import programs
from kafkaform.cluster import Cluster
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts
from tests.unit.test_safe_restart_scripts import scripts  # noqa: F401  (fixture)

TOOLS = {tool.name: tool for tool in programs.TOOLS}
CONFLUENT_NAMES = {
    "kafka-topics",
    "kafka-console-producer",
    "kafka-console-consumer",
    "kafka-consumer-groups",
    "kafka-configs",
    "kafka-reassign-partitions",
    "kafka-leader-election",
    "kafka-log-dirs",
    "zookeeper-shell",
}
CLUSTER = Cluster.from_hosts(
    [
        (
            f"kafka-{i}",
            {"ssh_hostname": f"10.0.0.{10 + i}", "kafkaid": i, "zookeeper": True, "zkid": i},
        )
        for i in (1, 2, 3)
    ]
)
BOOTSTRAP = "10.0.0.11:9092,10.0.0.12:9092,10.0.0.13:9092"


def test_the_issue_s_tools_are_all_there_under_confluent_s_names():
    assert CONFLUENT_NAMES <= set(TOOLS)
    assert len(TOOLS) == len(programs.TOOLS)  # one launcher per name


def test_every_broker_host_gets_every_launcher_and_the_client_config(scripts):  # noqa: F811
    assert scripts["/etc/kafka/client.properties"].endswith(f"\nbootstrap.servers={BOOTSTRAP}\n")
    for tool in programs.TOOLS:
        text = scripts[f"/usr/local/bin/{tool.name}"]
        subprocess.run(["bash", "-n"], input=text, text=True, check=True)
        assert f"Managed by kafkaform: {tool.name}," in text


def test_launchers_are_executable_and_only_on_broker_hosts():
    hosts = fake_hosts("debian12", 4, ensemble=3)
    zookeeper_only = dict(hosts[0][1])
    del zookeeper_only["kafkaid"]
    hosts[0] = (hosts[0][0], zookeeper_only)
    run = run_deploy(hosts)
    step = "Kafka's command-line tools | "
    for tool in programs.TOOLS:
        assert f"{step}Launcher /usr/local/bin/{tool.name}" in run.ops("@fake/kafka-2")
        assert f"chmod 755 /usr/local/bin/{tool.name}" in run.commands["@fake/kafka-2"]
    # Written with the broker's files: its safe restart reads it from the first start on.
    client = "Kafka broker | Client configuration of the command-line tools"
    assert client in run.ops("@fake/kafka-2")
    assert not [op for op in run.ops("@fake/kafka-1") if op.startswith(step) or op == client]


# --- The launchers at work ------------------------------------------------------------------


def fake_distribution(root: Path, classes: list[str]) -> Path:
    """A distribution directory whose one jar holds ``classes`` (as class files)."""
    (root / "libs").mkdir(parents=True)
    (root / "config").mkdir()
    with zipfile.ZipFile(root / "libs" / "kafka-tools-9.9.9.jar", "w") as jar:
        for name in classes:
            jar.writestr(name.replace(".", "/") + ".class", b"\xca\xfe\xba\xbe")
    return root


@pytest.fixture
def host(tmp_path):
    """A launcher directory, a distribution with every tool's newest class, a client config,
    and a java that prints its arguments one per line."""
    java = tmp_path / "java"
    java.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    java.chmod(0o755)
    config = tmp_path / "client.properties"
    config.write_text(f"# a comment\nbootstrap.servers = {BOOTSTRAP}\n")
    home = fake_distribution(tmp_path / "current", [t.classes[0] for t in programs.TOOLS])
    return write_launchers(
        tmp_path, kafka_home=str(home), java_bin=str(java), client_config=str(config)
    )


def write_launchers(directory: Path, **variables: str) -> Path:
    """Every launcher as kafka-1 of CLUSTER gets it, with ``variables`` changed, in
    ``directory``."""
    variables = {**launcher_variables(CLUSTER, CLUSTER.node("kafka-1")), **variables}
    for tool in programs.TOOLS:
        launcher = directory / tool.name
        launcher.write_text(launcher_text(tool, variables))
        launcher.chmod(0o755)
    return directory


def run_tool(host: Path, name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(host / name), *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        check=False,
    )


def java_argv(host: Path, name: str, *args: str, **env: str) -> list[str]:
    proc = run_tool(host, name, *args, **env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def tool_args(argv: list[str], main_class: str) -> list[str]:
    """What the tool's main method gets: the arguments after its class."""
    return argv[argv.index(main_class) + 1 :]


def test_runs_the_newest_class_with_tools_log4j_small_heap_and_current_s_jars(host):
    argv = java_argv(host, "kafka-topics", "--list")
    assert argv[:3] == ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    assert f"-Dlog4j.configuration=file:{host}/current/config/tools-log4j.properties" in argv
    assert argv[argv.index("-cp") + 1] == f"{host}/current/libs/*"
    assert tool_args(argv, programs.TOPIC_COMMAND) == [
        "--bootstrap-server",
        BOOTSTRAP,
        "--command-config",
        str(host / "client.properties"),
        "--list",
    ]


@pytest.mark.parametrize("tool", [t for t in programs.TOOLS if len(t.classes) > 1])
def test_older_distribution_runs_the_older_class(host, tmp_path, tool):
    old = fake_distribution(tmp_path / "old", list(tool.classes[1:]))
    argv = java_argv(host, tool.name, "--version", KAFKA_HOME=str(old))
    assert tool.classes[1] in argv
    assert tool.classes[0] not in argv


def test_no_class_of_the_tool_in_the_jars_is_an_error_naming_them(host, tmp_path):
    empty = fake_distribution(tmp_path / "empty", [])
    proc = run_tool(host, "kafka-topics", "--list", KAFKA_HOME=str(empty))
    assert proc.returncode == 1
    assert f"{empty}/libs holds none of {', '.join(TOOLS['kafka-topics'].classes)}" in proc.stderr


@pytest.mark.parametrize(
    ("name", "config_option"),
    [
        ("kafka-console-producer", "--producer.config"),
        ("kafka-console-consumer", "--consumer.config"),
        ("kafka-consumer-groups", "--command-config"),
        ("kafka-configs", "--command-config"),
        ("kafka-reassign-partitions", "--command-config"),
        ("kafka-leader-election", "--admin.config"),
        ("kafka-log-dirs", "--command-config"),
    ],
)
def test_each_tool_gets_the_client_config_under_its_own_option(host, name, config_option):
    tool = TOOLS[name]
    args = tool_args(java_argv(host, name, "--topic", "t"), tool.classes[0])
    assert args == [
        "--bootstrap-server",
        BOOTSTRAP,
        config_option,
        str(host / "client.properties"),
        "--topic",
        "t",
    ]


CONFIG = "<client config>"  # stands for the host's client config in the cases below


@pytest.mark.parametrize(
    ("given", "defaults"),
    [
        (["--bootstrap-server", "b:9092"], ["--command-config", CONFIG]),
        (["--bootstrap-server=b:9092"], ["--command-config", CONFIG]),
        (["--bootstrap-controller", "c:9093"], ["--command-config", CONFIG]),
        (["--command-config", "/my.properties"], ["--bootstrap-server", BOOTSTRAP]),
        (["--command-config=/my.properties"], ["--bootstrap-server", BOOTSTRAP]),
        (["--zookeeper", "z:2181"], []),  # ZooKeeper: neither servers nor client config
    ],
)
def test_what_the_operator_gives_is_never_given_twice(host, given, defaults):
    args = tool_args(
        java_argv(host, "kafka-configs", "--describe", *given), "kafka.admin.ConfigCommand"
    )
    config = str(host / "client.properties")
    assert args == [config if a == CONFIG else a for a in defaults] + ["--describe", *given]


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["-h"]])
def test_help_version_and_no_arguments_reach_the_tool_as_given(host, args):
    argv = java_argv(host, "kafka-topics", *args)
    assert tool_args(argv, programs.TOPIC_COMMAND) == args


def test_perf_test_reads_the_servers_from_the_config_and_gets_a_benchmark_jvm(host):
    tool = TOOLS["kafka-producer-perf-test"]
    argv = java_argv(host, tool.name, "--topic", "t")
    assert "-XX:TieredStopAtLevel=1" not in argv
    assert argv[0] == "-Xmx512m"
    assert tool_args(argv, tool.classes[0]) == [
        "--producer.config",
        str(host / "client.properties"),
        "--topic",
        "t",
    ]


def test_heap_and_extra_options_from_the_environment_as_in_apache_s_scripts(host):
    argv = java_argv(
        host, "kafka-topics", "--list", KAFKA_HEAP_OPTS="-Xmx1g -Xms1g", KAFKA_OPTS="-Da=b -Dc=d"
    )
    assert argv[:2] == ["-Xmx1g", "-Xms1g"]
    assert "-Xmx256m" not in argv
    assert {"-Da=b", "-Dc=d"} <= set(argv[: argv.index("-cp")])


def test_no_bootstrap_servers_anywhere_is_an_error_saying_what_to_give(host):
    (host / "client.properties").write_text("# nothing\n")
    proc = run_tool(host, "kafka-topics", "--list")
    assert proc.returncode == 1
    assert "no bootstrap.servers in" in proc.stderr and "give --bootstrap-server" in proc.stderr
    (host / "client.properties").unlink()
    proc = run_tool(host, "kafka-topics", "--list")
    assert proc.returncode == 1 and "give --bootstrap-server" in proc.stderr
    # Given on the command line, a missing client config is no obstacle.
    argv = java_argv(host, "kafka-topics", "--list", "--bootstrap-server", "b:9092")
    assert tool_args(argv, programs.TOPIC_COMMAND) == ["--list", "--bootstrap-server", "b:9092"]


ENSEMBLE = "10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181/kafka"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["-server", ENSEMBLE]),
        (["ls", "/brokers/ids"], ["-server", ENSEMBLE, "ls", "/brokers/ids"]),
        (["kafka-2:2181", "get", "/a"], ["-server", "kafka-2:2181", "get", "/a"]),
        (
            ["-zk-tls-config-file", "/etc/zk-tls.properties", "ls", "/"],
            ["-server", ENSEMBLE, "-zk-tls-config-file", "/etc/zk-tls.properties", "ls", "/"],
        ),
    ],
)
def test_zookeeper_shell_connects_to_the_ensemble_under_kafka_s_chroot(host, args, expected):
    argv = java_argv(host, "zookeeper-shell", *args)
    assert argv[0] == "-Xmx64m"
    assert tool_args(argv, programs.KAFKA_ZOOKEEPER_SHELL) == expected
