"""The real deploy, run offline against @fake hosts of each supported distribution."""

from __future__ import annotations

import hashlib

import pytest
from pyinfra.api.exceptions import PyinfraError

from tests.unit.converged import converged, converged_hosts
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, responses

H1 = "@fake/kafka-1"
H3 = "@fake/kafka-3"


def index(ops: list[str], fragment: str) -> int:
    return next(i for i, name in enumerate(ops) if fragment in name)


def test_debian_installs_from_apt_and_orders_zookeeper_before_kafka():
    run = run_deploy(fake_hosts("debian12", 3))
    ops, sent = run.ops(H1), run.executed(H1)
    assert "install --no-install-recommends openjdk-17-jre-headless" in sent
    assert "yum" not in sent and "dnf" not in sent
    assert index(ops, "Install Java") < index(ops, "Verify sha512 and unpack")
    assert index(ops, "Start and enable zookeeper") < index(ops, "Start and enable kafka")
    assert index(ops, "Wait until zookeeper is healthy") < index(ops, "Start and enable kafka")
    assert "sysctl -p /etc/sysctl.d/60-kafkaform.conf" in sent
    # The download is checked against the pinned sha512 before anything is unpacked.
    assert f"echo '{'0' * 128}  /var/cache/kafkaform/kafka_2.13-3.9.2.tgz' | sha512sum -c" in sent


def test_centos7_points_yum_at_the_vault_before_installing():
    run = run_deploy(fake_hosts("centos7", 3))
    ops, sent = run.ops(H1), run.executed(H1)
    assert index(ops, "Point CentOS 7 repositories at the vault") < index(ops, "base packages")
    assert "yum install -y java-11-openjdk-headless" in sent
    assert "apt-get" not in sent


def test_el9_uses_dnf():
    run = run_deploy(fake_hosts("rocky9", 3))
    sent = run.executed(H1)
    assert "dnf install -y java-17-openjdk-headless" in sent
    assert "vault" not in "\n".join(run.ops(H1))


def test_ubuntu_uses_apt():
    sent = run_deploy(fake_hosts("ubuntu2404", 1)).executed(H1)
    assert "openjdk-17-jre-headless" in sent


def test_broker_only_hosts_get_no_zookeeper():
    run = run_deploy(fake_hosts("debian12", 3, ensemble=1))
    assert any(op.startswith("ZooKeeper |") for op in run.ops(H1))
    assert not any(op.startswith("ZooKeeper |") for op in run.ops(H3))
    assert any("Kafka broker" in op for op in run.ops(H3))


def restarts(run, host: str) -> list[str]:
    """The restarts (and systemd reloads) a host was actually sent."""
    return [c for c in run.commands[host] if "-safe-restart" in c or "daemon-reload" in c]


def test_converged_host_installs_nothing_and_restarts_only_on_change():
    run = run_deploy(converged_hosts())
    ops = run.ops(H1)
    assert not any("Install" in op and "packages" in op for op in ops)
    assert not any("Download" in op or "unpack" in op for op in ops)
    assert "apt-get" not in run.executed(H1)
    # Nothing to change and every service runs the files on disk: nothing is written, no
    # config is checked or placed, and no service is reloaded or restarted on any host.
    for host in run.commands:
        assert restarts(run, host) == [], host
        assert not [op for op in run.ops(host) if "Candidate" in op or "put it in place" in op]
        assert not [op for op in run.ops(host) if "| systemd unit " in op or " /etc/" in op]
    # The restart steps stay planned, serial, each waiting for a reason to run.
    state = run.state
    planned = [
        op_hash
        for h in run.state.inventory
        for op_hash in state.ops[h]
        if "safely" in state.op_meta[op_hash].names.copy().pop()
    ]
    assert len(planned) == 6  # zookeeper and kafka on each of the three hosts
    for op_hash in planned:
        assert state.op_meta[op_hash].global_arguments["_serial"] is True


def test_services_running_older_files_are_restarted_one_host_at_a_time_under_the_lock():
    run = run_deploy(converged_hosts(drift=True))
    for host in run.commands:
        assert restarts(run, host) == [
            "/usr/local/sbin/zookeeper-safe-restart --lock-token test-token",
            "/usr/local/sbin/kafka-safe-restart --lock-token test-token",
        ], host
        assert not [op for op in run.ops(host) if "Candidate" in op or "| systemd unit " in op]


def test_a_changed_broker_setting_is_placed_and_restarts_the_brokers_only():
    hosts = converged_hosts()
    for _, data in hosts:
        data["kafka_properties"] = {"log.retention.hours": 72}
    run = run_deploy(hosts)
    live = "/etc/kafka/server.properties"
    for host in run.commands:
        assert restarts(run, host) == [
            "/usr/local/sbin/kafka-safe-restart --lock-token test-token"
        ], host
        assert f"mv -f {live}.kafkaform-new {live}" in run.executed(host)
        assert "/etc/zookeeper/zoo.cfg.kafkaform-new" not in run.executed(host)


def test_container_hosts_write_but_do_not_apply_sysctl():
    hosts = fake_hosts(
        "debian12", 1, fake_responses=responses("debian12", **{"systemd-detect-virt": ["docker"]})
    )
    run = run_deploy(hosts)
    assert "Prepare the OS | Kernel settings for Kafka and ZooKeeper" in run.ops(H1)
    assert "sysctl -p" not in run.executed(H1)


def test_zookeeper_leader_restarts_after_the_followers():
    hosts = fake_hosts("debian12", 3, fake_responses=converged("follower"))
    hosts[1][1]["fake_responses"] = converged("leader")
    run = run_deploy(hosts)
    follower_step = "ZooKeeper | Restart zookeeper safely (one host at a time)"
    leader_step = "ZooKeeper | Restart zookeeper safely (the leader last)"
    assert follower_step in run.ops(H1) and leader_step not in run.ops(H1)
    assert leader_step in run.ops("@fake/kafka-2")
    order = [run.state.op_meta[h].names for h in run.state.get_op_order()]
    assert order.index({follower_step}) < order.index({leader_step})


