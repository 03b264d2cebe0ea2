"""`kafkaform status`: how what the cluster answered is judged, shown and exited with (the
judgement is pure: kafkaform.status.assess)."""

from __future__ import annotations

import json

import pytest

from kafkaform import cli, status
from kafkaform.cluster import Cluster
from kafkaform.status import GroupLag, Observed, PartitionState

CLUSTER = Cluster.from_hosts(
    [(f"kafka-{i}", {"kafkaid": i, "zookeeper": True, "zkid": i}) for i in (1, 2, 3)]
)
MODES = {"kafka-1": "follower", "kafka-2": "leader", "kafka-3": "follower"}


def partition(n: int, leader: int, isr: tuple[int, ...], min_isr: int = 2) -> PartitionState:
    return PartitionState("orders", n, leader, (1, 2, 3), isr, min_isr)


HEALTHY = Observed(
    zookeeper_modes=MODES,
    registered=[1, 2, 3],
    controller=3,
    partitions=[partition(0, 1, (1, 2, 3)), partition(1, 2, (2, 3, 1)), partition(2, 3, (3, 1, 2))],
    protocol={1: "3.9-IV0", 2: "3.9-IV0", 3: "3.9-IV0"},
    groups=[GroupLag("billing", 2, 5)],
)
# kafka-2 killed: its ZooKeeper and broker gone, its replicas out of every ISR, one partition
# it was the last in-sync replica of is offline.
KAFKA_2_DOWN = Observed(
    zookeeper_modes={"kafka-1": "follower", "kafka-2": None, "kafka-3": "leader"},
    registered=[1, 3],
    controller=3,
    partitions=[partition(0, 1, (1, 3)), partition(1, -1, (2,)), partition(2, 3, (3, 1))],
    protocol={1: "3.9-IV0", 3: "3.9-IV0"},
)


def test_a_healthy_cluster_has_no_problem_and_its_rows_say_who_does_what():
    result = status.assess(CLUSTER, HEALTHY)
    assert result.healthy and result.problems == []
    rows = {r.host: r for r in result.hosts}
    assert [rows[h].zookeeper for h in ("kafka-1", "kafka-2", "kafka-3")] == [
        "follower",
        "leader",
        "follower",
    ]
    assert [r.controller for r in result.hosts] == [False, False, True]
    assert all(r.registered and r.leaders == 1 and r.out_of_sync == 0 for r in result.hosts)
    assert result.partitions == {
        "total": 3,
        "under_replicated": 0,
        "under_min_isr": 0,
        "offline": 0,
    }


def test_a_killed_host_is_flagged_on_its_own_row_and_the_partitions_it_took():
    result = status.assess(CLUSTER, KAFKA_2_DOWN)
    rows = {r.host: r for r in result.hosts}
    assert rows["kafka-2"].zookeeper == "down"
    assert rows["kafka-2"].registered is False
    assert rows["kafka-2"].problems == ["ZooKeeper does not serve", "broker 2 is not registered"]
    assert rows["kafka-1"].problems == [] and rows["kafka-3"].problems == []
    assert result.partitions == {
        "total": 3,
        "under_replicated": 3,
        "under_min_isr": 1,
        "offline": 1,
    }
    assert "Kafka: 1 partitions offline" in result.problems
    assert not result.healthy


def test_a_registered_broker_that_lags_is_flagged():
    seen = Observed(MODES, [1, 2, 3], 1, [partition(0, 1, (1, 2)), partition(1, 1, (1, 2))], {}, [])
    rows = {r.host: r for r in status.assess(CLUSTER, seen).hosts}
    assert rows["kafka-3"].out_of_sync == 2
    assert rows["kafka-3"].problems == ["2 replicas out of sync"]


@pytest.mark.parametrize(
    ("seen", "problem"),
    [
        (Observed({h: "follower" for h in MODES}, [1, 2, 3], 1, []), "ZooKeeper: no leader"),
        (Observed(MODES, None, None, []), "ZooKeeper: could not read the registered brokers"),
        (Observed(MODES, [1, 2, 3], None, []), "Kafka: no active controller"),
        (Observed(MODES, [1, 2, 3], 1, None), "Kafka: no broker answered"),
    ],
)
def test_cluster_wide_problems(seen, problem):
    result = status.assess(CLUSTER, seen)
    assert any(p.startswith(problem) for p in result.problems), result.problems


