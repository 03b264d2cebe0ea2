"""`kafkaform status`: how what the cluster answered is judged, shown and exited with (the
judgement is pure: kafkaform.status.assess)."""

from __future__ import annotations

import json
import time

import pytest

from kafkaform import cli, status, status_reads, verify
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
def test_exit_status_gates_on_health(monkeypatch, capsys, caplog, tmp_path, seen, code):
    inventory = tmp_path / "inv.py"
    inventory.write_text(
        "hosts = (["
        + ", ".join(
            f"('kafka-{i}', {{'kafkaid': {i}, 'zookeeper': True, 'zkid': {i}}})" for i in (1, 2, 3)
        )
        # A setting that cannot take effect (no monitoring host): validate's warning to say.
        + "], {'alert_for': {'broker_down': '2m'}})\n"
    )
    monkeypatch.setattr(status_reads, "observe", lambda cluster, timeout: seen)
    assert cli.main(["status", str(inventory), "--json"]) == code
    out, err = capsys.readouterr()
    assert json.loads(out)["healthy"] is (code == 0)
    assert err == "" and not [r for r in caplog.records if "alert_for" in r.getMessage()]


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
    assert status_reads.disk_used_percent(METRICS, paths) == used


def test_a_nearly_full_data_dir_flags_its_host():
    seen = Observed(**{**HEALTHY.__dict__, "disk_used": {"kafka-1": 91, "kafka-2": 40}})
    result = status.assess(CLUSTER, seen)
    assert result.problems == ["kafka-1: data dir disk 91% used"]
    assert "91%" in status.table(result)


class Answer:
    def __init__(self, value):
        self.value = value

    def result(self, timeout):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def fake_admin(monkeypatch, silent: tuple[str, ...] = ()) -> tuple[list, list]:
    """An AdminClient for a topic "a" on brokers 1 and 2; the ``silent`` brokers' configs
    time out. Returns the configs it was made with and the describe_configs requests."""
    from types import SimpleNamespace

    from confluent_kafka import admin as kafka_admin

    requests, configs = [], []

    class FakeAdmin:
        def __init__(self, config):
            configs.append(config)

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
                    else TimeoutError("Local: Timed out")
                    if r.name in silent
                    else {"inter.broker.protocol.version": Answer("3.9-IV0")}
                )
                for r in resources
            }

    monkeypatch.setattr(kafka_admin, "AdminClient", FakeAdmin)
    return configs, requests


def test_kafka_is_asked_for_one_broker_s_configs_per_request(monkeypatch):
    """Kafka refuses a describe_configs naming two brokers (the lab said so)."""
    from confluent_kafka import admin as kafka_admin

    configs, requests = fake_admin(monkeypatch)
    partitions, protocol, errors = status_reads.read_kafka("b:9092", 1.0)
    broker = kafka_admin.ConfigResource.Type.BROKER
    assert all(sum(kind == broker for kind, _ in r) <= 1 for r in requests)
    assert protocol == {1: "3.9-IV0", 2: "3.9-IV0"} and errors == []
    assert partitions == [PartitionState("a", 0, 1, (1, 2), (1, 2), 2)]
    assert configs == [{"bootstrap.servers": "b:9092", "log_level": 5}]  # no info lines


def test_a_broker_that_does_not_tell_its_configs_costs_its_protocol_not_the_partitions(
    monkeypatch,
):
    """Right after `lab kill kafka-2` the broker is still in the metadata for ~20 s (the lab
    showed "Kafka: partitions: ... Timed out" and no partitions at all)."""
    fake_admin(monkeypatch, silent=("2",))
    partitions, protocol, errors = status_reads.read_kafka("b:9092", 1.0)
    assert partitions == [PartitionState("a", 0, 1, (1, 2), (1, 2), 2)]
    assert protocol == {1: "3.9-IV0"}
    assert errors == ["Kafka: broker 2 did not tell its configs: Local: Timed out"]


# --- versions: what each service runs, and an upgrade under way --------------------------------

VERSIONS = {"kafka-1": "3.9.2", "kafka-2": "3.9.2", "kafka-3": "3.9.2"}
ZK_VERSIONS = {"kafka-1": "3.8.4", "kafka-2": "3.8.4", "kafka-3": "3.8.4"}


def seen_with(**changes) -> Observed:
    return Observed(
        **{
            **HEALTHY.__dict__,
            "kafka_versions": VERSIONS,
            "zookeeper_versions": ZK_VERSIONS,
            **changes,
        }
    )


