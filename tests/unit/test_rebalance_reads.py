"""What rebalance reads (ZooKeeper's topic and broker znodes, LogDirsCommand's sizes) and the
reassignment commands it shares with the topics step; the deploy's refusal of a broker host
taken out of the inventory while its broker still holds replicas."""

from __future__ import annotations

import json

import pytest
from pyinfra.api.exceptions import PyinfraError

from kafkaform.partition_reads import Layout, LayoutError, parse_registration, parse_topic
from kafkaform.reassignment import (
    REASSIGNMENT_DIR,
    ReassignCommands,
    partition_sizes,
    partitions_json,
    preferred_election,
    reassignment_json,
)
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, responses
from tests.unit.livestates import deployed
from tests.unit.test_bake_guard import HEADER, PREFLIGHT


def test_a_topic_znode_gives_its_assignment_and_the_partitions_moving():
    data = json.dumps(
        {
            "version": 3,
            "partitions": {"0": [1, 2], "1": [2, 3, 4]},
            "adding_replicas": {"1": [4]},
            "removing_replicas": {"1": [1]},
        }
    ).encode()
    assignment, moving = parse_topic("orders", data)
    assert assignment == {("orders", 0): (1, 2), ("orders", 1): (2, 3, 4)}
    assert moving == {("orders", 1)}
    assert parse_topic("quiet", b'{"partitions": {"0": [1]}}')[1] == set()
    with pytest.raises(LayoutError, match="topic bad: unreadable assignment"):
        parse_topic("bad", b"{}")


def test_a_registration_gives_the_brokers_address():
    endpoints = {"endpoints": ["PLAINTEXT://10.0.0.5:9092"], "host": "x", "port": 1}
    assert parse_registration(json.dumps(endpoints).encode()) == "10.0.0.5:9092"
    assert parse_registration(b'{"host": "h", "port": 9092}') == "h:9092"
    assert parse_registration(b"not json") == "?"


def test_sizes_come_from_log_dirs_json_line_largest_copy_wins():
    document = {
        "version": 1,
        "brokers": [
            {"broker": 1, "logDirs": [{"partitions": [{"partition": "a-b-0", "size": 10}]}]},
            {"broker": 2, "logDirs": [{"partitions": [{"partition": "a-b-0", "size": 30}]}]},
        ],
    }
    lines = ["Querying brokers for log directories information", json.dumps(document)]
    assert partition_sizes(lines) == {("a-b", 0): 30}


def test_one_file_names_the_partitions_of_several_topics():
    document = json.loads(partitions_json({("b", 0): (2, 1), ("a", 1): (3,)}))
    assert document["partitions"] == [
        {"topic": "a", "partition": 1, "replicas": [3]},
        {"topic": "b", "partition": 0, "replicas": [2, 1]},
    ]
    assert reassignment_json("a", {1: (3,)}) == partitions_json({("a", 1): (3,)})


def test_a_finished_reassignment_is_kept_under_another_name():
    commands = ReassignCommands("/k", "a:9092", "rebalance", wait_seconds=60)
    assert commands.exists() == f"test -f {REASSIGNMENT_DIR}/rebalance.json"
    finish = commands.finish("rebalance-1")
    assert f"mv -f {REASSIGNMENT_DIR}/rebalance.json {REASSIGNMENT_DIR}/rebalance-1.json" in finish
    assert f"{REASSIGNMENT_DIR}/rebalance-1.rollback.json" in finish
    assert "seq 30" in commands.wait() and "did not finish in 60 s" in commands.wait()
    election = preferred_election("/k", "a:9092", [("t", 1)])
    assert "org.apache.kafka.tools.LeaderElectionCommand" in election
    assert "--election-type PREFERRED --path-to-json-file" in election
    assert '{"partitions":[{"topic":"t","partition":1}]}' in election


def live_hosts(nodes: int) -> list:
    hosts = fake_hosts("debian12", nodes=nodes)
    for i, (_, data) in enumerate(hosts, start=1):
        data["fake_responses"] = responses("debian12", **{HEADER: deployed(i)})
    return hosts


def test_the_deploy_refuses_a_removed_broker_that_holds_replicas():
    layout = Layout(
        {("orders", 0): (1, 4), ("orders", 1): (4, 2), ("__consumer_offsets", 0): (2, 3)},
        registered={1: "a:9092", 2: "b:9092", 3: "c:9092", 4: "10.0.0.14:9092"},
    )
    with pytest.raises(PyinfraError) as refused:
        run_deploy(live_hosts(3), deploy=PREFLIGHT, layout=layout)
    message = str(refused.value)
    assert message.startswith("refusing this deploy, nothing was changed; 1 problem(s)")
    assert "broker 4 (10.0.0.14:9092): kafkaid: holds 2 replica(s) of 1 topic(s)" in message
    assert "kafkaform drain INVENTORY --broker 4" in message


