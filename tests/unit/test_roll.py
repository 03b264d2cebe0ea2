"""The roll's rules, offline: fake hosts through the real deploy (pyinfra's @fake connector)."""

from __future__ import annotations

import pytest
from pyinfra.api.exceptions import PyinfraError

from deploys.tasks.roll import RollSession, refuse_parallel_flags, refuse_unreachable
from facts.service import ServiceDrift
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts
from tests.unit.test_deploy_plan import converged

ZK_STEP = "ZooKeeper | Restart zookeeper safely (one host at a time)"
KAFKA_STEP = "Kafka broker | Restart kafka safely (one host at a time)"
CONTROLLER_STEP = "Kafka broker | Restart kafka safely (the controller last)"


def hosts_running(**per_host_responses):
    hosts = fake_hosts("debian12", 3, fake_responses=converged("follower"))
    for index, response in per_host_responses.items():
        hosts[int(index[-1]) - 1][1]["fake_responses"] = response
    return hosts


def restart_commands(run, host: str, service: str) -> list[str]:
    return [c for c in run.commands[host] if c.startswith(f"/usr/local/sbin/{service}-safe")]


def test_the_controller_restarts_after_the_other_brokers():
    run = run_deploy(hosts_running(), session=RollSession(token="t0k", controller=2))
    first = run.ops("@fake/kafka-1")
    assert KAFKA_STEP in first and CONTROLLER_STEP not in first
    assert CONTROLLER_STEP in run.ops("@fake/kafka-2")
    order = [run.state.op_meta[h].names for h in run.state.get_op_order()]
    assert order.index({KAFKA_STEP}) < order.index({CONTROLLER_STEP})
    # ZooKeeper's whole roll comes before any broker's restart.
    assert order.index({ZK_STEP}) < order.index({KAFKA_STEP})


def test_restarts_run_under_the_deploys_roll_lock():
    run = run_deploy(hosts_running(), session=RollSession(token="t0k"))
    for host in ("@fake/kafka-1", "@fake/kafka-3"):
        for service in ("zookeeper", "kafka"):
            assert restart_commands(run, host, service) == [
                f"/usr/local/sbin/{service}-safe-restart --lock-token t0k"
            ]


def test_a_failed_restart_stops_the_run_before_the_next_host():
    failing = {
        "zookeeper-safe-restart --lock-token": {"success": False, "stderr": ["not serving"]},
        **converged("follower"),
    }
    with pytest.raises(PyinfraError, match="stopped the run.*failed on @fake/kafka-1"):
        run_deploy(hosts_running(kafka1=failing))


def test_no_host_after_a_failed_restart_runs_it(monkeypatch):
    sent: list[tuple[str, str]] = []  # (host, command) in the order they ran
    from pyinfra.connectors.fake import FakeConnector

    real = FakeConnector.run_shell_command

    def recording(self, command, *args, **kwargs):
        sent.append((self.host.name, str(command)))
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeConnector, "run_shell_command", recording)
    failing = {"kafka-safe-restart --lock-token": {"success": False}, **converged("follower")}
    with pytest.raises(PyinfraError, match="stopped the run"):
        run_deploy(hosts_running(kafka2=failing))
    restarted = [h for h, c in sent if "kafka-safe-restart --lock-token" in c]
    # pyinfra's serial order is its own; whatever it is, the failed host was the last one.
    assert restarted[-1] == "@fake/kafka-2" and len(set(restarted)) == len(restarted)
    # ...and nothing after the roll ran anywhere: the run ended there.
    last = max(i for i, (_, c) in enumerate(sent) if "kafka-safe-restart --lock-token" in c)
    assert sent[last + 1 :] == []


def test_parallel_modes_are_refused():
    with pytest.raises(PyinfraError, match="--no-wait"):
        refuse_parallel_flags(["-y", "--no-wait", "inv.py", "deploys/kafka.py"])
    with pytest.raises(PyinfraError, match="--serial"):
        refuse_parallel_flags(["--serial", "inv.py", "deploys/kafka.py"])
    refuse_parallel_flags(["-y", "--parallel", "2", "--limit", "kafka-1", "inv.py", "x.py"])


def test_unreachable_hosts_stop_the_deploy_before_anything_changes():
    class Host:
        def __init__(self, name):
            self.name = name

    with pytest.raises(PyinfraError, match="cannot connect to kafka-2, kafka-3: nothing was"):
        refuse_unreachable({Host("kafka-3"), Host("kafka-2")})
    refuse_unreachable(set())


@pytest.mark.parametrize(
    "output, expected",
    [
        ([], {"active": False, "drift": False, "reload": False}),
        (["active", "NeedDaemonReload=no"], {"active": True, "drift": False, "reload": False}),
        (
            ["active", "drift", "NeedDaemonReload=yes"],
            {"active": True, "drift": True, "reload": True},
        ),
    ],
)
def test_service_drift_fact(output, expected):
    assert ServiceDrift().process(output) == expected


def test_stopped_services_are_started_before_running_ones_restart():
    down = {"is-active --quiet kafka.service": [], **converged("follower")}
    run = run_deploy(hosts_running(kafka2=down))
    assert "Kafka broker | Start and enable kafka" in run.ops("@fake/kafka-2")
    assert KAFKA_STEP not in run.ops("@fake/kafka-2")
    order = [run.state.op_meta[h].names for h in run.state.get_op_order()]
    assert order.index({"Kafka broker | Wait until kafka is healthy"}) < order.index({KAFKA_STEP})


def test_a_stopped_broker_starts_only_once_no_earlier_process_of_it_is_registered():
    down = {"is-active --quiet kafka.service": [], **converged("follower")}
    run = run_deploy(hosts_running(kafka2=down))
    ops = run.ops("@fake/kafka-2")
    assert ops.index("Kafka broker | Check that kafka may start") < ops.index(
        "Kafka broker | Start and enable kafka"
    )
    assert "kafka-safe-restart --before-start" in run.executed("@fake/kafka-2")
    assert "kafka-safe-restart --before-start" not in run.executed("@fake/kafka-1")  # running


def test_broker_and_zookeeper_configs_are_checked_as_candidates_before_placing():
    run = run_deploy(fake_hosts("debian12", 1))
    ops = run.ops("@fake/kafka-1")
    for dest, checker in (
        ("/etc/kafka/server.properties", "Kafka's configuration parser"),
        ("/etc/zookeeper/zoo.cfg", "the zoo.cfg syntax check"),
    ):
        name = dest.rsplit("/", 1)[1]
        candidate = next(op for op in ops if op.endswith(f"Candidate for {dest}"))
        place = next(
            op for op in ops if op.endswith(f"Check {name} with {checker}, then put it in place")
        )
        assert ops.index(candidate) < ops.index(place)
    sent = run.executed("@fake/kafka-1")
    assert (
        "kafka.tools.StorageTool info -c /var/lib/kafkaform/candidates/kafka/server.properties"
        in sent
    )
