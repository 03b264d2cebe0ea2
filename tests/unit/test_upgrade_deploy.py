"""The real deploy during each phase of a version upgrade, on @fake hosts."""

from __future__ import annotations

import shlex

import pytest
from pyinfra.api.exceptions import PyinfraError

from facts.live import HEADER
from kafkaform.upgrade import PROTOCOL_KEY
from tests.unit.converged import converged, recording_writes
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import accounts_on_host, fake_hosts, host_paths
from tests.unit.livestates import deployed

SERVER_PROPERTIES = "/etc/kafka/server.properties"
OLD, NEW = "3.8.1", "3.9.2"


def with_pin(text: str, pin: str) -> str:
    """server.properties as the deploy renders it with the pin: properties sorted by name."""
    lines = text.splitlines(keepends=True)
    comments = [line for line in lines if line.startswith("#")]
    properties = [line for line in lines if not line.startswith("#")]
    return "".join(comments + sorted([*properties, f"{PROTOCOL_KEY}={pin}\n"]))


def upgrading_hosts(running: str, disk_pin: str | None = None, **data) -> list:
    """Hosts an earlier deploy set up, whose ZooKeeper servers and brokers run Kafka
    ``running`` with ``disk_pin`` in their live server.properties; inventory ``data``."""
    fresh = fake_hosts("debian12", 3, **data)
    written = {name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in fresh}
    with recording_writes(written):
        run_deploy(fresh)
    hosts = fake_hosts("debian12", 3, **data)
    for i, (name, host) in enumerate(hosts, 1):
        state = written[name]
        text = state["files"][SERVER_PROPERTIES][0]
        if disk_pin:  # the live file and its staged candidate, as phase 1 left them
            for path, (content, *owner) in list(state["files"].items()):
                if content == text:
                    state["files"][path] = (with_pin(content, disk_pin), *owner)
        live = deployed(i) + [
            f"running\t{service}\tkafka_2.13-{running}" for service in ("zookeeper", "kafka")
        ]
        if disk_pin:
            live.append(f"server.properties\t{SERVER_PROPERTIES}\t{PROTOCOL_KEY}={disk_pin}")
        answers = converged(
            "follower",
            files={
                **host_paths(state["files"], state["directories"]),
                **accounts_on_host(state["accounts"]),
            },
        )
        host["fake_responses"] = {HEADER: live, **answers}
    return hosts


def rendered(hosts: list) -> tuple[object, dict[str, str]]:
    """The run, and the server.properties each host was sent (absent: left as it was)."""
    written = {name: {"files": {}, "directories": {}, "accounts": {}} for name, _ in hosts}
    with recording_writes(written):
        run = run_deploy(hosts)
    sent = {
        name: state["files"][SERVER_PROPERTIES][0]
        for name, state in written.items()
        if SERVER_PROPERTIES in state["files"]
    }
    return run, sent


PHASE_2 = "Upgrade phase 2"


def kafka_restarts(run, host: str) -> int:
    return sum("kafka-safe-restart" in c for c in run.commands[host])


def phase_2_commands(run, host: str) -> list[str]:
    """What the phase-2 step sent ``host``: stage, check and place, restart."""
    commands = run.commands[host]
    start = next(i for i, c in enumerate(commands) if c.startswith("printf '%s' "))
    return commands[start : start + 3]


def test_one_run_pins_the_running_protocol_rolls_every_broker_then_unpins_and_rolls_again(
    capsys,
):
    run, sent = rendered(upgrading_hosts(OLD))
    assert len(sent) == 3
    for name, text in sent.items():
        assert f"{PROTOCOL_KEY}=3.8\n" in text, name  # phase 1's file
        assert kafka_restarts(run, name) == 2
        stage, place, restart = phase_2_commands(run, name)
        # phase 2 writes the same file without the pin, checked by Kafka's parser first
        printf, _, content, _, path, *_ = shlex.split(stage)
        assert content == text.replace(f"{PROTOCOL_KEY}=3.8\n", "")
        assert path == "/var/lib/kafkaform/candidates/kafka/server.properties.kafkaform-new"
        assert "kafka.tools.StorageTool info -c" in place
        assert restart == "/usr/local/sbin/kafka-safe-restart --lock-token test-token"
    # Every broker's phase-1 restart comes before any broker's phase 2, each step serial.
    order = [run.state.op_meta[h] for h in run.state.get_op_order()]
    restarts = [i for i, op in enumerate(order) if "Restart kafka safely" in op.names.copy().pop()]
    phase_2 = [i for i, op in enumerate(order) if PHASE_2 in op.names.copy().pop()]
    assert restarts and phase_2 and max(restarts) < min(phase_2)
    assert all(order[i].global_arguments["_serial"] for i in phase_2)
    err = capsys.readouterr().err
    assert "upgrade phase 1" in err and "Then phase 2" in err


def test_holding_the_protocol_stops_after_phase_1_and_keeps_the_pin(capsys):
    run, sent = rendered(upgrading_hosts(OLD, kafka_upgrade_hold_protocol=True))
    assert len(sent) == 3
    for name, text in sent.items():
        assert f"{PROTOCOL_KEY}=3.8\n" in text, name
        assert kafka_restarts(run, name) == 1
        assert not any(PHASE_2 in n for n in run.ops(name))
    assert "kafka_upgrade_hold_protocol is True" in capsys.readouterr().err
    # The next run, still held, changes nothing: the pin stays as phase 1 left it.
    run, sent = rendered(upgrading_hosts(NEW, disk_pin="3.8", kafka_upgrade_hold_protocol=True))
    assert sent == {}
    assert all(kafka_restarts(run, name) == 0 for name in run.commands)


def test_a_run_killed_between_the_phases_is_finished_by_a_plain_rerun(capsys):
    run, sent = rendered(upgrading_hosts(NEW, disk_pin="3.8"))
    assert len(sent) == 3
    for name, text in sent.items():
        assert PROTOCOL_KEY not in text, name
        assert kafka_restarts(run, name) == 1
        assert not any(PHASE_2 in n for n in run.ops(name))  # the file step does it
    assert "upgrade phase 2" in capsys.readouterr().err


def test_a_finished_upgrade_changes_nothing():
    run, sent = rendered(upgrading_hosts(NEW))
    assert sent == {}
    assert all(kafka_restarts(run, name) == 0 for name in run.commands)


def test_an_operators_pin_is_rendered_instead_of_the_upgrades(capsys):
    pin = {"kafka_properties": {PROTOCOL_KEY: "3.7"}}
    run, sent = rendered(upgrading_hosts(OLD, **pin))
    assert all(f"{PROTOCOL_KEY}=3.7\n" in text for text in sent.values())
    assert not any(PHASE_2 in n for name in run.names for n in run.ops(name))
    assert "from kafka_properties is kept" in capsys.readouterr().err


def test_a_downgrade_below_the_running_protocol_stops_before_any_operation():
    hosts = upgrading_hosts(NEW, kafka_version=OLD)
    with pytest.raises(PyinfraError) as refused:
        run_deploy(hosts)
    message = str(refused.value)
    assert message.startswith("refusing this deploy, nothing was changed; 3 problem(s)")
    assert "@fake/kafka-2: kafka_version: 3.8.1 speaks inter-broker protocol 3.8" in message