def test_each_row_shows_the_versions_its_services_run():
    result = status.assess(CLUSTER, seen_with())
    rows = {r.host: r for r in result.hosts}
    assert (rows["kafka-2"].version, rows["kafka-2"].zookeeper_version) == ("3.9.2", "3.8.4")
    assert rows["kafka-2"].protocol == "3.9-IV0"
    # One version everywhere, at its own protocol, the inventory's: nothing to say.
    assert result.notes == [] and not result.upgrade_under_way and result.healthy
    header, kafka_1 = status.table(result).splitlines()[:2]
    assert header.split()[:8] == [
        "HOST",
        "ZOOKEEPER",
        "ZK-VERSION",
        "BROKER",
        "REGISTERED",
        "CONTROLLER",
        "VERSION",
        "PROTOCOL",
    ]
    assert kafka_1.split()[:7] == ["kafka-1", "follower", "3.8.4", "1", "yes", "3.9.2", "3.9-IV0"]


def test_brokers_on_different_versions_are_an_upgrade_under_way_not_a_problem():
    """Phase 1, first broker restarted: kafka-1 on 3.9.2 with 3.8 pinned, the others still
    on 3.8.1 at their default 3.8-IV0: one protocol written two ways, not a difference."""
    seen = seen_with(
        kafka_versions={"kafka-1": "3.9.2", "kafka-2": "3.8.1", "kafka-3": "3.8.1"},
        protocol={1: "3.8", 2: "3.8-IV0", 3: "3.8-IV0"},
    )
    result = status.assess(CLUSTER, seen)
    assert result.healthy and result.upgrade_under_way
    assert result.notes == [
        "Kafka: brokers run different versions (3.8.1 on kafka-2, kafka-3; 3.9.2 on kafka-1)",
        "an upgrade (or a rollback) is under way: run the deploy to finish it",
    ]
    text = status.table(result)
    assert "notes:\n  Kafka: brokers run different versions" in text
    assert text.splitlines()[-1] == "healthy"
    data = json.loads(result.to_json())
    assert data["upgrade_under_way"] is True and data["healthy"] is True
    assert [h["version"] for h in data["hosts"]] == ["3.9.2", "3.8.1", "3.8.1"]


def test_brokers_speaking_different_protocols_are_an_upgrade_under_way():
    """Phase 2, first broker restarted: every broker on 3.9.2, kafka-1 unpinned (3.9-IV0)."""
    seen = seen_with(protocol={1: "3.9-IV0", 2: "3.8", 3: "3.8"})
    result = status.assess(CLUSTER, seen)
    assert result.notes[0] == (
        "Kafka: brokers speak different inter.broker.protocol.version "
        "(3.8 on kafka-2, kafka-3; 3.9-IV0 on kafka-1)"
    )
    assert result.upgrade_under_way and result.healthy


def test_zookeeper_servers_on_different_versions_are_noted():
    seen = seen_with(zookeeper_versions={**ZK_VERSIONS, "kafka-3": "3.8.3"})
    result = status.assess(CLUSTER, seen)
    assert result.notes[0] == (
        "ZooKeeper: servers run different versions (3.8.3 on kafka-3; 3.8.4 on kafka-1, kafka-2)"
    )
    assert result.upgrade_under_way and result.healthy


def test_a_protocol_held_below_the_running_version_says_phase_2_is_to_run():
    seen = seen_with(protocol={1: "3.8", 2: "3.8", 3: "3.8"})
    result = status.assess(CLUSTER, seen)
    assert len(result.notes) == 1 and "upgrade phase 2" in result.notes[0]
    assert "speaks protocol 3.8" in result.notes[0] and result.upgrade_under_way
    # The operator's own pin in kafka_properties is deliberate: not an upgrade to finish.
    pinned = Cluster.from_hosts(
        (n.name, {**n.data, "kafka_properties": {"inter.broker.protocol.version": "3.8"}})
        for n in CLUSTER.nodes
    )
    assert status.assess(pinned, seen).notes == []


def test_brokers_behind_the_inventory_s_version_are_noted():
    older = Cluster.from_hosts(
        (n.name, {**n.data, "kafka_version": "3.9.1"}) for n in CLUSTER.nodes
    )
    result = status.assess(older, seen_with())
    assert not result.upgrade_under_way  # asked for, not started
    assert result.notes == [
        "Kafka: the inventory's kafka_version is 3.9.1, the brokers run 3.9.2: run the deploy "
        "to roll it out"
    ]


