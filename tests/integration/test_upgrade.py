"""A rolling version upgrade (3.8.1 -> 3.9.2) on the lab through the real CLI, under traffic.

One plain deploy with the new kafka_version does Kafka's two phases: every ZooKeeper server
and broker restarts on the new binaries with inter.broker.protocol.version held at 3.8, then
every broker restarts again without the pin. The test kills a run twice: in the middle of
phase 1, and the moment its phase 2 starts; each time the next plain run takes the upgrade on
from where the hosts are. The run after that changes nothing; the old version stays installed;
going back to 3.8.1 is refused before anything changes.

A producer (acks=all, idempotent) writes and a consumer reads throughout: every acknowledged
message is read back, no error reaches the producer, and at most one broker is ever missing
from ZooKeeper's registry.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from kafkaform import artifacts, settings, verify
from kafkaform.upgrade import PROTOCOL_KEY
from tests.integration.conftest import (
    BIN,
    REPO,
    changed_operations,
    deploy,
    failing_deploy,
    fresh_lab,
    lab_inventory_with,
    on_node,
)
from tests.integration.test_live_safety import current_link, main_pid, runs_version

OLD, NEW = "3.8.1", settings.KAFKA_VERSION
TOPIC = "upgrade"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SERVER_PROPERTIES = "/etc/kafka/server.properties"


@pytest.fixture
def old_cluster(lab_box, tmp_path_factory):
    """A new 3-node lab deployed with Kafka 3.8.1, a topic with RF 3 / min ISR 2 on it."""
    for version in (OLD, NEW):
        artifacts.build_distribution(version, settings.SCALA_VERSION)
    cluster = fresh_lab(3, box=lab_box.catalog)  # the box holds 3.9.2; 3.8.1 is installed
    first = lab_inventory_with(tmp_path_factory.mktemp("old"), kafka_version=OLD)
    assert deploy(first)["results"]["totals"]["error"] == 0
    verify.create_topic(verify.bootstrap(cluster), TOPIC, partitions=6, replication=3, min_isr=2)
    return cluster


# Polls in a process of its own: a thread here would share pyinfra's gevent hub with kazoo.
WATCHER = """
import os, sys, time
from kazoo.client import KazooClient
hosts, path, brokers, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
client = KazooClient(hosts=hosts, timeout=10.0)
client.start(timeout=10.0)
most = 0
while True:
    try:
        most = max(most, brokers - len(client.get_children(path)))
    except Exception:  # a ZooKeeper server restarting: the client reconnects
        pass
    # Replaced whole: a terminate() between truncating and writing would leave it empty.
    with open(out + ".new", "w") as f:
        f.write(str(most))
    os.replace(out + ".new", out)
    time.sleep(0.2)
"""


class BrokersDown:
    """The most brokers missing from ZooKeeper's registry at any sample (every 0.2 s)."""

    def __init__(self, cluster, out) -> None:
        path = f"{cluster.ensemble[0].settings['zookeeper_chroot']}/brokers/ids"
        self.argv = [sys.executable, "-c", WATCHER, cluster.zookeeper_connect(), path]
        self.argv += [str(len(cluster.brokers)), str(out)]
        self.out, self.most = out, None

    def __enter__(self) -> BrokersDown:
        self.proc = subprocess.Popen(self.argv)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.most = int(self.out.read_text())


def pin(node: str) -> str | None:
    text = on_node(node, f"cat {SERVER_PROPERTIES}").stdout
    values = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(PROTOCOL_KEY)]
    return values[-1] if values else None


def started_phase_2(log) -> bool:
    """pyinfra logged the start of the phase-2 step (its plan, printed first, names it too)."""
    text = ANSI.sub("", log.read_text())
    return any(
        "Starting serial operation:" in line and "Upgrade phase 2" in line
        for line in text.splitlines()
    )


def pins(cluster) -> dict[str, str | None]:
    return {n.name: pin(n.name) for n in cluster.brokers}


