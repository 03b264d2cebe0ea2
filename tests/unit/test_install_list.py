"""The installation list (deploys/tasks/install.py): what each host installs, in one package
transaction, for deploys/kafka.py (by role) and deploys/base_box.py (everything)."""

from __future__ import annotations

import pytest

from deploys.tasks.install import BOX, Wanted, wanted_by
from kafkaform.cluster import Cluster
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, responses
from tests.unit.test_base_box_plan import box_host
from tests.unit.test_observability import MON, with_monitor

H1 = "@fake/kafka-1"
INSTALLERS = ("apt-get -y", "yum install", "dnf install")


def transactions(commands: list[str]) -> list[str]:
    """The package manager's install runs among what a host was sent."""
    return [c for c in commands if any(i in c for i in INSTALLERS) and "install" in c]


@pytest.mark.parametrize(
    ("distro", "java", "installer"),
    [
        ("debian12", "openjdk-17-jre-headless", "apt-get"),
        ("ubuntu2404", "openjdk-17-jre-headless", "apt-get"),
        ("centos7", "java-11-openjdk-headless", "yum install -y"),
        ("rocky9", "java-17-openjdk-headless", "dnf install -y"),
    ],
)
def test_each_host_installs_its_packages_in_one_transaction(distro, java, installer):
    run = run_deploy(with_monitor(distro, 3, monitor_distro="debian12"))
    for name in ("@fake/kafka-1", "@fake/kafka-2", "@fake/kafka-3"):
        (transaction,) = transactions(run.commands[name])
        assert installer in transaction
        for package in (java, "curl", "ca-certificates", "rsyslog", "rsyslog-relp", "logrotate"):
            assert f" {package}" in transaction, package
        # node_exporter: Debian's package; EL gets the release tarball instead.
        assert ("prometheus-node-exporter" in transaction) is (installer == "apt-get")


def test_monitoring_only_host_gets_no_java_no_kafka_no_agent():
    run = run_deploy(with_monitor("debian12"))
    (transaction,) = transactions(run.commands[MON])
    assert "openjdk" not in transaction
    assert "prometheus-alertmanager python3-confluent-kafka" in transaction
    ops = run.ops(MON)
    assert not any(op.startswith(("Install the Kafka distribution", "JMX exporter")) for op in ops)
    assert not any("current" in op or "Roll functions" in op for op in ops)
    assert "kafka_2.13" not in run.executed(MON)
    # The brokers beside it still get all of theirs.
    assert "openjdk-17-jre-headless" in transactions(run.commands[H1])[0]


def test_log_shipping_packages_only_where_logs_go_to_a_sink():
    run = run_deploy(fake_hosts("debian12", 3))  # no monitoring host: no sink
    for name in run.commands:
        (transaction,) = transactions(run.commands[name])
        assert "rsyslog" not in transaction and "logrotate" not in transaction
        assert "prometheus-node-exporter" in transaction
    assert not any(op.startswith("Log shipping") for op in run.ops(H1))


def test_package_transaction_comes_first_and_names_what_it_installs():
    ops = run_deploy(fake_hosts("centos7", 1)).ops(H1)
    step = next(op for op in ops if op.startswith("Install Java"))
    assert step == "Install Java (java-11-openjdk-headless), base packages"
    assert ops.index("Prepare the OS | Point CentOS 7 repositories at the vault") < ops.index(step)
    assert ops.index(step) < ops.index("Prepare the OS | Kernel settings for Kafka and ZooKeeper")


def test_only_missing_packages_are_installed():
    installed = ["curl", "tar", "gzip", "ca-certificates", "openjdk-17-jre-headless"]
    dpkg = {"dpkg -l": [f"ii  {p}  1.0-1 amd64 x" for p in installed]}
    hosts = fake_hosts("debian12", 1, fake_responses=responses("debian12", **dpkg))
    run = run_deploy(hosts)
    (transaction,) = transactions(run.commands[H1])
    assert transaction.endswith("install --no-install-recommends prometheus-node-exporter")
    assert "Install node_exporter" in run.ops(H1)


def test_bake_installs_everything_a_box_holds_in_one_transaction():
    run = run_deploy(box_host("debian12"), deploy="deploys/base_box.py")
    (transaction,) = transactions(run.commands["@fake/kafka-base"])
    for package in ("openjdk-17-jre-headless", "prometheus-node-exporter", "rsyslog-relp"):
        assert package in transaction
    assert "prometheus-alertmanager" not in transaction  # a box is a ZooKeeper/Kafka host
    ops = run.ops("@fake/kafka-base")
    assert "Point current at the configured Kafka version | Make kafka_2.13-3.9.2 current" in ops


def test_wanted_by_roles():
    cluster = Cluster.from_hosts(
        [
            ("kafka-1", {"kafkaid": 1, "zookeeper": True, "zkid": 1}),
            ("monitor", {"monitoring": True}),
        ]
    )
    broker = wanted_by(cluster, cluster.node("kafka-1"))
    monitor = wanted_by(cluster, cluster.node("monitor"))
    assert broker == Wanted(kafka=True, log_shipping=True, monitoring=False)
    assert monitor == Wanted(kafka=False, log_shipping=True, monitoring=True)
    alone = Cluster.from_hosts([("kafka-1", {"kafkaid": 1, "zookeeper": True, "zkid": 1})])
    assert wanted_by(alone, alone.node("kafka-1")).log_shipping is False
    assert BOX.kafka and BOX.log_shipping and BOX.box and not BOX.monitoring
