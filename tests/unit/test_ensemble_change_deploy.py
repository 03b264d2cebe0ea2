"""The real deploy running a ZooKeeper membership change on @fake hosts: the steps' order across
hosts, the server list each one writes, the gates they restart behind."""

from __future__ import annotations

import pytest

from facts.live import HEADER
from tests.unit.converged import converged, recording_writes
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts
from tests.unit.livestates import deployed

ZOO_CFG = "/etc/zookeeper/zoo.cfg"


def hosts_running(nodes: int, running: int, members: int) -> list:
    """``nodes`` hosts whose first ``running`` run a ZooKeeper ensemble of that size (all run
    brokers); the inventory puts ZooKeeper on the first ``members``."""
    hosts = fake_hosts("debian12", nodes, ensemble=members)
    for i, (_, host) in enumerate(hosts, 1):
        live = deployed(i, ensemble=running, zookeeper=i <= running)
        services = ("zookeeper", "kafka") if i <= running else ("kafka",)
        live += [f"running\t{service}\tkafka_2.13-3.9.2" for service in services]
        host["fake_responses"] = {HEADER: live, **converged("follower")}
    return hosts


def global_order(run) -> list[str]:
    """Operation names in the order pyinfra runs them over all hosts."""
    order = []
    for op_hash in run.state.get_op_order():
        (name,) = run.state.op_meta[op_hash].names  # one name on every host
        order.append(name.replace("@fake/", ""))
    return order


def membership(order: list[str]) -> list[tuple[str, str]]:
    """(the host it runs on, what) of each membership action, in order."""
    prefix = "ZooKeeper membership | "
    actions = [n.removeprefix(prefix) for n in order if n.startswith(prefix)]
    return [(n.rsplit(" ", 1)[1], n) for n in actions if not n.startswith("Safe restart script")]


WRITTEN: dict[str, dict] = {}


@pytest.fixture(scope="module")
def grown():
    hosts = hosts_running(5, running=3, members=5)
    WRITTEN.update({name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts})
    with recording_writes(WRITTEN):
        return run_deploy(hosts)


def test_growing_3_to_5_runs_each_step_on_every_host_before_the_next(grown):
    order = global_order(grown)
    steps = membership(order)
    roll = [(f"kafka-{i}", f"restart server {i} on kafka-{i}") for i in (1, 2, 3)]
    roll5 = [(f"kafka-{i}", f"restart server {i} on kafka-{i}") for i in (1, 2, 3, 4)]
    assert steps == [
        ("kafka-4", "start server 4 on kafka-4"),
        *roll,
        *roll,  # the second pass: the leader, which the first one skipped
        ("kafka-5", "start server 5 on kafka-5"),
        *roll5,
        *roll5,
    ]
    first = order.index("ZooKeeper membership | start server 4 on kafka-4")
    last = max(i for i, n in enumerate(order) if n.startswith("ZooKeeper membership"))
    zookeeper_files = [i for i, n in enumerate(order) if n.startswith("ZooKeeper | ")]
    brokers = [i for i, n in enumerate(order) if n.startswith("Kafka broker | ")]
    assert max(zookeeper_files) < first  # units, myid, scripts are in place first
    assert last < min(brokers)  # brokers follow the new ensemble


def test_the_steps_own_zoo_cfg_and_the_starts_of_the_hosts_they_involve(grown):
    for host in (f"kafka-{i}" for i in range(1, 6)):
        names = grown.ops(f"@fake/{host}")
        assert not any(ZOO_CFG in n for n in names), host  # no write of the final list
        assert not any("Restart zookeeper safely" in n for n in names), host
        assert not any("Start and enable zookeeper" in n for n in names), host


