"""A rolling version upgrade (3.8.1 -> 3.9.2) on the lab through the real CLI, under traffic:

- phase 1: a plain deploy with the new kafka_version restarts every ZooKeeper server and
  broker on the new binaries with inter.broker.protocol.version held at 3.8; a run killed in
  the middle of it is resumed by the next plain run;
- phase 2: the next plain deploy restarts the brokers without the pin; the one after changes
  nothing; the old version stays installed until then;
- going back to 3.8.1 afterwards is refused before anything changes.

A producer (acks=all, idempotent) writes and a consumer reads throughout: every acknowledged
message is read back, no error reaches the producer, and at most one broker is ever missing
from ZooKeeper's registry.
"""

from __future__ import annotations

import os
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
SERVER_PROPERTIES = "/etc/kafka/server.properties"


@pytest.fixture(scope="module")
def cluster(lab_allowed, tmp_path_factory):
    for version in (OLD, NEW):
        artifacts.build_distribution(version, settings.SCALA_VERSION)
    cluster = fresh_lab(3)
    first = lab_inventory_with(tmp_path_factory.mktemp("old"), kafka_version=OLD)
    assert deploy(first)["results"]["totals"]["error"] == 0
    verify.create_topic(verify.bootstrap(cluster), TOPIC, partitions=6, replication=3, min_isr=2)
    return cluster


# Polls in a process of its own: a thread here would share pyinfra's gevent hub with kazoo.
WATCHER = """
import sys, time
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
    with open(out, "w") as f:
        f.write(str(most))
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


def killed_after_first_broker(cluster, inventory: str, log) -> None:
    """Start a deploy and kill it once the first broker restarted (phase 1 half done)."""
    before = {n.name: main_pid(n.name, "kafka") for n in cluster.brokers}
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
        while all(main_pid(n, "kafka") == pid for n, pid in before.items()):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no broker was restarted"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_upgrade_under_traffic_killed_in_phase_1_and_resumed(cluster, tmp_path):
    upgrade = lab_inventory_with(tmp_path, kafka_version=NEW)
    started = time.monotonic()
    with (
        BrokersDown(cluster, tmp_path / "down") as down,
        verify.LiveTraffic(verify.bootstrap(cluster), TOPIC) as t,
    ):
        killed_after_first_broker(cluster, upgrade, tmp_path / "killed.log")
        # The killed run's lock lapses; the plain run resumes phase 1 with the same pin.
        assert deploy(upgrade)["results"]["totals"]["error"] == 0
        for node in cluster.nodes:
            assert runs_version(node.name, "zookeeper") == runs_version(node.name, "kafka") == NEW
            assert pin(node.name) == "3.8"
            on_node(node.name, f"test -f /opt/kafka/kafka_2.13-{OLD}/.kafkaform-sha512")
        phase_1 = time.monotonic() - started
        assert deploy(upgrade)["results"]["totals"]["error"] == 0  # phase 2
        took = time.monotonic() - started
    counts = t.check()
    print(f"upgrade {OLD} -> {NEW}: phase 1 {phase_1:.1f}s, total {took:.1f}s, {counts}")
    assert down.most <= 1, f"{down.most} brokers were down at once"
    for node in cluster.nodes:
        assert pin(node.name) is None
        assert current_link(node.name) == NEW
    assert verify.registered_brokers(cluster) == [1, 2, 3]
    assert changed_operations(deploy(upgrade)) == []


def test_going_back_below_the_protocol_spoken_is_refused(cluster, tmp_path):
    back = lab_inventory_with(tmp_path, kafka_version=OLD)
    output = failing_deploy(back)
    assert "refusing this deploy, nothing was changed" in output
    assert "kafka-1: kafka_version: 3.8.1 speaks inter-broker protocol 3.8" in output
    for node in cluster.nodes:
        assert runs_version(node.name, "kafka") == NEW
