"""The real deploy during each phase of a version upgrade, on @fake hosts."""

from __future__ import annotations

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
                    pinned = f"{content}{PROTOCOL_KEY}={disk_pin}\n"
                    state["files"][path] = (pinned, *owner)
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


def kafka_restarts(run, host: str) -> int:
    return sum("kafka-safe-restart" in c for c in run.commands[host])


def test_phase_1_pins_the_running_protocol_and_rolls_every_broker(capsys):
    run, sent = rendered(upgrading_hosts(OLD))
    assert len(sent) == 3
    for name, text in sent.items():
        assert f"{PROTOCOL_KEY}=3.8\n" in text, name
        assert kafka_restarts(run, name) == 1
    assert "upgrade phase 1" in capsys.readouterr().err


def test_phase_2_removes_the_pin_and_rolls_again(capsys):
    run, sent = rendered(upgrading_hosts(NEW, disk_pin="3.8"))
    assert len(sent) == 3
    for name, text in sent.items():
        assert PROTOCOL_KEY not in text, name
        assert kafka_restarts(run, name) == 1
    assert "upgrade phase 2" in capsys.readouterr().err


def test_a_finished_upgrade_changes_nothing():
    run, sent = rendered(upgrading_hosts(NEW))
    assert sent == {}
    assert all(kafka_restarts(run, name) == 0 for name in run.commands)


def test_an_operators_pin_is_rendered_instead_of_the_upgrades(capsys):
    pin = {"kafka_properties": {PROTOCOL_KEY: "3.7"}}
    _, sent = rendered(upgrading_hosts(OLD, **pin))
    assert all(f"{PROTOCOL_KEY}=3.7\n" in text for text in sent.values())
    assert "from kafka_properties is kept" in capsys.readouterr().err


def test_a_downgrade_below_the_running_protocol_stops_before_any_operation():
    hosts = upgrading_hosts(NEW, kafka_version=OLD)
    with pytest.raises(PyinfraError) as refused:
        run_deploy(hosts)
    message = str(refused.value)
    assert message.startswith("refusing this deploy, nothing was changed; 3 problem(s)")
    assert "@fake/kafka-2: kafka_version: 3.8.1 speaks inter-broker protocol 3.8" in message
