"""Alert rules and the scrape configuration, checked by Prometheus's own promtool.

promtool comes with Debian's `prometheus` package (.ci/bootstrap installs it). Outside CI a
machine without it skips these tests; in CI that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kafkaform import monitoring
from kafkaform.cluster import Cluster, resolve_settings
from kafkaform.lab.plan import inventory_group_data
from kafkaform.lab.state import new_state
from kafkaform.templating import render

HERE = Path(__file__).resolve().parent / "promtool"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI: .ci/bootstrap installs Debian's prometheus")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


def run(promtool: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def write_rules(directory: Path, settings: dict) -> list[str]:
    names = []
    for name, text in monitoring.render_rules(settings).items():
        (directory / name).write_text(text)
        names.append(name)
    return names


@pytest.mark.parametrize("data", [{}, inventory_group_data(new_state("/tmp/x"))])
def test_every_rule_file_passes_promtool_check(promtool: str, tmp_path: Path, data: dict):
    names = write_rules(tmp_path, resolve_settings(data))
    assert len(names) == len(monitoring.RULE_FILES)
    out = run(promtool, "check", "rules", *names, cwd=tmp_path)
    assert out.count("SUCCESS") == len(names)


@pytest.mark.parametrize("test_file", sorted(p.name for p in HERE.glob("*.test.yml")))
def test_alert_rule_unit_tests(promtool: str, tmp_path: Path, test_file: str):
    write_rules(tmp_path, resolve_settings({}))
    shutil.copy(HERE / test_file, tmp_path / test_file)
    assert "SUCCESS" in run(promtool, "test", "rules", test_file, cwd=tmp_path)


def test_every_alert_has_a_unit_test_that_fires_it():
    rules = "".join(monitoring.render_rules(resolve_settings({})).values())
    alerts = set(re.findall(r"- alert: (\w+)", rules))
    fired = set()
    for path in HERE.glob("*.test.yml"):
        # An alertname whose exp_alerts list is not empty.
        fired |= set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n", path.read_text()))
    assert alerts == fired
    assert {
        "KafkaBrokerDown",
        "KafkaUnderReplicatedPartitions",
        "KafkaOfflinePartitions",
        "KafkaActiveControllerCount",
        "ZooKeeperQuorumLost",
        "ZooKeeperServerNotServing",
        "HostDiskAlmostFull",
        "JvmHeapNearLimit",
        "KafkaConsumerGroupLagGrowing",
    } <= alerts


def cluster_with_monitoring(monitors: int = 1) -> Cluster:
    hosts = [
        (f"k{i}", {"ssh_hostname": f"10.1.0.{i}", "kafkaid": i, "zookeeper": True, "zkid": i})
        for i in range(1, 4)
    ]
    hosts += [
        (f"mon{i}", {"ssh_hostname": f"10.1.0.{100 + i}", "monitoring": True})
        for i in range(1, monitors + 1)
    ]
    return Cluster.from_hosts(hosts)


def test_scrape_config_from_the_inventory(promtool: str, tmp_path: Path):
    cluster = cluster_with_monitoring(2)
    (tmp_path / "rules").mkdir()  # prometheus.yml names its rules relatively: rules/
    write_rules(tmp_path / "rules", resolve_settings({}))
    text = monitoring.prometheus_config(cluster, cluster.node("mon1"))
    (tmp_path / "prometheus.yml").write_text(text)
    out = run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert "SUCCESS" in out and f"{len(monitoring.RULE_FILES)} rule files found" in out
    jobs = {job.name: job for job in monitoring.scrape_jobs(cluster, cluster.node("mon1"))}
    assert [t.address for t in jobs["node"].targets] == [
        "10.1.0.1:9100",
        "10.1.0.2:9100",
        "10.1.0.3:9100",
        "10.1.0.101:9100",
        "10.1.0.102:9100",
    ]
    assert [t.role for t in jobs["node"].targets][0] == "kafka,zookeeper"
    assert [t.address for t in jobs["kafka"].targets] == [f"10.1.0.{i}:7071" for i in (1, 2, 3)]
    assert [t.address for t in jobs["zookeeper"].targets] == [f"10.1.0.{i}:7072" for i in (1, 2, 3)]
    # Each Prometheus reads its own lag exporter: two would double every lag sum.
    assert [t.address for t in jobs["kafka-lag"].targets] == ["10.1.0.101:9308"]
    assert len(jobs["alertmanager"].targets) == len(jobs["prometheus"].targets) == 2
    assert '- targets: ["10.1.0.2:7071"]\n        labels:\n          cluster: "kafka"\n' in text
    assert '          host: "k2"\n          role: "kafka"\n' in text
    assert monitoring.alertmanager_peers(cluster, cluster.node("mon1")) == ["10.1.0.102:9094"]


def test_alertmanager_config_passes_amtool(tmp_path: Path):
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("amtool is missing in CI: .ci/bootstrap installs prometheus-alertmanager")
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager)")
    s = resolve_settings({})
    text = render(
        "alertmanager/alertmanager.yml.j2",
        route=s["alertmanager_route"],
        receivers=s["alertmanager_receivers"],
    )
    (tmp_path / "am.yml").write_text(text)
    proc = subprocess.run([amtool, "check-config", str(tmp_path / "am.yml")], capture_output=True)
    assert proc.returncode == 0, proc.stdout


def test_a_retired_broker_is_no_kafka_target_but_its_host_still_is():
    """Scale in: the host whose kafkaid was taken away (its broker drained and stopped)."""
    cluster = cluster_with_monitoring(1)
    retired = Cluster.from_hosts(
        (n.name, {**n.data, "kafkaid": None} if n.name == "k3" else n.data) for n in cluster.nodes
    )
    jobs = {job.name: job for job in monitoring.scrape_jobs(retired, retired.node("mon1"))}
    assert [t.address for t in jobs["kafka"].targets] == ["10.1.0.1:7071", "10.1.0.2:7071"]
    assert "10.1.0.3:9100" in [t.address for t in jobs["node"].targets]