def test_versions_not_read_are_shown_as_unknown_and_say_nothing():
    result = status.assess(CLUSTER, seen_with(kafka_versions={"kafka-1": "3.9.2"}))
    assert [r.version for r in result.hosts] == ["3.9.2", None, None]
    assert result.notes == [] and result.healthy


# --- the partitions behind the counts ---------------------------------------------------------


def test_json_lists_the_unhealthy_partitions_so_scripts_can_act():
    data = json.loads(status.assess(CLUSTER, KAFKA_2_DOWN).to_json())
    listed = data["unhealthy_partitions"]
    assert [(p["topic"], p["partition"]) for p in listed["offline"]] == [("orders", 1)]
    assert [(p["topic"], p["partition"]) for p in listed["under_min_isr"]] == [("orders", 1)]
    assert [p["partition"] for p in listed["under_replicated"]] == [0, 1, 2]
    assert listed["offline"][0] == {
        "topic": "orders",
        "partition": 1,
        "leader": -1,
        "replicas": [1, 2, 3],
        "isr": [2],
        "min_isr": 2,
    }
    # The counts are the lengths of the lists.
    assert all(data["partitions"][kind] == len(found) for kind, found in listed.items())
    healthy = json.loads(status.assess(CLUSTER, HEALTHY).to_json())["unhealthy_partitions"]
    assert healthy == {"offline": [], "under_min_isr": [], "under_replicated": []}


def test_the_table_names_the_partitions_up_to_a_limit():
    many = [partition(n, 1, (1,)) for n in range(status.LISTED_IN_TABLE + 3)]
    text = status.table(status.assess(CLUSTER, Observed(MODES, [1, 2, 3], 1, many)))
    line = next(x for x in text.splitlines() if x.startswith("  under replicated: "))
    assert line.startswith("  under replicated: orders-0, orders-1, ")
    assert line.endswith("orders-9 (and 3 more: --json lists all)")
    assert "  offline:" not in text
    down = status.table(status.assess(CLUSTER, KAFKA_2_DOWN))
    assert "  offline: orders-1\n" in down


# --- reading the versions ---------------------------------------------------------------------

JMX = """# TYPE kafka_server_app_info_version gauge
kafka_server_app_info_version{version="3.9.2"} 1.0
kafka_server_kafkaserver_brokerstate 3.0
"""


@pytest.mark.parametrize(
    ("text", "version"),
    [
        (JMX, "3.9.2"),
        ('kafka_server_app_info_version{host="a",version="3.8.1"} 1.0\n', "3.8.1"),
        ("kafka_server_kafkaserver_brokerstate 3.0\n", None),  # rules without the app-info rule
        ('x_kafka_server_app_info_version{version="1.0"} 1.0\n', None),
    ],
)
def test_the_broker_s_version_from_its_jmx_exporter(text, version):
    assert status_reads.kafka_version(text) == version


@pytest.mark.parametrize(
    ("srvr", "version"),
    [
        ("3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, built on 2024-02-12 22:16 UTC", "3.8.4"),
        ("3.9.3, built on 2024-10-17", "3.9.3"),
        (None, None),
        ("unknown", None),
    ],
)
def test_the_zookeeper_version_from_srvr(srvr, version):
    assert status_reads.zookeeper_version(srvr) == version


def test_srvr_reads_every_field_of_a_real_socket_answer():
    import socket
    import threading

    answer = (
        b"Zookeeper version: 3.8.4-9316c2a7, built on 2024-02-12 22:16 UTC\n"
        b"Latency min/avg/max: 0/0.0/0\nZxid: 0x0\nMode: leader\nNode count: 5\n"
    )
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    asked = []

    def serve():
        conn, _ = server.accept()
        with conn:
            asked.append(conn.recv(4))
            conn.sendall(answer)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        fields = verify.srvr("127.0.0.1", port, timeout=5)
    finally:
        thread.join(5)
        server.close()
    assert asked == [b"srvr"]
    assert fields is not None and fields["Mode"] == "leader"
    assert fields["Zookeeper version"].startswith("3.8.4-9316c2a7, built on")
    assert fields["Latency min/avg/max"] == "0/0.0/0"
    assert verify.srvr("127.0.0.1", port, timeout=1) is None  # nobody listens any more


