"""What every host of a deployed cluster must look like."""

from __future__ import annotations

from kafkaform import programs
from kafkaform.zookeeper_security import zookeeper_client_port


def java_users(host) -> set[str]:
    return {p.user for p in host.process.filter(comm="java")}


def runs_main_class(host, user: str, program: programs.Service) -> bool:
    return any(
        f" {program.main_class} " in p.args for p in host.process.filter(comm="java", user=user)
    )


def test_zookeeper_service(zookeeper_node, host_of):
    host = host_of(zookeeper_node)
    s = zookeeper_node.settings
    service = host.service("zookeeper")
    assert service.is_enabled and service.is_running
    assert runs_main_class(host, s["zookeeper_user"], programs.ZOOKEEPER)
    # A secured server listens on its TLS client port only (kafkaform.zookeeper_security).
    assert host.socket(f"tcp://0.0.0.0:{zookeeper_client_port(s)}").is_listening
    log = programs.ZOOKEEPER.log_file(programs.ZOOKEEPER.root_appender)
    assert host.file(f"{s['zookeeper_log_dir']}/{log}").exists
    assert host.file(f"{s['zookeeper_data_dir']}/myid").content_string.strip() == str(
        zookeeper_node.zkid
    )


def test_zookeeper_files_belong_to_its_user(zookeeper_node, host_of):
    host = host_of(zookeeper_node)
    s = zookeeper_node.settings
    assert host.user(s["zookeeper_user"]).shell.endswith("nologin")
    for path in (s["zookeeper_data_dir"], s["zookeeper_datalog_dir"]):
        assert host.file(path).user == s["zookeeper_user"]
    config = host.file(f"{s['zookeeper_config_dir']}/zoo.cfg")
    assert config.group == s["zookeeper_user"] and config.mode == 0o640


def test_kafka_service(broker_node, host_of):
    host = host_of(broker_node)
    s = broker_node.settings
    service = host.service("kafka")
    assert service.is_enabled and service.is_running
    assert runs_main_class(host, s["kafka_user"], programs.BROKER)
    assert host.socket(f"tcp://0.0.0.0:{s['kafka_port']}").is_listening
    properties = host.file(f"{s['kafka_config_dir']}/server.properties")
    assert f"broker.id={broker_node.kafkaid}" in properties.content_string.splitlines()
    assert properties.mode == 0o640 and properties.group == s["kafka_user"]


def test_kafka_files_belong_to_its_user(broker_node, host_of):
    host = host_of(broker_node)
    s = broker_node.settings
    assert host.user(s["kafka_user"]).shell.endswith("nologin")
    for path in s["kafka_data_dirs"]:
        assert host.file(path).user == s["kafka_user"]
    log = programs.BROKER.log_file(programs.BROKER.root_appender)
    assert host.file(f"{s['kafka_log_dir']}/{log}").exists


def test_a_jvm_and_kafka_only_where_zookeeper_or_kafka_runs(any_node, host_of):
    host = host_of(any_node)
    runs_java = any_node.zookeeper or any_node.kafkaid is not None
    assert bool(java_users(host)) is runs_java
    assert host.file(any_node.settings["kafka_install_root"]).exists is runs_java


def test_kernel_settings_and_limits_in_place(any_node, host_of):
    host = host_of(any_node)
    sysctl = host.file("/etc/sysctl.d/60-kafkaform.conf").content_string
    assert "vm.swappiness = 1" in sysctl
    assert host.file("/etc/security/limits.d/60-kafkaform.conf").exists


def runs_what_is_on_disk(host, service: str) -> None:
    """The service's process was started with the files on disk now: the digest its unit
    recorded at start (ExecStartPre) equals the same digest taken now. A difference means a
    change that no restart has applied yet; the next deploy run restarts it safely."""
    unit = host.file(f"/etc/systemd/system/{service}.service").content_string
    record = next(line for line in unit.splitlines() if line.startswith("ExecStartPre="))
    pipeline, _, started = record.split('-c "', 1)[1].rstrip('"').rpartition(" > ")
    now = host.check_output(pipeline)
    assert now == host.file(started).content_string.strip(), (
        f"{service} runs other files than those on disk: run the deploy again to restart it"
    )


def test_zookeeper_runs_the_files_on_disk(zookeeper_node, host_of):
    runs_what_is_on_disk(host_of(zookeeper_node), "zookeeper")


def test_kafka_runs_the_files_on_disk(broker_node, host_of):
    runs_what_is_on_disk(host_of(broker_node), "kafka")
