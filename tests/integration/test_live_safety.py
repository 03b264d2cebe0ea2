"""A live cluster is never hurt by a roll, through the real CLI on the lab, under traffic:

- the roll lock keeps a second roller out (a held lock refuses a deploy and a hand-run script);
- a broker whose unit cannot start stops the deploy, the rest keep running, nothing is lost;
  a plain run after the fix converges (every service runs the config on disk);
- the same for a ZooKeeper server: the quorum stays;
- a broker killed with SIGKILL (its registration left behind) is started again by a deploy
  and by a hand-run safe restart once the registration expired, instead of exiting on "node
  already exists";
- a run killed mid-roll (during a 3.9.1 -> 3.9.2 upgrade) is completed by the next plain run,
  each host switching binaries in its own turn.

Every change runs while a producer (acks=all, idempotent) writes and a consumer reads: every
acknowledged message must be read back and no error may surface to the producer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from kazoo.exceptions import NoNodeError

from kafkaform import artifacts, settings, verify
from kafkaform.roll_lock import LOCK_PATH
from tests.integration.conftest import (
    BIN,
    REPO,
    changed_operations,
    deploy,
    failing_deploy,
    fresh_lab,
    lab_inventory_with,
    on_node,
    run,
)

OLD = "3.9.1"  # deployed first, so that the last test can upgrade to settings.KAFKA_VERSION
TOPIC = "safety"
KAFKA = "deploys/kafka.py"
BAD_JVM_OPTION = "-XX:+KafkaformNoSuchOption"  # the JVM refuses to start: a unit that fails


def inventory(directory: Path, hosts: dict | None = None, **extra: object) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    return lab_inventory_with(directory, hosts, **{"kafka_version": OLD, **extra})


@pytest.fixture(scope="module")
def cluster(lab_allowed, tmp_path_factory):
    artifacts.build_distribution(OLD, settings.SCALA_VERSION)
    cluster = fresh_lab(3)
    result = deploy(inventory(tmp_path_factory.mktemp("first")))
    assert result["results"]["totals"]["error"] == 0
    verify.create_topic(verify.bootstrap(cluster), TOPIC, partitions=6, replication=3, min_isr=2)
    return cluster


def main_pid(node: str, unit: str) -> int:
    return int(on_node(node, f"systemctl show -p MainPID --value {unit}").stdout.strip())


def pids(cluster, unit: str) -> dict[str, int]:
    nodes = cluster.ensemble if unit == "zookeeper" else cluster.brokers
    return {n.name: main_pid(n.name, unit) for n in nodes}


def runs_version(node: str, unit: str) -> str:
    """The Kafka version on the running process's classpath."""
    pid = main_pid(node, unit)
    args = on_node(node, f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout
    return args.split("/opt/kafka/kafka_2.13-", 1)[1].split("/", 1)[0]


def current_link(node: str) -> str:
    return on_node(node, "readlink /opt/kafka/current").stdout.strip().rsplit("-", 1)[-1]


def controller(cluster) -> str:
    client = verify.zk_client(cluster.zookeeper_connect())
    try:
        broker = json.loads(client.get("/kafka/controller")[0])["brokerid"]
    finally:
        client.stop()
        client.close()
    return next(n.name for n in cluster.brokers if n.kafkaid == broker)


def deploy_holds_the_lock(cluster) -> bool:
    client = verify.zk_client(cluster.zookeeper_connect())
    try:
        return client.exists(LOCK_PATH) is not None and client.get(LOCK_PATH)[0].startswith(
            b"deploy "
        )
    except NoNodeError:
        return False
    finally:
        client.stop()
        client.close()


def zk_leader(cluster) -> str:
    modes = verify.ensemble_modes(cluster)
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    return next(name for name, mode in modes.items() if mode == "leader")


def converged(inventory_file: str) -> None:
    """A plain run now changes nothing: every service runs the files on disk."""
    result = deploy(inventory_file)
    assert result["results"]["totals"]["error"] == 0
    assert changed_operations(result) == []


def test_unreachable_hosts_and_parallel_modes_stop_the_deploy_before_any_change(cluster, tmp_path):
    unreachable = {"kafka-3": {"ssh_port": 2222}}  # nothing listens there
    change = inventory(tmp_path / "c", unreachable, kafka_properties={"log.retention.hours": 98})
    out = failing_deploy(change)
    assert "cannot connect to kafka-3: nothing was changed on any host" in out, out[-2000:]
    for name in ("kafka-1", "kafka-2"):
        text = on_node(name, "cat /etc/kafka/server.properties").stdout
        assert "log.retention.hours=98" not in text
    # No pyinfra mode may run the roll's steps on several hosts at once.
    for flag in ("--no-wait", "--serial"):
        proc = run(str(BIN / "pyinfra"), "-y", flag, inventory(tmp_path / "p"), KAFKA, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and f"{flag}: kafkaform restarts" in out, out[-2000:]
    # Leaving the host out explicitly is the operator's call, and it works.
    limited = inventory(tmp_path / "l", unreachable)
    limit = ["--limit", "kafka-1", "--limit", "kafka-2"]
    proc = run(str(BIN / "pyinfra"), "-y", "--json", *limit, limited, KAFKA)
    result = json.loads(proc.stdout)
    assert result["results"]["totals"]["error"] == 0
    assert changed_operations(result) == []
    ops = result["results"]["operations"]
    ran_on = {h for op in ops for h in op["no_change"] + op["success"]}
    assert ran_on == {"kafka-1", "kafka-2"}, ran_on


def test_the_roll_lock_keeps_a_second_roller_out(cluster, tmp_path):
    client = verify.zk_client(cluster.zookeeper_connect())
    try:
        client.create(LOCK_PATH, b"script host=pytest by=test pid=1", ephemeral=True, makepath=True)
        change = inventory(
            tmp_path, roll_lock_wait_seconds=3, kafka_properties={"log.retention.hours": 99}
        )
        out = failing_deploy(change)
        assert "roll lock" in out and "held by: script host=pytest" in out, out[-2000:]
        for node in cluster.brokers:  # refused before anything changed
            text = on_node(node.name, "cat /etc/kafka/server.properties").stdout
            assert "log.retention.hours=99" not in text
        hand = on_node("kafka-1", "/usr/local/sbin/kafka-safe-restart", check=False)
        assert hand.returncode == 1 and "held by: script host=pytest" in hand.stderr
    finally:
        client.delete(LOCK_PATH)
        client.stop()
        client.close()
    # Free again: the operator's own safe restart goes through, gated, under traffic.
    before = main_pid("kafka-1", "kafka")
    with verify.LiveTraffic(verify.bootstrap(cluster), TOPIC) as traffic:
        on_node("kafka-1", "/usr/local/sbin/kafka-safe-restart")
    traffic.check()
    assert main_pid("kafka-1", "kafka") != before


def test_a_broker_that_cannot_start_stops_the_roll_and_a_plain_run_converges(cluster, tmp_path):
    last = controller(cluster)  # restarted last, so it is never reached
    victim = next(n.name for n in cluster.brokers if n.name != last)
    brokers, servers = pids(cluster, "kafka"), pids(cluster, "zookeeper")
    change = {"kafka_properties": {"log.retention.hours": 100}}
    bad_opts = [*settings.DEFAULTS["kafka_jvm_opts"], BAD_JVM_OPTION]
    broken = inventory(tmp_path / "broken", {victim: {"kafka_jvm_opts": bad_opts}}, **change)

    with verify.LiveTraffic(verify.bootstrap(cluster), TOPIC) as traffic:
        started = time.monotonic()
        out = failing_deploy(broken)
        print(f"failed roll stopped after {time.monotonic() - started:.1f}s")
        assert f"failed on {victim}" in out and "kafka.service failed to start" in out, out[-3000:]
        assert main_pid(last, "kafka") == brokers[last]  # the run stopped before it
        assert pids(cluster, "zookeeper") == servers
        zk_leader(cluster)  # the quorum is whole
        assert (
            "KafkaformNoSuchOption"
            in on_node(victim, "cat /etc/systemd/system/kafka.service").stdout
        )

        fixed = inventory(tmp_path / "fixed", **change)
        started = time.monotonic()
        result = deploy(fixed)
        print(f"converging run: {time.monotonic() - started:.1f}s")
    print(traffic.check())
    assert result["results"]["totals"]["error"] == 0
    # Nothing changed on the controller's disk in this run, yet it runs the new config now.
    assert main_pid(last, "kafka") != brokers[last]
    assert "log.retention.hours=100" in on_node(last, "cat /etc/kafka/server.properties").stdout
    converged(fixed)


def test_a_zookeeper_server_that_cannot_start_stops_the_roll_with_the_quorum_kept(
    cluster, tmp_path
):
    leader = zk_leader(cluster)
    victim = next(n.name for n in cluster.ensemble if n.name != leader)
    brokers, servers = pids(cluster, "kafka"), pids(cluster, "zookeeper")
    change = {
        "kafka_properties": {"log.retention.hours": 100},  # as the previous test left it
        "zookeeper_properties": {"maxClientCnxns": 61},
    }
    bad_opts = [*settings.DEFAULTS["zookeeper_jvm_opts"], BAD_JVM_OPTION]
    broken = inventory(tmp_path / "broken", {victim: {"zookeeper_jvm_opts": bad_opts}}, **change)

    with verify.LiveTraffic(verify.bootstrap(cluster), TOPIC) as traffic:
        out = failing_deploy(broken)
        assert f"failed on {victim}" in out and "zookeeper.service failed to start" in out, out[
            -3000:
        ]
        assert main_pid(leader, "zookeeper") == servers[leader]  # the leader goes last
        assert pids(cluster, "kafka") == brokers  # the run never reached the brokers
        modes = verify.ensemble_modes_reachable(cluster)
        assert sorted(modes.values()) == ["follower", "leader"], modes  # a quorum serves

        fixed = inventory(tmp_path / "fixed", **change)
        result = deploy(fixed)
    print(traffic.check())
    assert result["results"]["totals"]["error"] == 0
    zk_leader(cluster)
    assert main_pid(leader, "zookeeper") != servers[leader]
    converged(fixed)


def test_a_killed_broker_starts_again_only_once_its_registration_expired(cluster, tmp_path):
    last = controller(cluster)
    victim = next(n.name for n in cluster.brokers if n.name != last)
    change = {
        "kafka_properties": {"log.retention.hours": 100},  # as the previous tests left it
        "zookeeper_properties": {"maxClientCnxns": 61},
    }
    same = inventory(tmp_path / "same", **change)
    kill = "systemctl kill -s KILL kafka.service 2>/dev/null; sleep 0.5"
    with verify.LiveTraffic(verify.bootstrap(cluster), TOPIC) as traffic:
        # A deploy right after a broker died: it starts the broker once ZooKeeper dropped the
        # dead one's registration (its session, zookeeper.session.timeout.ms), not before.
        on_node(victim, kill)
        deployed = run(str(BIN / "pyinfra"), "-y", "-vvv", same, KAFKA)  # -vvv: commands' output
        out = deployed.stdout + deployed.stderr
        assert "still registered by an earlier process" in out, out[-3000:]
        # The same for a safe restart run by hand at once.
        on_node(victim, kill)
        hand = on_node(victim, "/usr/local/sbin/kafka-safe-restart").stdout
        assert "still registered by an earlier process" in hand, hand
        assert "is up and every partition is in sync" in hand, hand
    print(traffic.check())
    assert verify.registered_brokers(cluster) == [1, 2, 3]
    converged(same)


def test_a_run_killed_mid_roll_is_completed_by_the_next_plain_run(cluster, tmp_path):
    new = settings.KAFKA_VERSION
    servers = pids(cluster, "zookeeper")
    upgrade = lab_inventory_with(
        tmp_path,
        kafka_version=new,
        kafka_properties={"log.retention.hours": 100},
        zookeeper_properties={"maxClientCnxns": 61},
    )
    log = tmp_path / "killed-run.log"
    with verify.LiveTraffic(verify.bootstrap(cluster), TOPIC) as traffic:
        with log.open("w") as out:
            run = subprocess.Popen(
                [str(BIN / "pyinfra"), "-y", upgrade, KAFKA],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 600
            while not deploy_holds_the_lock(cluster):
                assert run.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the deploy never took the roll lock"
                time.sleep(0.5)
            # The deploy holds the roll lock: a hand-run restart is refused meanwhile.
            hand = on_node("kafka-3", "/usr/local/sbin/kafka-safe-restart", check=False)
            assert hand.returncode == 1 and "held by: deploy" in hand.stderr, hand.stderr
            while pids(cluster, "zookeeper") == servers:  # the roll's first restart
                assert run.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the roll never started"
        finally:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        # A restart the run had just issued may still be under way: let every server serve.
        deadline = time.monotonic() + 120
        while len(verify.ensemble_modes_reachable(cluster)) < 3:
            assert time.monotonic() < deadline, verify.ensemble_modes_reachable(cluster)
            time.sleep(1)
        restarted = [n for n, pid in pids(cluster, "zookeeper").items() if pid != servers[n]]
        assert 1 <= len(restarted) < 3, restarted
        for node in cluster.nodes:
            # The new version is installed everywhere, but each host switches in its turn.
            assert current_link(node.name) == OLD
            assert runs_version(node.name, "kafka") == OLD
            expected = new if node.name in restarted else OLD
            assert runs_version(node.name, "zookeeper") == expected

        started = time.monotonic()
        result = deploy(upgrade)  # plain run: waits for the killed run's lock to lapse
        print(f"completing run (rest of ZooKeeper, 3 brokers): {time.monotonic() - started:.1f}s")
    print(traffic.check())
    changed = changed_operations(result)
    assert not [op for op in changed if "unpack" in op or "Download" in op], changed
    for node in cluster.nodes:
        assert runs_version(node.name, "zookeeper") == runs_version(node.name, "kafka") == new
        assert current_link(node.name) == new
        # A patch step keeps the protocol: nothing pins it, in this run or the killed one.
        properties = on_node(node.name, "cat /etc/kafka/server.properties").stdout
        assert "inter.broker.protocol.version" not in properties
        # The previous version stays for a rollback.
        on_node(node.name, f"test -f /opt/kafka/kafka_2.13-{OLD}/.kafkaform-sha512")
    zk_leader(cluster)
    assert verify.registered_brokers(cluster) == [1, 2, 3]
    converged(upgrade)