# --- observe: what is asked, and at once ------------------------------------------------------


def test_observe_asks_every_host_at_once_and_puts_each_answer_on_its_host(monkeypatch):
    cluster = Cluster.from_hosts(
        [
            ("zk-1", {"zookeeper": True, "zkid": 1, "ssh_hostname": "10.0.0.1"}),
            ("kafka-1", {"kafkaid": 1, "ssh_hostname": "10.0.0.2"}),
            ("kafka-2", {"kafkaid": 2, "ssh_hostname": "10.0.0.3"}),
            ("monitor", {"monitoring": True, "ssh_hostname": "10.0.0.4"}),
        ]
    )
    delay = 0.3
    asked = []

    def srvr(address, port, timeout, tls=None):
        time.sleep(delay)
        return {"Mode": "standalone", "Zookeeper version": "3.8.4-abc, built on x"}

    def metrics(node, port, timeout):
        asked.append((node.name, port))
        time.sleep(delay)
        if node.name == "kafka-2":
            return None  # gone
        if port == 7071:
            return JMX
        return METRICS

    monkeypatch.setattr(verify, "srvr", srvr)
    monkeypatch.setattr(status_reads, "metrics", metrics)
    monkeypatch.setattr(status_reads, "read_zookeeper", lambda c, t: ([1], 1, None))
    monkeypatch.setattr(status_reads, "read_kafka", lambda s, t: ([], {1: "3.9-IV0"}, []))
    monkeypatch.setattr(status_reads, "read_groups", lambda s, t: [])
    started = time.monotonic()
    seen = status_reads.observe(cluster, timeout=1)
    took = time.monotonic() - started
    # zk-1's node_exporter, kafka-1 and kafka-2's node_exporter and JMX exporter, srvr: 6 reads.
    assert took < 3 * delay, took
    assert sorted(asked) == [
        ("kafka-1", 7071),
        ("kafka-1", 9100),
        ("kafka-2", 7071),
        ("kafka-2", 9100),
        ("zk-1", 9100),
    ]
    assert seen.zookeeper_modes == {"zk-1": "standalone"}
    assert seen.zookeeper_versions == {"zk-1": "3.8.4"}
    assert seen.kafka_versions == {"kafka-1": "3.9.2"}
    # zk-1's data dirs are under /var/lib/zookeeper: the root filesystem in METRICS.
    assert seen.disk_used == {"zk-1": 40, "kafka-1": 95}


def test_a_zookeeper_host_s_disk_is_its_data_dirs():
    node = Cluster.from_hosts([("zk-1", {"zookeeper": True, "zkid": 1})]).nodes[0]
    assert status_reads.data_dirs(node) == ["/var/lib/zookeeper/data", "/var/lib/zookeeper/datalog"]
    seen = Observed(**{**HEALTHY.__dict__, "disk_used": {"kafka-3": 93}})
    assert status.assess(CLUSTER, seen).problems == ["kafka-3: data dir disk 93% used"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (None, "cannot load the inventory: no inventory file"),
        ("hosts = [(\n", "cannot load the inventory"),
        (
            "hosts = [('kafka-1', {'kafkaid': 1, 'zookeeper': True, 'zkid': 1}),"
            " ('kafka-2', {'kafkaid': 1})]\n",
            "kafkaid",
        ),
    ],
)
def test_an_inventory_that_cannot_be_judged_exits_2_and_asks_nothing(
    monkeypatch, capsys, tmp_path, text, said
):
    inventory = tmp_path / "inv.py"
    if text is not None:
        inventory.write_text(text)
    monkeypatch.setattr(status_reads, "observe", lambda cluster, timeout: pytest.fail("asked"))
    assert cli.main(["status", str(inventory)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and said in err and "Traceback" not in err


def test_a_pending_zookeeper_membership_change_and_a_serving_non_member_are_reported():
    from dataclasses import replace

    committed = {1: "a", 2: "b", 3: "c"}
    assert status.assess(CLUSTER, replace(HEALTHY, zookeeper_members=committed)).problems == []
    problems = status.assess(CLUSTER, replace(HEALTHY, zookeeper_members={1: "a", 2: "b"})).problems
    assert problems == [
        "ZooKeeper: membership change pending: committed [1, 2], inventory [1, 2, 3] "
        "(deploy to finish it)",
        "kafka-3: ZooKeeper server 3 serves but is no member",
    ]
