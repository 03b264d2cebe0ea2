"""A running plaintext cluster turned into a sasl_ssl one and back, on a 3-host lab through the
real CLI, while an acks=all idempotent producer writes and a consumer reads: one rollout step
per deploy run (kafkaform.rollout), a run killed in the middle of the first broker roll and
resumed by the next, the hold at kafka_plaintext_listener while the clients move to the
SASL_SSL listener. Every acknowledged message is read back, no producer error surfaces.

Each run's time is printed as a JSON line (figures for the closing note and bench/).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kazoo.security import OPEN_ACL_UNSAFE

from kafkaform import client_config, verify
from kafkaform.cluster import Cluster
from kafkaform.rollout import STEPS
from kafkaform.zookeeper_client import secure_acls
from tests.integration.conftest import (
    BIN,
    REPO,
    changed_operations,
    fresh_lab,
    lab_inventory_with,
    run,
)
from tests.integration.scaling import cluster_of

TOPIC = "rollout.events"
ROLL_SECONDS = 1800


def plain_servers(cluster: Cluster) -> str:
    """The PLAINTEXT listener of every broker (kafka_port), whatever the inventory's level."""
    return ",".join(f"{n.address}:{n.settings['kafka_port']}" for n in cluster.brokers)


def listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def step_run(inventory: str, label: str) -> str:
    """One deploy run; asserts it succeeded; prints its time; returns what it printed."""
    started = time.monotonic()
    proc = run(str(BIN / "pyinfra"), "-y", inventory, "deploys/kafka.py", timeout=ROLL_SECONDS)
    seconds = round(time.monotonic() - started, 1)
    print(json.dumps({"bench": "security_rollout", "run": label, "seconds": seconds}))
    return proc.stdout + proc.stderr


def walk(inventory: str, label: str, stop_after: str | None = None) -> tuple[list[str], str]:
    """Deploy runs until one renders ``stop_after`` or says it took the last step, or until a
    run takes no step: the step each run rendered, and what the last run printed."""
    said: list[str] = []
    for _ in range(len(STEPS) + 2):
        shown = step_run(inventory, label)
        renders = [s.name for i, s in enumerate(STEPS) if f"renders step {i}/" in shown]
        if not renders:
            return said, shown
        said += renders
        if stop_after in renders or "This is the last step." in shown:
            return said, shown
    raise AssertionError(f"{label}: the rollout never ended: {said}")


def killed_mid_roll(inventory: str, cluster: Cluster, port: int) -> str:
    """A run killed (SIGKILL, as a lost control machine) once the first broker, and not yet
    every broker, listens on ``port``: the roll is half done. Returns what it printed."""
    proc = subprocess.Popen(
        [str(BIN / "pyinfra"), "-y", inventory, "deploys/kafka.py"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + ROLL_SECONDS
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            up = [n.name for n in cluster.brokers if listening(n.address, port)]
            if 0 < len(up) < len(cluster.brokers):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.5)
    finally:
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it was killed:\n{output}"
    print(f"killed mid-roll with {up} on port {port}")
    return output


def znode_acls(cluster: Cluster, path: str) -> list:
    client = verify.cluster_zk(cluster)
    try:
        chroot = cluster.nodes[0].settings["zookeeper_chroot"]
        return list(client.get_acls(f"{chroot}{path}")[0])
    finally:
        client.stop()
        client.close()


@pytest.fixture(scope="module")
def plaintext_lab(lab_box, tmp_path_factory) -> tuple[Path, str, Cluster]:
    root = tmp_path_factory.mktemp("rollout")
    fresh_lab(3, box=lab_box.catalog)
    inventory = lab_inventory_with(root, pki_dir=str(root / "pki"))
    step_run(inventory, "plaintext deploy")
    cluster = cluster_of(inventory)
    verify.create_topic(plain_servers(cluster), TOPIC, partitions=3, replication=3, min_isr=2)
    return root, inventory, cluster


def test_plaintext_to_sasl_ssl_and_back_under_load(plaintext_lab):
    root, plain_inventory, cluster = plaintext_lab
    pki = str(root / "pki")
    for name in ("held", "secured"):
        (root / name).mkdir()
    held = lab_inventory_with(root / "held", security="sasl_ssl", pki_dir=pki,
                              kafka_plaintext_listener=True)  # fmt: skip
    secured = lab_inventory_with(root / "secured", security="sasl_ssl", pki_dir=pki)
    tls_port = cluster.brokers[0].settings["kafka_tls_port"]
    zk_plain = cluster.ensemble[0].settings["zookeeper_client_port"]

    # Forward to the hold, PLAINTEXT clients writing and reading throughout.
    with verify.LiveTraffic(plain_servers(cluster), TOPIC) as plain:
        first, _ = walk(held, "forward", stop_after="zookeeper_quorum_secured")
        assert first == ["zookeeper_secure_port", "zookeeper_quorum_secured"]
        shown = killed_mid_roll(held, cluster, tls_port)
        assert "renders step 3/5 (kafka_secure_listeners)" in shown
        resumed, _ = walk(held, "forward after the kill")
        # The next run finished the killed step before it took the next one.
        assert resumed == ["kafka_secure_listeners", "kafka_inter_broker_secured"], resumed
        # At the hold a run changes nothing, and says why.
        hold = run(str(BIN / "pyinfra"), "-y", "--json", held, "deploys/kafka.py")
        assert "holding at step 4/5" in hold.stderr
        assert changed_operations(json.loads(hold.stdout)) == []
    counts = plain.check()
    print(json.dumps({"bench": "security_rollout", "phase": "plaintext clients", **counts}))
    # The znodes made before the brokers protected theirs got the same ACL (the migrator).
    assert znode_acls(cluster_of(secured), f"/brokers/topics/{TOPIC}") == secure_acls()

    # The clients move to SASL_SSL; PLAINTEXT goes; then back to the hold.
    secure_cluster = cluster_of(secured)
    login = client_config.client_config(secure_cluster)
    servers = login.pop("bootstrap.servers")
    with verify.LiveTraffic(servers, TOPIC, login=login) as tls:
        assert walk(secured, "remove plaintext")[0] == ["sasl_ssl"]
        assert not any(listening(n.address, n.settings["kafka_port"]) for n in cluster.brokers)
        # ZooKeeper's plain port left the network too (the member lines say loopback).
        assert not any(listening(n.address, zk_plain) for n in cluster.ensemble)
        assert walk(held, "back to the hold")[0] == ["kafka_inter_broker_secured"]
        assert all(listening(n.address, zk_plain) for n in cluster.ensemble)
    counts = tls.check()
    print(json.dumps({"bench": "security_rollout", "phase": "sasl_ssl clients", **counts}))

    # Back to plaintext, PLAINTEXT clients again.
    with verify.LiveTraffic(plain_servers(cluster), TOPIC) as plain:
        back, _ = walk(plain_inventory, "back")
    assert back == [s.name for s in reversed(STEPS[:4])], back
    counts = plain.check()
    print(json.dumps({"bench": "security_rollout", "phase": "back to plaintext", **counts}))
    assert not any(listening(n.address, tls_port) for n in cluster.brokers)
    again = run(str(BIN / "pyinfra"), "-y", "--json", plain_inventory, "deploys/kafka.py")
    assert "Security rollout" not in again.stderr  # no rollout any more: nothing to change
    assert changed_operations(json.loads(again.stdout)) == []
    assert znode_acls(cluster, f"/brokers/topics/{TOPIC}") == list(OPEN_ACL_UNSAFE)