def test_each_step_writes_its_own_server_list_and_restarts_behind_its_gate(grown):
    executed = grown.executed("@fake/kafka-1")
    four = "--size 4 --gate '2 10.0.0.12 2181,3 10.0.0.13 2181,4 10.0.0.14 2181'"
    five = "--size 5 --gate '2 10.0.0.12 2181,3 10.0.0.13 2181,4 10.0.0.14 2181,5 10.0.0.15 2181'"
    assert f"zookeeper-safe-restart {four} --lock-token test-token" in executed
    assert f"zookeeper-safe-restart {five} --lock-token test-token" in executed
    assert executed.index(four) < executed.index(five)
    # The step's list reaches the staged candidate before the restart: 4 servers, then 5.
    at_four = executed[: executed.index(four)]
    assert "server.4=10.0.0.14:2888:3888" in at_four and "server.5=" not in at_four
    assert "server.5=10.0.0.15:2888:3888" in executed[executed.index(four) :]
    # First pass: a leader waits for the second.
    assert executed.count("leads: it restarts last") == 2
    joined = grown.executed("@fake/kafka-4")
    assert "systemctl enable zookeeper.service" in joined
    assert "zookeeper-safe-restart --wait-only --size 4" in joined
    assert "systemctl disable" not in joined


def test_brokers_get_the_new_zookeeper_connect(grown):
    connect = ",".join(f"10.0.0.{10 + i}:2181" for i in range(1, 6)) + "/kafka"
    text = WRITTEN["@fake/kafka-1"]["files"]["/etc/kafka/server.properties"][0]
    assert f"zookeeper.connect={connect}\n" in text
    # ... through the usual broker roll, after the ZooKeeper steps.
    order = global_order(grown)
    assert order.index("Kafka broker | Restart kafka safely (one host at a time)") > max(
        i for i, n in enumerate(order) if n.startswith("ZooKeeper membership")
    )


def test_shrinking_5_to_3_retires_the_removed_servers_after_the_others_rolled():
    run = run_deploy(hosts_running(5, running=5, members=3))
    order = global_order(run)
    steps = membership(order)
    # The leaving hosts are no zookeeper hosts any more: the change writes their script.
    script = (
        "ZooKeeper membership | Safe restart script zookeeper-safe-restart (leaving the ensemble)"
    )
    assert order.index(script) < order.index(
        "ZooKeeper membership | hand off the lead of server 5 on kafka-5"
    )
    assert script in run.ops("@fake/kafka-4") and script not in run.ops("@fake/kafka-1")
    assert steps[0] == ("kafka-5", "hand off the lead of server 5 on kafka-5")
    assert steps[9] == ("kafka-5", "stop and disable server 5 on kafka-5")
    assert steps[10] == ("kafka-4", "hand off the lead of server 4 on kafka-4")
    assert steps[-1] == ("kafka-4", "stop and disable server 4 on kafka-4")
    assert len(steps) == 1 + 8 + 1 + 1 + 6 + 1
    leaving = run.executed("@fake/kafka-5")
    gate = "'1 10.0.0.11 2181,2 10.0.0.12 2181,3 10.0.0.13 2181,4 10.0.0.14 2181'"
    assert f"zookeeper-safe-restart --hand-off --size 5 --gate {gate}" in leaving
    assert leaving.index("--hand-off") < leaving.index("systemctl disable --now zookeeper")
    # kafka-4 restarts into the 4-server list of step 1 before it leaves in step 2.
    assert "--size 4 --gate '1 10.0.0.11 2181,2 10.0.0.12 2181,3 10.0.0.13 2181,5" in (
        run.executed("@fake/kafka-4")
    )


def test_1_to_3_starts_one_server_unwaited_then_the_standalone_then_the_third():
    run = run_deploy(hosts_running(3, running=1, members=3))
    assert membership(global_order(run)) == [
        ("kafka-2", "start server 2 on kafka-2"),
        ("kafka-1", "restart server 1 on kafka-1"),
        ("kafka-3", "start server 3 on kafka-3"),
    ]
    assert "--wait-only" not in run.executed("@fake/kafka-2")
    assert "zookeeper-safe-restart --size 3 --lock-token" in run.executed("@fake/kafka-1")
    assert "zookeeper-safe-restart --wait-only --size 3" in run.executed("@fake/kafka-3")
