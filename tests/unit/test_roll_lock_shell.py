"""The roll lock library (roll.sh) against a real ZooKeeper from Kafka's jars, with a server of
its list down, as during every roll: the lock is read and taken on every try.

Before `-waitforconnection`, zookeeper-shell ran its command before it had a session and failed
whenever it tried the down server first (about one run in two), which a roll read as "the roll
lock is not held (holder: nobody)" (tests/integration/test_live_safety.py saw it).
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from kafkaform import programs, settings, templating
from kafkaform.roll_lock import LOCK_PATH
from tests.unit.test_host_tools_jars import distribution_tarball

TOKEN = "t0k3n"
HOLDER = f"deploy host=control by=test since=now token={TOKEN}"
TRIES = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def kafka_home(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kafka")
    with tarfile.open(distribution_tarball(settings.KAFKA_VERSION)) as tar:
        tar.extractall(root, filter="data")
    (home,) = root.iterdir()
    return home


@pytest.fixture(scope="module")
def zookeeper(kafka_home, tmp_path_factory):
    """A standalone ZooKeeper on loopback; yields its port."""
    directory = tmp_path_factory.mktemp("zookeeper")
    port = free_port()
    config = directory / "zoo.cfg"
    config.write_text(
        f"dataDir={directory}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
        "admin.enableServer=false\n"
    )
    server = subprocess.Popen(
        [settings.JAVA_BIN, "-Xmx128m", "-cp", f"{kafka_home}/libs/*",
         "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = KazooClient(hosts=f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.start(timeout=5)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
        client.create(LOCK_PATH, HOLDER.encode(), makepath=True)
        yield port
    finally:
        client.stop()
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def library(kafka_home, zookeeper, tmp_path_factory) -> Path:
    """roll.sh as a deploy renders it, listing a server that is down before the one that runs."""
    down = free_port()
    path = tmp_path_factory.mktemp("lib") / "roll.sh"
    path.write_text(
        templating.render(
            "roll/roll.sh.j2",
            lock_path=LOCK_PATH,
            ensemble=shlex.quote(f"127.0.0.1:{down},127.0.0.1:{zookeeper}"),
            java_bin=settings.JAVA_BIN,
            tool_jvm_options=programs.TOOL_JVM_OPTIONS,
            zookeeper_shell=programs.ZOOKEEPER_SHELL,
            classpath=f"{kafka_home}/libs/*",
            tools_log4j=f"{kafka_home}/config/tools-log4j.properties",
        )
    )
    return path


def in_library(library: Path, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; source {library}; {script}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_holder_is_read_on_every_try_with_a_server_down(library):
    holders = [in_library(library, "roll_lock_holder with-token").stdout for _ in range(TRIES)]
    holders = [h.strip() for h in holders]
    assert holders == [HOLDER] * TRIES


def test_a_deploy_s_token_is_found_on_every_try_with_a_server_down(library):
    for _ in range(TRIES):
        result = in_library(library, f"take_roll_lock test-script {TOKEN}")
        assert result.returncode == 0, result.stderr


def test_a_script_run_by_hand_is_refused_naming_the_holder(library):
    result = in_library(library, "take_roll_lock test-script")
    assert result.returncode == 1
    assert "held by: deploy host=control by=test since=now" in result.stderr
    assert TOKEN not in result.stderr


def test_a_rebalance_holding_the_lock_is_named_to_a_script_run_by_hand(library, zookeeper):
    client = KazooClient(hosts=f"127.0.0.1:{zookeeper}")
    client.start(timeout=15)
    try:
        client.set(LOCK_PATH, b"rebalance control=ops user=a pid=7 since=now")
        result = in_library(library, "take_roll_lock test-script")
        assert result.returncode == 1
        assert "held by: rebalance control=ops user=a pid=7 since=now." in result.stderr
    finally:
        client.set(LOCK_PATH, HOLDER.encode())
        client.stop()
        client.close()