def test_local_tarball_is_uploaded_and_held_to_its_own_checksum(tmp_path):
    tarball = tmp_path / "kafka_2.13-3.9.2.tgz"
    tarball.write_bytes(b"not really a tarball")
    digest = hashlib.sha512(b"not really a tarball").hexdigest()
    run = run_deploy(fake_hosts("debian12", 1, kafka_sha512=None, kafka_local_file=str(tarball)))
    assert "Install the Kafka distribution | Upload kafka_2.13-3.9.2.tgz" in run.ops(H1)
    assert f"echo '{digest}  /var/cache/kafkaform/kafka_2.13-3.9.2.tgz'" in run.executed(H1)


def test_local_tarball_that_contradicts_its_sha512_file_is_refused(tmp_path):
    tarball = tmp_path / "kafka_2.13-3.9.2.tgz"
    tarball.write_bytes(b"tampered")
    (tmp_path / "kafka_2.13-3.9.2.tgz.sha512").write_text(f"{'1' * 128}  kafka_2.13-3.9.2.tgz\n")
    hosts = fake_hosts("debian12", 1, kafka_sha512=None, kafka_local_file=str(tarball))
    with pytest.raises(PyinfraError, match="does not match its checksum file"):
        run_deploy(hosts)


def installed_distributions(*names: str, current: str | None = None) -> dict:
    """A host's answer to facts.kafka.KafkaInstallations."""
    lines = [f"installed {name} {'a' * 128}" for name in names]
    return responses(
        "debian12",
        **{".kafkaform-sha512": [*lines, f"current /opt/kafka/{current or ''}".rstrip("/")]},
    )


def test_another_scala_build_of_the_installed_version_is_downloaded_and_unpacked():
    # Kafka 3.9.2 for Scala 2.12 is there; the inventory asks for the 2.13 build of 3.9.2.
    answers = installed_distributions("kafka_2.12-3.9.2", current="kafka_2.12-3.9.2")
    run = run_deploy(fake_hosts("debian12", 1, fake_responses=answers))
    ops, sent = run.ops(H1), run.executed(H1)
    assert "Install the Kafka distribution | Verify sha512 and unpack kafka_2.13-3.9.2" in ops
    assert "tar -xzf /var/cache/kafkaform/kafka_2.13-3.9.2.tgz" in sent
    # ... so the unit and "current" name a directory that exists.
    assert (
        "mv /opt/kafka/.staging-kafka_2.13-3.9.2/kafka_2.13-3.9.2 /opt/kafka/kafka_2.13-3.9.2"
        in (sent)
    )
    assert "ln -s /opt/kafka/kafka_2.13-3.9.2 /opt/kafka/current" in sent


def test_the_installed_scala_build_is_not_downloaded_again():
    answers = installed_distributions("kafka_2.12-3.9.2", "kafka_2.13-3.9.2")
    ops = run_deploy(fake_hosts("debian12", 1, scala_version="2.12", fake_responses=answers)).ops(
        H1
    )
    assert not any(op.startswith("Install the Kafka distribution | Download") for op in ops)
    assert not any("unpack" in op for op in ops)
    assert "Point current at the configured Kafka version | Make kafka_2.12-3.9.2 current" in ops


def op_order(run) -> list[str]:
    """Every host's operation names, in the order the run executes them."""
    return [run.state.op_meta[h].names.copy().pop() for h in run.state.get_op_order()]


def test_a_started_zookeeper_is_waited_for_after_the_broker_files_and_before_the_broker():
    order = op_order(run_deploy(fake_hosts("debian12", 3)))
    started = order.index("ZooKeeper | Start and enable zookeeper")
    waited = order.index("Kafka broker | Wait until zookeeper is healthy")
    assert started < order.index("Kafka broker | Candidate for /etc/kafka/server.properties")
    assert order.index("Kafka broker | systemd unit kafka.service") < waited
    assert waited < order.index("Kafka broker | Start and enable kafka")


def test_a_zookeeper_only_host_is_waited_for_before_any_broker_step():
    hosts = fake_hosts("debian12", 3)
    hosts.append(("@fake/zk-4", {**hosts[0][1], "ssh_hostname": "10.0.0.14", "zkid": 4}))
    hosts[-1][1].pop("kafkaid")
    hosts.append(("@fake/zk-5", {**hosts[-1][1], "ssh_hostname": "10.0.0.15", "zkid": 5}))
    run = run_deploy(hosts)
    order = op_order(run)
    assert "ZooKeeper | Wait until zookeeper is healthy" in run.ops("@fake/zk-4")
    first_broker_step = min(i for i, op in enumerate(order) if op.startswith("Kafka broker |"))
    assert order.index("ZooKeeper | Wait until zookeeper is healthy") < first_broker_step


def test_a_stopped_zookeeper_is_back_before_any_broker_restarts():
    zookeeper_down = {
        "is-active --quiet zookeeper.service": [],
        **converged("follower", drift=True),
    }
    hosts = fake_hosts("debian12", 3, fake_responses=converged("follower", drift=True))
    hosts[1][1]["fake_responses"] = zookeeper_down
    run = run_deploy(hosts)
    order = op_order(run)
    waited = order.index("Kafka broker | Wait until zookeeper is healthy")
    assert waited < order.index("Kafka broker | Restart kafka safely (one host at a time)")
    assert "Kafka broker | Wait until zookeeper is healthy" in run.ops("@fake/kafka-2")
