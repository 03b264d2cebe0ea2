"""kafkaform.programs is the one home of main classes and log file names: the deploy's units,
log4j files, scripts and config check, and the log shipping all take them from there."""

from __future__ import annotations

import pytest

from kafkaform import monitoring, programs
from kafkaform.cluster import Cluster
from tests.unit.test_safe_restart_scripts import scripts  # noqa: F401  (fixture)

KAFKA_LOG_DIR = "/var/log/kafka"
ZOOKEEPER_LOG_DIR = "/var/log/zookeeper"


@pytest.mark.parametrize(
    ("unit", "program"),
    [
        ("/etc/systemd/system/kafka.service", programs.BROKER),
        ("/etc/systemd/system/zookeeper.service", programs.ZOOKEEPER),
    ],
)
def test_units_start_the_programs_main_class_and_gc_log(scripts, unit, program):  # noqa: F811
    text = scripts[unit]
    assert f"-cp '/opt/kafka/kafka_2.13-3.9.2/libs/*' {program.main_class} " in text
    assert f"/{program.gc_log}:" in text


@pytest.mark.parametrize(
    ("config", "program", "log_dir"),
    [
        ("/etc/kafka/log4j.properties", programs.BROKER, KAFKA_LOG_DIR),
        ("/etc/zookeeper/log4j.properties", programs.ZOOKEEPER, ZOOKEEPER_LOG_DIR),
    ],
)
def test_log4j_writes_the_programs_log_files(scripts, config, program, log_dir):  # noqa: F811
    text = scripts[config]
    assert f"log4j.rootLogger=INFO, {program.root_appender}\n" in text
    for appender, name in program.log_files.items():
        assert f"log4j.appender.{appender}.File={log_dir}/{name}\n" in text


def test_scripts_run_the_tools_by_their_main_class(scripts):  # noqa: F811
    assert f"' {programs.TOPIC_COMMAND} " in scripts["/usr/local/sbin/kafka-safe-restart"]
    roll = scripts["/usr/local/lib/kafkaform/roll.sh"]
    assert roll.count(f"' {programs.ZOOKEEPER_SHELL} -server") == 2
    assert roll.count(programs.TOOL_JVM_OPTIONS) == 2


def test_shipped_logs_are_files_the_services_write():
    cluster = Cluster.from_hosts([("kafka-1", {"kafkaid": 1, "zookeeper": True, "zkid": 1})])
    shipped = {f.path: f.source for f in monitoring.log_files(cluster.node("kafka-1"))}
    assert shipped == {
        f"{KAFKA_LOG_DIR}/server.log": "kafka-server",
        f"{KAFKA_LOG_DIR}/controller.log": "kafka-controller",
        f"{KAFKA_LOG_DIR}/state-change.log": "kafka-state-change",
        f"{ZOOKEEPER_LOG_DIR}/zookeeper.log": "zookeeper",
    }
    for program in (programs.BROKER, programs.ZOOKEEPER):
        assert set(program.shipped) <= set(program.log_files)
        assert program.root_appender in program.log_files