def killed_deploy(inventory: str, log, until) -> None:
    """Start a plain deploy and kill it (SIGKILL, the whole process group) once ``until()``."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "pyinfra"), "-y", inventory, "deploys/kafka.py"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 900
        while not until():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def upgraded(cluster, upgrade: str) -> None:
    """Every host on the new version, speaking its protocol; the old one kept installed; the
    brokers registered; the next plain run changes nothing."""
    assert pins(cluster) == {"kafka-1": None, "kafka-2": None, "kafka-3": None}
    for node in cluster.nodes:
        assert runs_version(node.name, "zookeeper") == runs_version(node.name, "kafka") == NEW
        assert current_link(node.name) == NEW
        on_node(node.name, f"test -f /opt/kafka/kafka_2.13-{OLD}/.kafkaform-sha512")
    assert verify.registered_brokers(cluster) == [1, 2, 3]
    assert changed_operations(deploy(upgrade)) == []


def killed_after_first_broker(cluster, inventory: str, log) -> None:
    """A plain deploy killed once the first broker restarted (phase 1 half done)."""
    before = {n.name: main_pid(n.name, "kafka") for n in cluster.brokers}
    killed_deploy(
        inventory, log, lambda: any(main_pid(n, "kafka") != pid for n, pid in before.items())
    )


def test_one_plain_run_upgrades_under_traffic_and_going_back_is_refused(old_cluster, tmp_path):
    upgrade = lab_inventory_with(tmp_path, kafka_version=NEW)
    with (
        BrokersDown(old_cluster, tmp_path / "down") as down,
        verify.LiveTraffic(verify.bootstrap(old_cluster), TOPIC) as t,
    ):
        started = time.monotonic()
        result = deploy(upgrade)
        took = time.monotonic() - started
    counts = t.check()
    print(f"upgrade {OLD} -> {NEW} in one run: {took:.1f}s, {counts}")
    assert result["results"]["totals"]["error"] == 0
    assert down.most <= 1, f"{down.most} brokers were down at once"
    phase_2 = [op for op in changed_operations(result) if "Upgrade phase 2" in op]
    assert phase_2, changed_operations(result)
    upgraded(old_cluster, upgrade)

    (tmp_path / "back").mkdir()
    back = lab_inventory_with(tmp_path / "back", kafka_version=OLD)
    output = failing_deploy(back)
    assert "refusing this deploy, nothing was changed" in output
    assert "kafka-1: kafka_version: 3.8.1 speaks inter-broker protocol 3.8" in output
    for node in old_cluster.nodes:
        assert runs_version(node.name, "kafka") == NEW


def test_an_upgrade_killed_in_phase_1_and_between_the_phases_is_finished_by_plain_runs(
    old_cluster, tmp_path
):
    cluster = old_cluster
    upgrade = lab_inventory_with(tmp_path, kafka_version=NEW)
    phase_2_log = tmp_path / "killed-between-phases.log"
    started = time.monotonic()
    with (
        BrokersDown(cluster, tmp_path / "down") as down,
        verify.LiveTraffic(verify.bootstrap(cluster), TOPIC) as t,
    ):
        # 1. Killed once the first broker restarted: phase 1 half done.
        killed_after_first_broker(cluster, upgrade, tmp_path / "killed-in-phase-1.log")
        # 2. The plain run resumes phase 1 (the killed run's lock lapses first) and is
        # killed the moment its phase 2 starts: every host on the new binaries, still pinned.
        killed_deploy(upgrade, phase_2_log, lambda: started_phase_2(phase_2_log))
        phase_1 = time.monotonic() - started
        for node in cluster.nodes:
            assert runs_version(node.name, "zookeeper") == runs_version(node.name, "kafka") == NEW
        assert "upgrade phase 1" in phase_2_log.read_text()
        assert sum(p == "3.8" for p in pins(cluster).values()) >= 2, pins(cluster)
        # 3. A plain run finishes phase 2.
        assert deploy(upgrade)["results"]["totals"]["error"] == 0
        took = time.monotonic() - started
    counts = t.check()
    print(
        f"upgrade {OLD} -> {NEW}, killed twice: phase 1 {phase_1:.1f}s, total {took:.1f}s, {counts}"
    )
    assert down.most <= 1, f"{down.most} brokers were down at once"
    upgraded(cluster, upgrade)