def test_the_deploy_goes_on_once_the_removed_broker_holds_nothing():
    layout = Layout({("orders", 0): (1, 2)}, registered={1: "a", 2: "b", 3: "c", 4: "d"})
    run = run_deploy(live_hosts(3), deploy=PREFLIGHT, layout=layout)
    assert all(any(HEADER in c for c in run.commands[f"@fake/kafka-{i}"]) for i in (1, 2, 3))


def test_the_check_reads_zookeeper_only_while_a_broker_runs(monkeypatch, capsys):
    from deploys.tasks import preflight
    from facts.live import build_state
    from kafkaform.cluster import Cluster

    cluster = Cluster.from_hosts(fake_hosts("debian12", nodes=3))
    fresh = {f"@fake/kafka-{i}": build_state([]) for i in (1, 2, 3)}
    live = {f"@fake/kafka-{i}": build_state(deployed(i)) for i in (1, 2, 3)}

    asked = []

    def unreachable(cluster, timeout=10.0):
        asked.append(cluster)
        raise TimeoutError("no ZooKeeper")

    monkeypatch.setattr(preflight, "read_layout", unreachable)
    assert preflight.stranded_replicas(cluster, fresh) == []
    assert asked == []  # no broker runs: nothing to read
    assert preflight.stranded_replicas(cluster, live) == []
    assert asked == [cluster]
    assert "replicas of removed brokers: not checked (no ZooKeeper)" in capsys.readouterr().err


def without_kafkaid(hosts: list, name: str) -> list:
    return [(n, {**d, "kafkaid": None}) if n == name else (n, d) for n, d in hosts]


def test_a_host_whose_kafkaid_was_taken_away_is_refused_while_its_broker_holds_replicas():
    layout = Layout({("orders", 0): (1, 3), ("orders", 1): (3, 2)}, registered={3: "c:9092"})
    with pytest.raises(PyinfraError) as refused:
        run_deploy(without_kafkaid(live_hosts(3), "@fake/kafka-3"), layout=layout)
    message = str(refused.value)
    assert "broker 3 (c:9092): kafkaid: holds 2 replica(s) of 1 topic(s)" in message
    assert "kafkaform drain INVENTORY --broker 3" in message


def test_a_drained_broker_whose_kafkaid_was_taken_away_is_stopped_and_disabled_only():
    layout = Layout({("orders", 0): (1, 2)}, registered={1: "a", 2: "b", 3: "c"})
    run = run_deploy(without_kafkaid(live_hosts(3), "@fake/kafka-3"), layout=layout)
    retire = "systemctl disable --now kafka.service"
    assert [c for c in run.commands["@fake/kafka-3"] if retire in c] != []
    assert not any("rm " in c and "/var/lib/kafka" in c for c in run.commands["@fake/kafka-3"])
    assert not any(retire in c for h in ("@fake/kafka-1", "@fake/kafka-2") for c in run.commands[h])
    assert any(n.startswith("Kafka broker 3 retired") for n in run.names["@fake/kafka-3"])


def test_without_zookeeper_a_host_losing_its_kafkaid_is_refused(monkeypatch):
    from deploys.tasks import preflight
    from facts.live import build_state
    from kafkaform.cluster import Cluster

    hosts = without_kafkaid(fake_hosts("debian12", nodes=3), "@fake/kafka-3")
    cluster = Cluster.from_hosts(hosts)
    live = {f"@fake/kafka-{i}": build_state(deployed(i)) for i in (1, 2, 3)}

    def unreachable(cluster, timeout=10.0):
        raise TimeoutError("no ZooKeeper")

    monkeypatch.setattr(preflight, "read_layout", unreachable)
    (problem,) = preflight.stranded_replicas(cluster, live)
    assert (problem.where, problem.field) == ("@fake/kafka-3", "kafkaid")
    assert "runs Kafka broker 3 but has no kafkaid" in problem.message


def test_a_registration_gives_the_broker_s_rack_if_it_has_one():
    from kafkaform.partition_reads import parse_rack

    with_rack = json.dumps({"endpoints": ["PLAINTEXT://10.0.0.5:9092"], "rack": "eu-1a"})
    assert parse_rack(with_rack.encode()) == "eu-1a"
    assert parse_rack(json.dumps({"endpoints": [], "rack": None}).encode()) is None
    assert parse_rack(b"not json") is None


def test_sizes_are_unknown_not_zero_without_the_json_line():
    with pytest.raises(ValueError, match="no JSON line"):
        partition_sizes(["Querying brokers for log directories information"])