def test_table_and_json_say_the_same(monkeypatch):
    result = status.assess(CLUSTER, KAFKA_2_DOWN)
    text = status.table(result)
    kafka_2 = next(line for line in text.splitlines() if line.startswith("kafka-2"))
    assert "down" in kafka_2 and "broker 2 is not registered" in kafka_2
    assert "UNHEALTHY:" in text
    data = json.loads(result.to_json())
    assert data["healthy"] is False
    assert data["partitions"]["offline"] == 1
    assert "healthy" == status.table(status.assess(CLUSTER, HEALTHY)).splitlines()[-1]
    assert "  billing  2  5" in status.table(status.assess(CLUSTER, HEALTHY))


@pytest.mark.parametrize(("seen", "code"), [(HEALTHY, 0), (KAFKA_2_DOWN, 1)])
def test_exit_status_gates_on_health(monkeypatch, capsys, tmp_path, seen, code):
    inventory = tmp_path / "inv.py"
    inventory.write_text(
        "hosts = ["
        + ", ".join(
            f"('kafka-{i}', {{'kafkaid': {i}, 'zookeeper': True, 'zkid': {i}}})" for i in (1, 2, 3)
        )
        + "]\n"
    )
    monkeypatch.setattr(status, "observe", lambda cluster, timeout: seen)
    assert cli.main(["status", str(inventory), "--json"]) == code
    assert json.loads(capsys.readouterr().out)["healthy"] is (code == 0)


def test_a_read_that_failed_is_a_problem_of_its_own():
    seen = Observed(MODES, [1, 2, 3], 3, HEALTHY.partitions, errors=["Kafka: consumer groups: x"])
    result = status.assess(CLUSTER, seen)
    assert result.problems == ["Kafka: consumer groups: x"]
    assert result.partitions["total"] == 3


METRICS = """# HELP node_filesystem_avail_bytes Filesystem space available to non-root users.
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 6e+10
node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 1e+11
node_filesystem_avail_bytes{device="/dev/sdb",fstype="xfs",mountpoint="/var/lib/kafka"} 5e+09
node_filesystem_size_bytes{device="/dev/sdb",fstype="xfs",mountpoint="/var/lib/kafka"} 1e+11
node_filesystem_size_bytes{device="/dev/sdc",fstype="xfs",mountpoint="/var/lib/kafka2"} 1e+11
"""


@pytest.mark.parametrize(
    ("paths", "used"),
    [
        (["/var/lib/kafka/data"], 95),  # the longest mountpoint it lies under
        (["/srv/kafka"], 40),  # only the root filesystem
        (["/srv/kafka", "/var/lib/kafka/data"], 95),  # the fullest of them
        (["/var/lib/kafka2x/data"], 40),  # /var/lib/kafka2 is not a prefix of it
        ([], None),
    ],
)
def test_disk_use_of_the_data_dirs_from_node_exporter(paths, used):
    assert status.disk_used_percent(METRICS, paths) == used


def test_a_nearly_full_data_dir_flags_its_host():
    seen = Observed(**{**HEALTHY.__dict__, "disk_used": {"kafka-1": 91, "kafka-2": 40}})
    result = status.assess(CLUSTER, seen)
    assert result.problems == ["kafka-1: data dir disk 91% used"]
    assert "91%" in status.table(result)


def test_kafka_is_asked_for_one_broker_s_configs_per_request(monkeypatch):
    """Kafka refuses a describe_configs naming two brokers (the lab said so)."""
    from types import SimpleNamespace

    from confluent_kafka import admin as kafka_admin

    requests = []

    class Answer:
        def __init__(self, value):
            self.value = value

        def result(self, timeout):
            return self.value

    class FakeAdmin:
        def __init__(self, config):
            pass

        def list_topics(self, timeout):
            part = SimpleNamespace(id=0, leader=1, replicas=[1, 2], isrs=[1, 2])
            return SimpleNamespace(
                topics={"a": SimpleNamespace(partitions={0: part})}, brokers={1: None, 2: None}
            )

        def describe_configs(self, resources, request_timeout):
            requests.append([(r.restype, r.name) for r in resources])
            return {
                r: Answer(
                    {"min.insync.replicas": Answer("2")}
                    if r.restype == kafka_admin.ConfigResource.Type.TOPIC
                    else {"inter.broker.protocol.version": Answer("3.9-IV0")}
                )
                for r in resources
            }

    monkeypatch.setattr(kafka_admin, "AdminClient", FakeAdmin)
    partitions, protocol = status.read_kafka("b:9092", 1.0)
    broker = kafka_admin.ConfigResource.Type.BROKER
    assert all(sum(kind == broker for kind, _ in r) <= 1 for r in requests)
    assert protocol == {1: "3.9-IV0", 2: "3.9-IV0"}
    assert partitions == [PartitionState("a", 0, 1, (1, 2), (1, 2), 2)]
